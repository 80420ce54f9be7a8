import { afterAll, beforeAll, expect, test } from 'bun:test'
import { type MailSink, startMailSink } from '../console'
import { createSmtpMailer, localSinkMail, type RunningNotification, startNotification } from '../notification'
import { captureLog, createTestDatabase, type TestDatabase, waitUntil } from '../testing'
import { createMysqlDatabase, type RunningRole, startUsermgmt } from '.'

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

function startNotificationOn(port: number): RunningNotification {
  return startNotification({
    mailer: createSmtpMailer(localSinkMail(sink.port)),
    appVersion: 'V1',
    port,
    log: captureLog().log,
  })
}

function startReplica(notificationPort: number): RunningRole {
  return startUsermgmt({
    database: createMysqlDatabase(testDb.config),
    notificationBaseUrl: `http://127.0.0.1:${notificationPort}`,
    port: 0,
    log: captureLog().log,
    outbox: { retryBaseMs: 20, retryMaxMs: 200, pollMs: 100 },
  })
}

const user = (n: number) => ({
  username: `user${n}`,
  email: `user${n}@example.com`,
  role: 'ROLE_USER',
  enabled: true,
  firstname: `First${n}`,
  lastname: 'Last',
  password: 'Passw0rd!',
})

async function createUser(role: RunningRole, n: number): Promise<number> {
  const response = await waitUntil(async () => {
    const r = await fetch(`${role.url}/usermgmt/user`, { method: 'POST', body: JSON.stringify(user(n)) })
    if (r.status === 503) throw new Error('schema not migrated yet')
    return r
  })
  return response.status
}

/** How many entries have each status, read from the database as an operator would. */
async function outboxStats() {
  const rows = await testDb.query<{ status: string; n: number }>(
    'select status, count(*) as n from notification_outbox group by status',
  )
  const count = (status: string) => Number(rows.find((row) => row.status === status)?.n ?? 0)
  return { pending: count('pending'), delivered: count('delivered'), failed: count('failed') }
}

test('GIVEN the notification service is down WHEN users are created THEN each gets 200 and, once it is back, exactly one mail', async () => {
  sink.clear()
  await using first = startNotificationOn(0)
  const notificationPort = first.server.port
  await using replicaA = startReplica(notificationPort)
  await using replicaB = startReplica(notificationPort)
  await first.stop()

  const statuses: number[] = []
  for (let n = 1; n <= 8; n++) statuses.push(await createUser(n % 2 === 0 ? replicaA : replicaB, n))
  expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 200, 200])
  expect(sink.messages()).toHaveLength(0)
  expect(await outboxStats()).toEqual({ pending: 8, delivered: 0, failed: 0 })

  await using _back = startNotificationOn(notificationPort)
  await sink.waitFor(8)
  await waitUntil(async () => expect(await outboxStats()).toEqual({ pending: 0, delivered: 8, failed: 0 }))
  // Both replicas kept polling the same outbox: each mail went out once, not once per replica.
  const received = sink
    .messages()
    .map((mail) => mail.to)
    .sort()
  expect(received).toEqual([1, 2, 3, 4, 5, 6, 7, 8].map((n) => `user${n}@example.com`).sort())
  for (const mail of sink.messages()) {
    const n = mail.to.replace(/\D/g, '')
    expect(mail.subject).toBe('Stack Simplify account creation.')
    expect(mail.text.trim()).toBe(`Hello First${n}, your stack simplify account is created successfully!`)
  }
})

test('delivers at once when the notification service is up', async () => {
  sink.clear()
  await using notification = startNotificationOn(0)
  await using role = startReplica(notification.server.port)
  expect(await createUser(role, 100)).toBe(200)
  const [mail] = await sink.waitFor(1)
  expect(mail?.to).toBe('user100@example.com')
})
