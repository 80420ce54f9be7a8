// Both binaries configured as a deployment would protect them: usermgmt with AUTH_MODE=jwt against a local
// OpenID Connect issuer, notification requiring NOTIFICATION_AUTH_TOKEN, on real MariaDB and a real SMTP server.
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from 'bun:test'
import { type MailSink, startMailSink } from '../services/console'
import {
  type AppProcess,
  createTestDatabase,
  type OidcIssuer,
  runApp,
  spawnApp,
  startOidcIssuer,
  type TestDatabase,
  testAudience,
  waitUntil,
} from '../services/testing'

// Two binaries start and a schema migrates in beforeAll: 5 s (bun's default) is too short on a loaded machine.
setDefaultTimeout(60_000)

const serviceToken = 'c2VydmljZS10b2tlbi1mb3ItdGhlLWJpbmFyeS10ZXN0'

let testDb: TestDatabase
let issuer: OidcIssuer
let sink: MailSink
let notification: AppProcess
let usermgmt: AppProcess
let notificationBase = ''
let base = ''

beforeAll(async () => {
  testDb = await createTestDatabase()
  issuer = await startOidcIssuer()
  sink = await startMailSink({ port: 0 })
  const xray = { AWS_XRAY_SDK_ENABLED: 'false' }
  notification = spawnApp(['serve', '--role=notification', '--port', '0'], {
    ...xray,
    AWS_MAIL_SERVER_HOST: '127.0.0.1',
    AWS_MAIL_SERVER_PORT: String(sink.port),
    AWS_MAIL_SERVER_TLS: 'none',
    AWS_MAIL_SERVER_FROM_ADDRESS: 'stacksimplify@gmail.com',
    NOTIFICATION_AUTH_TOKEN: serviceToken,
  })
  const notificationPort = Number(
    (await notification.waitForLog((l) => l['message'] === 'notification listening'))['port'],
  )
  notificationBase = `http://127.0.0.1:${notificationPort}/notification`
  usermgmt = spawnApp(['serve', '--role=usermgmt', '--port', '0'], {
    ...xray,
    ...testDb.env,
    NOTIFICATION_SERVICE_HOST: '127.0.0.1',
    NOTIFICATION_SERVICE_PORT: String(notificationPort),
    NOTIFICATION_AUTH_TOKEN: serviceToken,
    AUTH_MODE: 'jwt',
    AUTH_JWT_ISSUER: issuer.issuer,
    AUTH_JWT_AUDIENCE: testAudience,
  })
  const line = await usermgmt.waitForLog((l) => l['message'] === 'usermgmt listening')
  expect(line['auth']).toBe('jwt')
  base = `http://127.0.0.1:${line['port']}/usermgmt`
  await waitUntil(async () => expect((await fetch(`${base}/health/readiness`)).status).toBe(200))
})

afterAll(async () => {
  usermgmt.kill()
  notification.kill()
  await Promise.all([usermgmt.exited, notification.exited])
  await sink.stop()
  await issuer.stop()
  await testDb.drop()
})

const bob = {
  username: 'bob',
  email: 'bob@example.com',
  role: 'ROLE_USER',
  enabled: true,
  firstname: 'Bob',
  lastname: 'Builder',
  password: 'Passw0rd!',
}

test('usermgmt answers data endpoints only with a valid token; health stays open', async () => {
  expect((await fetch(`${base}/users`)).status).toBe(401)
  const forged = await issuer.sign({}, { key: await issuer.newKey() })
  expect((await fetch(`${base}/users`, { headers: { authorization: `Bearer ${forged}` } })).status).toBe(401)
  const token = await issuer.sign()
  expect((await fetch(`${base}/users`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200)
  expect((await fetch(`${base}/health-status`)).status).toBe(200)
})

test('the account mail goes through notification with the service token, which refuses callers without it', async () => {
  const token = await issuer.sign()
  const created = await fetch(`${base}/user`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}` },
    body: JSON.stringify(bob),
  })
  expect(created.status).toBe(200)
  const [mail] = await sink.waitFor(1)
  expect(mail?.to).toBe('bob@example.com')
  const direct = await fetch(`${notificationBase}/send`, {
    method: 'POST',
    body: JSON.stringify({ subject: 's', content: 'c', toEmails: ['eve@example.com'] }),
  })
  expect(direct.status).toBe(401)
  expect(sink.messages()).toHaveLength(1)
})

test('neither binary writes the service token or a bearer token to its log', () => {
  const logs = `${usermgmt.stdout()}${usermgmt.stderr()}${notification.stdout()}${notification.stderr()}`
  expect(logs).not.toContain(serviceToken)
  expect(logs).not.toMatch(/eyJ[A-Za-z0-9_-]+\.eyJ/)
})

test('serve exits 2 listing every auth problem, never the token', () => {
  const result = runApp(['serve', '--role=usermgmt'], {
    AUTH_MODE: 'jwt',
    AUTH_JWT_AUDIENCE: 'api',
    NOTIFICATION_AUTH_TOKEN: 'too-short-to-be-a-token',
  })
  expect(result.code).toBe(2)
  expect(result.stderr).toContain('NOTIFICATION_AUTH_TOKEN: must be at least 32 characters (got ***)')
  expect(result.stderr).toContain('AUTH_JWT_ISSUER: is required when AUTH_MODE=jwt (not set)')
  expect(result.stderr).not.toContain('too-short-to-be-a-token')
})
