// The database going wrong under traffic: frozen (SIGSTOP) while reads and writes wait, black-holed by the
// network, and more concurrent requests than the pool and its queue hold. Each scenario checks outcomes, not
// timings: no 500, an answer for every request within a generous multiple of the deadlines, recovery without
// a restart, and no connection left behind.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { type MailSink, startMailSink } from '../console'
import { createSmtpMailer, localSinkMail, type RunningNotification, startNotification } from '../notification'
import type { DatabaseConfig } from '../platform'
import {
  captureLog,
  createTestDatabase,
  type MariadbServer,
  startMariadbServer,
  startTcpProxy,
  type TestDatabase,
  waitUntil,
} from '../testing'
import { createMysqlDatabase, type MysqlOptions, type RunningRole, startUsermgmt, type UsermgmtDatabase } from '.'

// Starting a MariaDB of our own (install, then boot) takes seconds on a busy machine.
setDefaultTimeout(180_000)

let sink: MailSink
let notification: RunningNotification

beforeAll(async () => {
  sink = await startMailSink({ port: 0 })
  notification = startNotification({
    mailer: createSmtpMailer(localSinkMail(sink.port)),
    appVersion: 'V1',
    port: 0,
    log: captureLog().log,
  })
})
afterAll(async () => {
  await notification.stop()
  await sink.stop()
})

interface Answer {
  readonly status: number
  readonly retryAfter: string | null
  readonly message: unknown
  readonly ms: number
}

interface Harness {
  readonly role: RunningRole
  readonly database: UsermgmtDatabase
  send(method: string, path: string, body?: unknown): Promise<Answer>
  [Symbol.asyncDispose](): Promise<void>
}

