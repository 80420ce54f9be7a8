// The account-creation rate limit, and the account mail through a notification role that requires the service
// token: real roles on real sockets, real MariaDB, a real SMTP server.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { type MailSink, startMailSink } from '../console'
import { createSmtpMailer, localSinkMail, startNotification } from '../notification'
import { type RateLimitConfig, Secret } from '../platform'
import { captureLog, createTestDatabase, type TestDatabase, userFixture, waitUntil } from '../testing'
import { createMysqlDatabase, startUsermgmt } from '.'

// Roles start and schemas migrate inside hooks and tests: 5 s (bun's default) is too short on a loaded machine.
setDefaultTimeout(60_000)

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
    mailer: createSmtpMailer(localSinkMail(sink.port)),
    appVersion: 'V1',
    port: 0,
    log: captured.log,
    serviceToken,
  })
  return Object.assign(role, { captured })
}

async function startUsermgmtRole(
  options: {
    notificationUrl?: string
    notificationToken?: Secret
    accountLimit?: RateLimitConfig
    database?: TestDatabase
  } = {},
) {
  const captured = captureLog()
  const role = startUsermgmt({
    database: createMysqlDatabase((options.database ?? testDb).config),
    notificationBaseUrl: options.notificationUrl ?? 'http://127.0.0.1:9',
    port: 0,
    log: captured.log,
    outbox: { retryBaseMs: 50, retryMaxMs: 500, pollMs: 100 },
    notificationToken: options.notificationToken,
    accountLimit: options.accountLimit,
  })
  await waitUntil(async () => expect((await fetch(`${role.url}/usermgmt/health/readiness`)).status).toBe(200))
  return Object.assign(role, { captured })
}

function create(base: string, body: unknown, forwardedFor?: string) {
  return fetch(`${base}/usermgmt/user`, {
    method: 'POST',
    headers: forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor },
    body: JSON.stringify(body),
  })
}

describe('account creation rate limit', () => {
  test('answers 429 with Retry-After as an ApiError once a client address spent its burst', async () => {
    await using role = await startUsermgmtRole({ accountLimit: { limit: 2, window: 'hour', burst: 2 } })
    expect((await create(role.url, userFixture('limit1'), '198.51.100.1')).status).toBe(200)
    // The client put an address before the ALB's: only the right-most entry counts.
    expect((await create(role.url, userFixture('limit2'), '192.0.2.99, 198.51.100.1')).status).toBe(200)
    const limited = await create(role.url, userFixture('limit3'), '198.51.100.1')
    expect(limited.status).toBe(429)
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(1000)
    expect(Number(limited.headers.get('retry-after'))).toBeLessThanOrEqual(1800)
    const body = (await limited.json()) as { apierror: { status: string; message: string; debugMessage: string } }
    expect(body.apierror).toMatchObject({ status: 'TOO_MANY_REQUESTS', message: 'Too many requests' })
    expect(body.apierror.debugMessage).toStartWith('Account creation per client address is limited to 2 per hour')
    // Another client, and a request without the header (the peer address), have their own buckets.
    expect((await create(role.url, userFixture('limit4'), '198.51.100.2')).status).toBe(200)
    expect((await create(role.url, userFixture('limit5'))).status).toBe(200)
    const rows = await testDb.query<{ username: string }>(
      "select username from users where username like 'limit%' order by username",
    )
    expect(rows.map((row) => row.username)).toEqual(['limit1', 'limit2', 'limit4', 'limit5'])
  })

  test('refused creations (bad input, taken names) do not count; only accounts created do', async () => {
    await using role = await startUsermgmtRole({ accountLimit: { limit: 1, window: 'hour', burst: 1 } })
    for (let i = 0; i < 5; i++) {
      expect(
        (await create(role.url, { ...userFixture(`bad${i}`), email: 'not-an-address' }, '198.51.100.7')).status,
      ).toBe(400)
    }
    expect((await create(role.url, userFixture('limit1'), '198.51.100.7')).status).toBe(400)
    expect((await create(role.url, userFixture('counted'), '198.51.100.7')).status).toBe(200)
    expect((await create(role.url, userFixture('counted2'), '198.51.100.7')).status).toBe(429)
  })

  test('the other routes are not limited', async () => {
    await using role = await startUsermgmtRole({ accountLimit: { limit: 1, window: 'hour', burst: 1 } })
    for (let i = 0; i < 5; i++) expect((await fetch(`${role.url}/usermgmt/users`)).status).toBe(200)
  })
})

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
    expect((await create(role.url, { ...userFixture('tokenuser'), firstname: 'Tina' })).status).toBe(200)
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
    expect((await create(role.url, userFixture('notoken'))).status).toBe(200)
    await waitUntil(() =>
      expect(notification.captured.lines).toContainEqual(
        expect.objectContaining({ message: 'request', path: '/notification/send', status: 401 }),
      ),
    )
    expect(sink.messages()).toHaveLength(0)
  })
})
