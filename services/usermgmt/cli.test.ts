// `./app migrate` from the compiled binary: it says what the database said, and what usually fixes it.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import {
  createTestDatabase,
  type MariadbServer,
  runApp,
  startMariadbServer,
  type TestCertificateAuthority,
  type TestDatabase,
  testCertificateAuthority,
  testServer,
} from '../testing'

setDefaultTimeout(180_000)

let shared: TestDatabase
beforeAll(async () => {
  shared = await createTestDatabase()
})
afterAll(async () => {
  await shared.drop()
})

const envOf = (db: { host: string; port: number; name: string; user: string }, password: string) => ({
  DB_HOSTNAME: db.host,
  DB_PORT: String(db.port),
  DB_NAME: db.name,
  DB_USERNAME: db.user,
  DB_PASSWORD: password,
})

test('migrate names a database that does not exist in the server words, and says how to fix it', () => {
  const env = { ...envOf(shared.config, testServer().password), DB_NAME: 'no_such_database' }
  expect(runApp(['migrate'], env)).toEqual({
    code: 1,
    stdout: '',
    stderr: `app: migration of no_such_database@${shared.config.host} failed: ER_BAD_DB_ERROR: Unknown database 'no_such_database'; create that database, or set DB_NAME to one that exists\n`,
  })
})

test('migrate says when nothing listens where DB_HOSTNAME and DB_PORT point', () => {
  const result = runApp(['migrate'], { ...envOf(shared.config, testServer().password), DB_PORT: '9' })
  expect(result.code).toBe(1)
  expect(result.stderr).toBe(
    `app: migration of ${shared.config.name}@${shared.config.host} failed: connect ECONNREFUSED 127.0.0.1:9; nothing accepts connections at DB_HOSTNAME:DB_PORT\n`,
  )
})

test('migrate shows refused credentials as the server words them', () => {
  const result = runApp(['migrate'], { ...envOf(shared.config, 'wrong'), DB_USERNAME: 'nobody_here' })
  expect(result.code).toBe(1)
  expect(result.stderr).toMatch(
    /^app: migration of test_\w+@127\.0\.0\.1 failed: ER_ACCESS_DENIED_ERROR: Access denied for user 'nobody_here'@'[^']+' \(using password: YES\); check DB_USERNAME and DB_PASSWORD/,
  )
})

describe('against a TLS-only server', () => {
  let authority: TestCertificateAuthority
  let server: MariadbServer
  beforeAll(async () => {
    authority = testCertificateAuthority(['localhost'])
    server = await startMariadbServer({ tls: authority.server, requireSecureTransport: true })
  })
  afterAll(async () => {
    await server.stop()
  })

  test('migrate connects with DB_SSL_MODE=VERIFY_IDENTITY and the CA, and refuses another CA with the reason', async () => {
    const db = await server.createDatabase()
    const env = { ...envOf({ ...db, host: 'localhost' }, db.password.reveal()), DB_SSL_MODE: 'VERIFY_IDENTITY' }
    expect(runApp(['migrate'], { ...env, DB_SSL_CA: authority.caFile })).toMatchObject({
      code: 0,
      stdout: `${db.name}@localhost: applied 0001_users, 0002_users_email_unique, 0003_notification_outbox\n`,
    })
    const refused = runApp(['migrate'], { ...env, DB_SSL_CA: authority.otherCaFile })
    expect(refused.code).toBe(1)
    expect(refused.stderr).toMatch(
      /^app: migration of test_\w+@localhost failed: HANDSHAKE_SSL_ERROR: .+; the server's certificate does not chain to a CA in DB_SSL_CA\n$/,
    )
    const plain = runApp(['migrate'], { ...env, DB_SSL_MODE: 'DISABLED' })
    expect(plain.stderr).toMatch(/failed: ER_ACCESS_DENIED_ERROR: .+require_secure_transport=ON also refuses/)
  })
})
