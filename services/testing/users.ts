/** A valid `POST /usermgmt/user` body for `username`, its e-mail derived from the name. */
export const userFixture = (username: string) => ({
  username,
  email: `${username}@example.com`,
  role: 'ROLE_USER',
  enabled: true,
  firstname: 'First',
  lastname: 'Last',
  password: 'Passw0rd!',
})
