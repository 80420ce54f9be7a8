// Exactly one account mail per user, across notification replicas, restarts and refusals: usermgmt and the
// notification replicas on real sockets behind a round-robin balancer, a real SMTP server, a real MariaDB.
import { afterAll, beforeAll, beforeEach, expect, setDefaultTimeout, test } from 'bun:test'
import { type MailSink, startMailSink } from '../console'
import { createSmtpMailer, localSinkMail, type RunningNotification, startNotification } from '../notification'
import { type Logger, mailDeliveryDeadlineMs } from '../platform'
import {
  type AppProcess,
  captureLog,
  createTestDatabase,
  runApp,
  spawnApp,
  startBalancer,
  type TestDatabase,
  waitUntil,
} from '../testing'
import { createMysqlDatabase, type OutboxOptions, type RunningRole, startUsermgmt } from '.'

// Each scenario holds mails at the SMTP server for seconds on purpose, and starts the binary.
setDefaultTimeout(180_000)

/** How long the SMTP server takes to accept each mail: longer than usermgmt's old 5 s deadline, as in the issue. */
const smtpDelayMs = 7000
const fromAddress = 'stacksimplify@gmail.com'

let testDb: TestDatabase

beforeAll(async () => {
  testDb = await createTestDatabase()
})
afterAll(() => testDb.drop())
beforeEach(async () => {
  // The first usermgmt of the file creates the tables; later scenarios start from empty ones.
  const tables = await testDb.query<{ n: number }>(
    "select count(*) as n from information_schema.tables where table_schema = database() and table_name = 'notification_outbox'",
  )
  if (Number(tables[0]?.n) > 0) {
    await testDb.query('delete from notification_outbox')
    await testDb.query('delete from users')
  }
})

function startReplica(sink: MailSink, log: Logger): RunningNotification {
  return startNotification({
    mailer: createSmtpMailer(localSinkMail(sink.port, fromAddress)),
    appVersion: 'V1',
    port: 0,
    log,
  })
}

function startReplicaBinary(sink: MailSink): AppProcess {
  return spawnApp(['serve', '--role=notification', '--port', '0'], {
    AWS_MAIL_SERVER_HOST: '127.0.0.1',
    AWS_MAIL_SERVER_PORT: String(sink.port),
    AWS_MAIL_SERVER_TLS: 'none',
    AWS_MAIL_SERVER_FROM_ADDRESS: fromAddress,
    AWS_XRAY_SDK_ENABLED: 'false',
  })
}

async function portOf(child: AppProcess): Promise<number> {
  return Number((await child.waitForLog((line) => line['message'] === 'notification listening'))['port'])
}

function startUsermgmtBehind(balancerPort: number, log: Logger, outbox: OutboxOptions = {}): RunningRole {
  return startUsermgmt({
    database: createMysqlDatabase(testDb.config),
    notificationBaseUrl: `http://127.0.0.1:${balancerPort}`,
    port: 0,
    log,
    outbox: { retryBaseMs: 50, retryMaxMs: 500, pollMs: 100, ...outbox },
  })
}

const email = (n: number) => `user${n}@example.com`

async function createUser(role: RunningRole, n: number): Promise<number> {
  const response = await waitUntil(async () => {
    const r = await fetch(`${role.url}/usermgmt/user`, {
      method: 'POST',
      body: JSON.stringify({
        username: `user${n}`,
        email: email(n),
        role: 'ROLE_USER',
        enabled: true,
        firstname: `First${n}`,
        lastname: 'Last',
        password: 'Passw0rd!',
      }),
    })
    if (r.status === 503) throw new Error('schema not migrated yet')
    return r
  })
  return response.status
}

interface OutboxRow {
  id: number
  status: string
  attempts: number
  last_error: string | null
}

const outboxRows = () =>
  testDb.query<OutboxRow>('select id, status, attempts, last_error from notification_outbox order by id')

/** Waits, within a generous multiple of usermgmt's deadline for one send, until every entry has this status. */
async function waitForStatus(status: string, count: number): Promise<OutboxRow[]> {
  return waitUntil(async () => {
    const rows = await outboxRows()
    expect(rows.map((row) => row.status)).toEqual(Array(count).fill(status))
    return rows
  }, 4 * mailDeliveryDeadlineMs)
}

/** The status of every POST /notification/send a role answered, from its request log lines. */
const sendStatuses = (lines: readonly Record<string, unknown>[]) =>
  lines.filter((l) => l['message'] === 'request' && l['path'] === '/notification/send').map((l) => l['status'])