async function startRole(
  config: DatabaseConfig,
  options: MysqlOptions,
  { pollMs = 200, notificationBaseUrl = notification.url } = {},
): Promise<Harness> {
  const database = createMysqlDatabase(config, options)
  const role = startUsermgmt({
    database,
    notificationBaseUrl,
    port: 0,
    log: captureLog().log,
    migrationRetryMs: 100,
    // A delivery the freeze interrupts stays claimed until its claim runs out: short here, a minute by default.
    outbox: { retryBaseMs: 50, retryMaxMs: 500, pollMs, claimMs: 2000 },
    notificationSendDeadlineMs: 1500,
  })
  await waitUntil(async () => expect((await fetch(`${role.url}/usermgmt/health/readiness`)).status).toBe(200), 60_000)
  const send = async (method: string, path: string, body?: unknown): Promise<Answer> => {
    const started = performance.now()
    const response = await fetch(`${role.url}/usermgmt${path}`, {
      method,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
    const text = await response.text()
    const parsed: unknown = text.startsWith('{') ? JSON.parse(text) : undefined
    const message =
      parsed !== null && typeof parsed === 'object' && 'apierror' in parsed
        ? (parsed.apierror as { message?: unknown }).message
        : undefined
    return {
      status: response.status,
      retryAfter: response.headers.get('retry-after'),
      message,
      ms: performance.now() - started,
    }
  }
  return { role, database, send, [Symbol.asyncDispose]: () => role.stop() }
}

const newUser = (name: string) => ({
  username: name,
  email: `${name}@example.com`,
  role: 'ROLE_USER',
  enabled: true,
  firstname: 'First',
  lastname: 'Last',
  password: 'Passw0rd!',
})

/** Reads and writes together, as traffic would be when the database goes away. */
function mixedTraffic(harness: Harness, tag: string): Promise<Answer>[] {
  const requests: Promise<Answer>[] = []
  for (let i = 0; i < 20; i++) requests.push(harness.send('GET', '/users'))
  for (let i = 0; i < 10; i++) requests.push(harness.send('GET', '/user/alice'))
  for (let i = 0; i < 10; i++) requests.push(harness.send('POST', '/user', newUser(`${tag}${i}`)))
  for (let i = 0; i < 10; i++) {
    requests.push(
      harness.send('PUT', '/user', {
        username: 'alice',
        email: `alice${i}@example.com`,
        firstname: 'A',
        lastname: tag,
      }),
    )
  }
  return requests
}

function expectAllUnavailable(answers: readonly Answer[], boundMs: number) {
  const summary = answers.map((a) => `${a.status} ${a.retryAfter} ${a.message}`)
  expect(summary).toEqual(answers.map(() => '503 5 Database unavailable'))
  expect(Math.max(...answers.map((a) => a.ms))).toBeLessThan(boundMs)
}

/**
 * Nothing is leased or waiting once traffic stops, and (on a server of the test's own, where the test can count
 * them) the server sees no more connections than the pool has.
 */
async function expectNoLeak(harness: Harness, limit: number, countConnections?: () => Promise<number>) {
  await waitUntil(() => expect(harness.database.poolStats()).toEqual({ inUse: 0, waiting: 0 }), 30_000)
  if (countConnections) {
    await waitUntil(async () => expect(await countConnections()).toBeLessThanOrEqual(limit), 30_000)
  }
  // A pool that had lost or kept broken connections would never again serve a round like this one in full; a
  // merely slow machine does, on some attempt.
  await waitUntil(async () => {
    const answers = await Promise.all(Array.from({ length: limit * 3 }, () => harness.send('GET', '/users')))
    expect(answers.map((a) => a.status)).toEqual(answers.map(() => 200))
  }, 30_000)
}

describe('a MariaDB process frozen with SIGSTOP', () => {
  let server: MariadbServer
  beforeAll(async () => {
    server = await startMariadbServer()
  })
  afterAll(async () => {
    await server.stop()
  })
  const connectionsOf = (config: DatabaseConfig) => async () => {
    const rows = await server.query<{ n: number }>(
      'select count(*) as n from information_schema.processlist where user = ?',
      [config.user],
    )
    return Number(rows[0]?.n ?? 0)
  }

  test('GIVEN reads and writes waiting on a frozen database THEN each gets a 503 with Retry-After within a few deadlines, and after the thaw the role serves, its outbox delivers again and it holds no leaked connection', async () => {
    const config = await server.createDatabase()
    const limit = 4
    await using notificationPath = await startTcpProxy({ host: '127.0.0.1', port: notification.server.port })
    await using harness = await startRole(
      config,
      { connectionLimit: limit, acquireTimeoutMs: 1000, queryTimeoutMs: 1000, probeTimeoutMs: 500 },
      { notificationBaseUrl: `http://127.0.0.1:${notificationPath.port}` },
    )
    sink.clear()
    expect((await harness.send('POST', '/user', newUser('alice'))).status).toBe(200)
    await sink.waitFor(1)
    // A mail that has to wait in the outbox across the freeze: notification is out of reach until after it.
    await notificationPath.cut()
    expect((await harness.send('POST', '/user', newUser('queued'))).status).toBe(200)

    server.freeze()
    let answers: Answer[]
    try {
      answers = await Promise.all(mixedTraffic(harness, 'frozen'))
      expect((await harness.send('GET', '/health/readiness')).status).toBe(503)
    } finally {
      server.thaw()
    }
    expectAllUnavailable(answers, 20_000)

    await waitUntil(async () => expect((await harness.send('GET', '/users')).status).toBe(200), 30_000)
    // Nothing kicks the outbox now: only its own polling, which the freeze must not have stopped, sends this.
    await notificationPath.restore()
    await waitUntil(() => expect(sink.messages().map((m) => m.to)).toContain('queued@example.com'), 30_000)
    sink.clear()
    expect((await harness.send('POST', '/user', newUser('afterthaw'))).status).toBe(200)
    const [mail] = await sink.waitFor(1)
    expect(mail?.to).toBe('afterthaw@example.com')
    expect((await harness.send('GET', '/health/readiness')).status).toBe(200)
    await expectNoLeak(harness, limit, connectionsOf(config))
  })

  test('GIVEN requests waiting on a frozen database WHEN it thaws before their deadline THEN every one is answered, none with a 500', async () => {
    const config = await server.createDatabase()
    const limit = 4
    await using harness = await startRole(config, {
      connectionLimit: limit,
      acquireTimeoutMs: 30_000,
      queryTimeoutMs: 30_000,
    })
    expect((await harness.send('POST', '/user', newUser('alice'))).status).toBe(200)

    server.freeze()
    let pending: Promise<Answer>[] = []
    try {
      pending = mixedTraffic(harness, 'thawed')
      await waitUntil(() => expect(harness.database.poolStats()).toEqual({ inUse: limit, waiting: expect.any(Number) }))
      await waitUntil(() => expect(harness.database.poolStats().waiting).toBeGreaterThan(0))
    } finally {
      server.thaw()
    }
    const answers = await Promise.all(pending)
    expect(answers.filter((a) => a.status !== 200 && a.status !== 503)).toEqual([])
    expect(Math.max(...answers.map((a) => a.ms))).toBeLessThan(120_000)
    await expectNoLeak(harness, limit, connectionsOf(config))
  })
})

describe('the network to the database black-holed', () => {
  let testDb: TestDatabase
  beforeEach(async () => {
    testDb = await createTestDatabase()
  })
  afterEach(async () => {
    await testDb.drop()
  })

  test('GIVEN open connections that stop passing data THEN reads and writes get 503s within a few deadlines, and the role recovers once the path is back', async () => {
    await using proxy = await startTcpProxy({ host: testDb.config.host, port: testDb.config.port })
    const limit = 4
    await using harness = await startRole(
      { ...testDb.config, host: '127.0.0.1', port: proxy.port },
      { connectionLimit: limit, acquireTimeoutMs: 1000, queryTimeoutMs: 1000, probeTimeoutMs: 500 },
    )
    expect((await harness.send('POST', '/user', newUser('alice'))).status).toBe(200)
    // Every pooled connection open, so the black hole swallows connections in use, not only new ones.
    await Promise.all(Array.from({ length: limit * 2 }, () => harness.send('GET', '/users')))

    proxy.blackhole()
    const answers = await Promise.all(mixedTraffic(harness, 'blackholed'))
    expectAllUnavailable(answers, 20_000)
    expect((await harness.send('GET', '/health/readiness')).status).toBe(503)

    await proxy.restore()
    await waitUntil(async () => expect((await harness.send('GET', '/users')).status).toBe(200), 30_000)
    await expectNoLeak(harness, limit)
  })

  test('GIVEN pooled connections left hanging by a failover while new ones work THEN every request is answered without a 500, and each hanging connection is dropped instead of reused', async () => {
    await using proxy = await startTcpProxy({ host: testDb.config.host, port: testDb.config.port })
    const limit = 4
    await using harness = await startRole(
      { ...testDb.config, host: '127.0.0.1', port: proxy.port },
      { connectionLimit: limit, acquireTimeoutMs: 1000, queryTimeoutMs: 1000 },
    )
    expect((await harness.send('POST', '/user', newUser('alice'))).status).toBe(200)
    await Promise.all(Array.from({ length: limit * 2 }, () => harness.send('GET', '/users')))

    proxy.silenceOpenConnections()
    const answers = await Promise.all(mixedTraffic(harness, 'failover'))
    expect(answers.filter((a) => a.status !== 200 && a.status !== 503)).toEqual([])
    expect(Math.max(...answers.map((a) => a.ms))).toBeLessThan(20_000)
    // Reused, a hanging connection would fail again here; dropped, every request now gets a fresh one.
    await expectNoLeak(harness, limit)
  })
})

describe('more concurrent requests than the pool and its queue hold', () => {
  let testDb: TestDatabase
  beforeEach(async () => {
    testDb = await createTestDatabase()
  })
  afterEach(async () => {
    await testDb.drop()
  })

  test('GIVEN a burst of 300 reads on a pool of 10 with a healthy database THEN none gets a 500 and the pool is whole afterwards', async () => {
    await using harness = await startRole(testDb.config, { connectionLimit: 10 })
    expect((await harness.send('POST', '/user', newUser('alice'))).status).toBe(200)
    const answers = await Promise.all(Array.from({ length: 300 }, () => harness.send('GET', '/users')))
    const statuses = new Set(answers.map((a) => a.status))
    expect([...statuses].filter((s) => s !== 200 && s !== 503)).toEqual([])
    for (const a of answers.filter((x) => x.status === 503)) expect(a.retryAfter).not.toBeNull()
    await expectNoLeak(harness, 10)
  })

  test('GIVEN every connection busy and the queue full THEN each further request gets a 503 with Retry-After at once, and the queued ones are served', async () => {
    // The outbox polls once at start-up and then not again, so it holds no connection during the burst.
    await using harness = await startRole(
      testDb.config,
      { connectionLimit: 10, queueLimit: 20, acquireTimeoutMs: 120_000, queryTimeoutMs: 120_000 },
      { pollMs: 3_600_000 },
    )
    await waitUntil(() => expect(harness.database.poolStats()).toEqual({ inUse: 0, waiting: 0 }))
    // Another session holds the table, so the 10 reads in flight and the 20 queued wait until it lets go.
    await testDb.query('lock tables users write')
    const burst = Array.from({ length: 300 }, () => harness.send('GET', '/users'))
    let rejected = 0
    for (const answer of burst) {
      void answer.then((a) => {
        if (a.status === 503) rejected++
      })
    }
    try {
      await waitUntil(() => expect(rejected).toBe(270), 60_000)
    } finally {
      await testDb.query('unlock tables')
    }
    const answers = await Promise.all(burst)
    const count = (status: number) => answers.filter((a) => a.status === status).length
    expect({ ok: count(200), unavailable: count(503) }).toEqual({ ok: 30, unavailable: 270 })
    for (const a of answers.filter((x) => x.status === 503)) {
      expect({ retryAfter: a.retryAfter, message: a.message }).toEqual({
        retryAfter: '1',
        message: 'Database unavailable',
      })
    }
    await expectNoLeak(harness, 10)
  })
})
