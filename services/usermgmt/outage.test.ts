import { afterAll, beforeAll, expect, test } from 'bun:test'
import { captureLog, createTestDatabase, startTcpProxy, type TcpProxy, type TestDatabase, waitUntil } from '../testing'
import { createMysqlDatabase, type RunningRole, startUsermgmt } from '.'

let testDb: TestDatabase
let proxy: TcpProxy
let role: RunningRole
const captured = captureLog()

beforeAll(async () => {
  testDb = await createTestDatabase()
  proxy = await startTcpProxy({ host: testDb.config.host, port: testDb.config.port })
  role = startUsermgmt({
    database: createMysqlDatabase(
      { ...testDb.config, host: '127.0.0.1', port: proxy.port },
      { acquireTimeoutMs: 1500, queryTimeoutMs: 1500 },
    ),
    notificationBaseUrl: 'http://127.0.0.1:9',
    port: 0,
    log: captured.log,
    migrationRetryMs: 100,
  })
  await waitUntil(async () => expect((await fetch(`${role.url}/usermgmt/health/readiness`)).status).toBe(200))
})
afterAll(async () => {
  await role.stop()
  await proxy.close()
  await testDb.drop()
})

const alice = {
  username: 'alice',
  email: 'alice@example.com',
  role: 'ROLE_USER',
  enabled: true,
  firstname: 'Alice',
  lastname: 'A',
  password: 'Passw0rd!',
}

async function timed(path: string, init?: RequestInit) {
  const started = performance.now()
  const response = await fetch(`${role.url}${path}`, init)
  return { response, ms: performance.now() - started, body: await response.json() }
}

test('GIVEN the database goes away THEN requests get fast 503 ApiErrors, readiness fails, and the role recovers by itself', async () => {
  expect((await fetch(`${role.url}/usermgmt/user`, { method: 'POST', body: JSON.stringify(alice) })).status).toBe(200)

  await proxy.cut()
  const list = await timed('/usermgmt/users')
  expect(list.response.status).toBe(503)
  expect(list.body).toMatchObject({ apierror: { status: 'SERVICE_UNAVAILABLE', message: 'Database unavailable' } })
  expect(list.ms).toBeLessThan(2000)
  const create = await timed('/usermgmt/user', {
    method: 'POST',
    body: JSON.stringify({ ...alice, username: 'bob', email: 'bob@example.com' }),
  })
  expect(create.response.status).toBe(503)
  const ready = await timed('/usermgmt/health/readiness')
  expect(ready.response.status).toBe(503)
  expect(ready.body).toEqual({ status: 'DOWN' })
  // The course's readiness path stays what it was: the process is up.
  expect((await fetch(`${role.url}/usermgmt/health-status`)).status).toBe(200)

  await proxy.restore()
  const users = await waitUntil(async () => {
    const response = await fetch(`${role.url}/usermgmt/users`)
    expect(response.status).toBe(200)
    return response.json()
  })
  expect(users).toEqual([
    {
      username: 'alice',
      email: 'alice@example.com',
      role: 'ROLE_USER',
      enabled: true,
      firstname: 'Alice',
      lastname: 'A',
      appversion: 'V1',
    },
  ])
  expect((await fetch(`${role.url}/usermgmt/health/readiness`)).status).toBe(200)
})

test('readiness tells the world only UP or DOWN, and the log why: once per change, not once per probe', async () => {
  const readiness = () => timed('/usermgmt/health/readiness')
  const logged = (message: string) => captured.lines.filter((line) => line['message'] === message)
  const up = await readiness()
  expect({ status: up.response.status, body: up.body }).toEqual({ status: 200, body: { status: 'UP' } })

  await proxy.cut()
  const before = logged('not ready').length
  for (let i = 0; i < 3; i++) {
    const down = await readiness()
    expect({ status: down.response.status, body: down.body }).toEqual({ status: 503, body: { status: 'DOWN' } })
  }
  const lines = logged('not ready').slice(before)
  expect(lines).toHaveLength(1)
  expect(lines[0]).toMatchObject({
    level: 'warn',
    component: 'readiness',
    database: `${testDb.config.name}@127.0.0.1`,
    reason: 'the database does not answer',
    error: { message: 'Database unavailable', cause: { code: 'ECONNREFUSED' } },
  })

  await proxy.restore()
  await waitUntil(async () => expect((await readiness()).response.status).toBe(200))
  expect(logged('ready').at(-1)).toMatchObject({
    level: 'info',
    database: `${testDb.config.name}@127.0.0.1`,
    outbox: { pending: expect.any(Number), delivered: expect.any(Number), failed: expect.any(Number) },
  })
})

test('GIVEN the database black-holes connections THEN requests still end with a 503 within the timeout, never hang', async () => {
  await proxy.stall()
  // Pooled connections were reset by the stall; new ones get no handshake at all.
  const list = await timed('/usermgmt/user/alice')
  expect(list.response.status).toBe(503)
  expect(list.ms).toBeLessThan(5000)
  await proxy.restore()
  await waitUntil(async () => expect((await fetch(`${role.url}/usermgmt/user/alice`)).status).toBe(200))
})

test('GIVEN the database is down at start-up THEN the role listens, answers 503, and migrates once it is back', async () => {
  await proxy.cut()
  const fresh = await createTestDatabase()
  const late = await startTcpProxy({ host: fresh.config.host, port: fresh.config.port })
  await late.cut()
  try {
    await using lateRole = startUsermgmt({
      database: createMysqlDatabase(
        { ...fresh.config, host: '127.0.0.1', port: late.port },
        { acquireTimeoutMs: 1000, queryTimeoutMs: 1000 },
      ),
      notificationBaseUrl: 'http://127.0.0.1:9',
      port: 0,
      log: captureLog().log,
      migrationRetryMs: 100,
    })
    expect((await fetch(`${lateRole.url}/usermgmt/users`)).status).toBe(503)
    expect((await fetch(`${lateRole.url}/usermgmt/health/readiness`)).status).toBe(503)
    await late.restore()
    await waitUntil(async () => expect((await fetch(`${lateRole.url}/usermgmt/users`)).status).toBe(200))
  } finally {
    await late.close()
    await fresh.drop()
    await proxy.restore()
  }
})

test('never writes the database password or SQL parameters to the log', () => {
  expect(captured.text()).not.toContain('Passw0rd!')
})