test('GIVEN two notification replicas and an SMTP server slow to accept WHEN three users are created THEN each gets exactly one mail', async () => {
  await using sink = await startMailSink({ port: 0, beforeAccept: () => Bun.sleep(smtpDelayMs) })
  const logs = [captureLog(), captureLog()] as const
  const replicas = [startReplica(sink, logs[0].log), startReplica(sink, logs[1].log)]
  await using balancer = await startBalancer(replicas.map((replica) => replica.server.port))
  const usermgmtLog = captureLog()
  await using role = startUsermgmtBehind(balancer.port, usermgmtLog.log)

  expect(await Promise.all([1, 2, 3].map((n) => createUser(role, n)))).toEqual([200, 200, 200])
  const rows = await waitForStatus('delivered', 3)
  // Stopping drains every send still in flight, so a second mail, if any attempt made one, has arrived by now.
  await Promise.all(replicas.map((replica) => replica.stop()))

  expect(
    sink
      .messages()
      .map((mail) => mail.to)
      .sort(),
  ).toEqual([1, 2, 3].map(email))
  expect(rows.map((row) => [row.attempts, row.last_error])).toEqual([
    [1, null],
    [1, null],
    [1, null],
  ])
  expect([...sendStatuses(logs[0].lines), ...sendStatuses(logs[1].lines)]).toEqual([200, 200, 200])
  expect(usermgmtLog.lines.filter((l) => l['level'] === 'error' || l['level'] === 'warn')).toEqual([])
})

test('GIVEN a notification replica that gets SIGTERM while the SMTP server holds a mail WHEN a new one replaces it THEN the mail goes out once', async () => {
  let arrived: () => void = () => undefined
  const held = new Promise<void>((resolve) => {
    arrived = resolve
  })
  await using sink = await startMailSink({
    port: 0,
    beforeAccept: async () => {
      arrived()
      await Bun.sleep(smtpDelayMs)
    },
  })
  await using first = startReplicaBinary(sink)
  await using balancer = await startBalancer([await portOf(first)])
  const usermgmtLog = captureLog()
  await using role = startUsermgmtBehind(balancer.port, usermgmtLog.log)

  expect(await createUser(role, 1)).toBe(200)
  await held
  // A rollout: the old replica is told to stop while its mail is at the SMTP server, a new one takes the traffic.
  first.kill('SIGTERM')
  await using second = startReplicaBinary(sink)
  balancer.setTargets([await portOf(second)])

  expect(await first.exited).toBe(0)
  const [row] = await waitForStatus('delivered', 1)
  second.kill('SIGTERM')
  expect(await second.exited).toBe(0)

  expect(sink.messages().map((mail) => mail.to)).toEqual([email(1)])
  expect(row).toMatchObject({ attempts: 1, last_error: null })
  expect(sendStatuses(first.lines)).toEqual([200])
  expect(first.lines.map((l) => l['message'])).toContain('notification stopped')
  expect(sendStatuses(second.lines)).toEqual([])
})

test('GIVEN an SMTP server that refuses a recipient for good WHEN the outbox gives up THEN app outbox lists it failed, and retry delivers it once the server accepts', async () => {
  let refusing = true
  await using sink = await startMailSink({
    port: 0,
    onRecipient: () => (refusing ? [550, '5.1.1 mailbox unavailable'] : undefined),
  })
  const replicaLog = captureLog()
  await using replica = startReplica(sink, replicaLog.log)
  await using balancer = await startBalancer([replica.server.port])
  const usermgmtLog = captureLog()
  const maxRefusals = 3
  await using role = startUsermgmtBehind(balancer.port, usermgmtLog.log, { maxRefusals })

  expect(await createUser(role, 1)).toBe(200)
  const [failed] = await waitForStatus('failed', 1)
  expect(failed).toMatchObject({
    attempts: maxRefusals,
    last_error: 'Notification service answered 502 for /notification/send (mail refused permanently: 550)',
  })
  // The entry is marked failed first, then counted and logged.
  await waitUntil(() =>
    expect(usermgmtLog.lines.find((l) => l['level'] === 'error')).toMatchObject({
      message: 'outbox entry refused for good; not retrying (see app outbox list --status failed)',
      outboxId: failed?.id,
      failedEntries: 1,
    }),
  )
  expect(sendStatuses(replicaLog.lines)).toEqual([502, 502, 502])

  const dbEnv = testDb.env
  const listed = runApp(['outbox', 'list', '--status', 'failed'], dbEnv)
  expect(listed.code).toBe(0)
  expect(listed.stdout).toMatch(
    new RegExp(
      `^${failed?.id}\\s+failed\\s+3\\s+\\S+\\s+user1@example\\.com\\s+.*mail refused permanently: 550\\)$`,
      'm',
    ),
  )
  expect(listed.stdout).toEndWith('0 pending, 0 delivered, 1 failed\n')

  refusing = false
  expect(runApp(['outbox', 'retry', String(failed?.id)], dbEnv).stdout).toBe(`re-queued 1 entry: ${failed?.id}\n`)
  const [delivered] = await waitForStatus('delivered', 1)
  await replica.stop()
  expect(delivered).toMatchObject({ attempts: 1, last_error: null })
  expect(sink.messages().map((mail) => mail.to)).toEqual([email(1)])
  expect(sendStatuses(replicaLog.lines)).toEqual([502, 502, 502, 200])
})
