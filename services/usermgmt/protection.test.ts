// The account mail through a notification role that requires the service token: real roles on real sockets,
// real MariaDB, a real SMTP server.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { type MailSink, startMailSink } from '../console'
import { createSmtpMailer, startNotification } from '../notification'
import { Secret } from '../platform'
import { captureLog, createTestDatabase, type TestDatabase, waitUntil } from '../testing'
import { createMysqlDatabase, startUsermgmt } from '.'

const token = 'Zm9yLXVzZXJtZ210LW9ubHktbm90LWxvZ2dlZA=='

let testDb: TestDatabase
let sink: MailSink

beforeAll(async () => {
  testDb = await createTestDatabase()
  sink = await startMailSink({ port: 0 })
})
afterAll(async () => {
  await sink.stop()
  await testDb.drop()
})

function startNotificationRole(serviceToken?: Secret) {
  const captured = captureLog()
  const role = startNotification({
    mailer: createSmtpMailer({
      host: '127.0.0.1',
      port: sink.port,
      tls: 'none',
      username: '',
      password: new Secret(''),
      from: 'stacksimplify@gmail.com',
      tlsServername: undefined,
    }),
    appVersion: 'V1',
    port: 0,
    log: captured.log,
    serviceToken,
  })
  return Object.assign(role, { captured })
}

async function startUsermgmtRole(
  options: { notificationUrl?: string; notificationToken?: Secret; database?: TestDatabase } = {},
) {
  const captured = captureLog()
  const role = startUsermgmt({
    database: createMysqlDatabase((options.database ?? testDb).config),
    notificationBaseUrl: options.notificationUrl ?? 'http://127.0.0.1:9',
    port: 0,
    log: captured.log,
    outbox: { retryBaseMs: 50, retryMaxMs: 500, pollMs: 100 },
    notificationToken: options.notificationToken,
  })
  await waitUntil(async () => expect((await fetch(`${role.url}/usermgmt/health/readiness`)).status).toBe(200))
  return Object.assign(role, { captured })
}

const user = (username: string) => ({
  username,
  email: `${username}@example.com`,
  role: 'ROLE_USER',
  enabled: true,
  firstname: 'First',
  lastname: 'Last',
  password: 'Passw0rd!',
})

function create(base: string, body: unknown) {
  return fetch(`${base}/usermgmt/user`, { method: 'POST', body: JSON.stringify(body) })
}

describe('usermgmt to notification with NOTIFICATION_AUTH_TOKEN', () => {
  // Each test gets a database of its own, so that no other test's account mail is waiting in its outbox.
  test('the account mail arrives through a notification role that requires the token', async () => {
    await using notification = startNotificationRole(new Secret(token))
    await using database = await createTestDatabase()
    await using role = await startUsermgmtRole({
      notificationUrl: notification.url,
      notificationToken: new Secret(token),
      database,
    })
    sink.clear()
    expect((await create(role.url, { ...user('tokenuser'), firstname: 'Tina' })).status).toBe(200)
    const [mail] = await sink.waitFor(1)
    expect(mail?.to).toBe('tokenuser@example.com')
    expect(mail?.text).toContain('Tina')
    expect((await fetch(`${role.url}/usermgmt/notification-health-status`)).status).toBe(200)
    expect(`${role.captured.text()}\n${notification.captured.text()}`).not.toContain(token)
  })

  test('a usermgmt without the token is refused (401) and its mail is not sent', async () => {
    await using notification = startNotificationRole(new Secret(token))
    await using database = await createTestDatabase()
    await using role = await startUsermgmtRole({ notificationUrl: notification.url, database })
    sink.clear()
    expect((await create(role.url, user('notoken'))).status).toBe(200)
    await waitUntil(() =>
      expect(notification.captured.lines).toContainEqual(
        expect.objectContaining({ message: 'request', path: '/notification/send', status: 401 }),
      ),
    )
    expect(sink.messages()).toHaveLength(0)
  })
})
