import { z } from 'zod'
import { type MailRequestBody, mailAddress } from '../platform'

// Messages are Hibernate Validator's, as the original answered them (api-contract.md, "Validation sub-errors").
const required = (kind: string) => ({
  error: (issue: { input: unknown }) =>
    issue.input === undefined || issue.input === null ? 'must not be null' : `must be a ${kind}`,
})

const sized = (min: number, max: number) =>
  z
    .string(required('string'))
    .min(min, `size must be between ${min} and ${max}`)
    .max(max, `size must be between ${min} and ${max}`)

const username = sized(3, 20)
// The limits notification applies to a recipient, so that every stored user can be sent the account mail.
const email = z.string(required('string')).min(1, 'must not be empty').pipe(mailAddress)
const firstname = sized(1, 20)
const lastname = sized(0, 20)

export const newUser = z.object({
  username,
  email,
  role: sized(1, 255),
  enabled: z.boolean(required('boolean')),
  firstname,
  lastname,
  password: z.string(required('string')).max(1024, 'size must be between 0 and 1024'),
})
export type NewUser = z.infer<typeof newUser>

/** PUT changes only e-mail, first and last name; other fields in the body are ignored, as in the original. */
export const userUpdate = z.object({ username, email, firstname, lastname })
export type UserUpdate = z.infer<typeof userUpdate>

export const usernameParam = z.string().min(1, 'must not be empty').max(255, 'size must be between 1 and 255')

/** The original's password policy. bcrypt reads at most 72 bytes, so a longer one could not be verified as typed. */
export function isValidPassword(password: string): boolean {
  return (
    password.length >= 8 &&
    new TextEncoder().encode(password).byteLength <= 72 &&
    !/\s/.test(password) &&
    /\d/.test(password) &&
    /[a-z]/.test(password) &&
    /[A-Z]/.test(password) &&
    /[!@#$%^&*]/.test(password)
  )
}

/** A user as every endpoint returns it: never a password or a hash. */
export interface UserView {
  readonly username: string
  readonly email: string
  readonly role: string
  readonly enabled: boolean
  readonly firstname: string
  readonly lastname: string
  readonly appversion: string
}

export const accountCreatedMail = (user: Pick<NewUser, 'firstname' | 'email'>) =>
  ({
    subject: 'Stack Simplify account creation.',
    content: `Hello ${user.firstname}, your stack simplify account is created successfully!`,
    toEmails: [user.email],
  }) satisfies MailRequestBody
export type NotificationRequest = MailRequestBody
