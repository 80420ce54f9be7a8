import { afterEach, beforeEach, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { captureLog, createTestDatabase, type TestDatabase, waitUntil } from '../testing'
import { createMysqlDatabase, type RunningRole, startUsermgmt } from '.'

// Fifty racing requests on a busy machine: the deadlines are generous so that only the outcome is tested.
setDefaultTimeout(60_000)

let testDb: TestDatabase
beforeEach(async () => {
  testDb = await createTestDatabase()
})
afterEach(async () => {
  await testDb.drop()
})

async function startRole(log = captureLog().log): Promise<RunningRole> {
  const role = startUsermgmt({
    database: createMysqlDatabase(testDb.config, { acquireTimeoutMs: 30_000, queryTimeoutMs: 30_000 }),
    notificationBaseUrl: 'http://127.0.0.1:9',
    port: 0,
    log,
  })
  await waitUntil(async () => expect((await fetch(`${role.url}/usermgmt/health/readiness`)).status).toBe(200))
  return role
}

const user = (username: string, fields: Record<string, unknown> = {}) => ({
  username,
  email: `${encodeURIComponent(username)}@example.com`.replace(/%/g, 'x'),
  role: 'ROLE_USER',
  enabled: false,
  firstname: 'First',
  lastname: 'Last',
  password: 'Passw0rd!',
  ...fields,
})

async function call(role: RunningRole, method: string, path: string, payload?: unknown) {
  const response = await fetch(`${role.url}/usermgmt${path}`, {
    method,
    ...(payload === undefined ? {} : { body: JSON.stringify(payload) }),
  })
  const text = await response.text()
  const body: unknown = text === '' ? undefined : JSON.parse(text)
  const apierror =
    body !== null && typeof body === 'object' && 'apierror' in body
      ? (body.apierror as { message: string; subErrors: { field: string }[] | null })
      : undefined
  return { status: response.status, body, apierror }
}

const messageOf = (answer: { apierror: { message: string } | undefined }) => answer.apierror?.message

describe('racing calls on one user', () => {
  // Another session holds the row while the calls arrive, so every call in flight (one per pooled connection)
  // is inside its statement at the same moment: the race is certain, not left to timing.
  async function whileRowIsHeld<T>(username: string, fire: () => Promise<T>[], inFlight: number): Promise<T[]> {
    await testDb.query('start transaction')
    await testDb.query('select username from users where username = ? for update', [username])
    let pending: Promise<T>[] = []
    try {
      pending = fire()
      await waitUntil(
        async () => {
          const [row] = await testDb.query<{ n: number }>(
            `select count(*) as n from information_schema.innodb_trx t
           join information_schema.processlist p on p.id = t.trx_mysql_thread_id
           where t.trx_state = 'LOCK WAIT' and p.db = database()`,
          )
          expect(Number(row?.n)).toBe(inFlight)
          // Asking InnoDB for its lock waits takes its lock-system mutex: not too often, or the calls crawl in.
        },
        60_000,
        250,
      )
    } finally {
      await testDb.query('rollback')
    }
    return Promise.all(pending)
  }

  test('50 concurrent activations of one user: exactly one 200, every other one 400 "User already activated!"', async () => {
    await using role = await startRole()
    expect((await call(role, 'POST', '/user', user('racer'))).status).toBe(200)
    const answers = await whileRowIsHeld(
      'racer',
      () => Array.from({ length: 50 }, () => call(role, 'GET', '/user/activate/racer')),
      10,
    )
    const outcomes = answers.map((a) => (a.status === 200 ? 'activated' : `${a.status} ${messageOf(a)}`))
    expect(outcomes.filter((o) => o === 'activated')).toHaveLength(1)
    expect(outcomes.filter((o) => o !== 'activated')).toEqual(Array(49).fill('400 User already activated!'))
    expect((await call(role, 'GET', '/user/racer')).body).toMatchObject({ enabled: true })
    expect(await call(role, 'GET', '/user/activate/nobody')).toMatchObject({ status: 404 })
  })

  test('10 concurrent status toggles each flip the flag once, so an even number leaves it as it was', async () => {
    await using role = await startRole()
    expect((await call(role, 'POST', '/user', user('flipper', { enabled: true }))).status).toBe(200)
    const answers = await whileRowIsHeld(
      'flipper',
      () => Array.from({ length: 10 }, () => call(role, 'GET', '/status/flipper')),
      10,
    )
    expect(answers.map((a) => a.status)).toEqual(Array(10).fill(200))
    expect((await call(role, 'GET', '/user/flipper')).body).toMatchObject({ enabled: true })
    expect(await call(role, 'GET', '/status/nobody')).toMatchObject({ status: 404 })
  })
})

describe('text a table cannot store', () => {
  const emoji = 'Ana 😀'
  const cyrillic = 'Юлия'

  test('GIVEN an adopted latin1 users table, as Hibernate made it on MySQL 5.7 THEN text it cannot hold is a 400 to write and a 404 to look up, never a 500, and Latin-1 text round-trips', async () => {
    await testDb.query(
      'create table users (username varchar(255) not null, email varchar(255) not null, enabled bit not null, firstname varchar(255) not null, lastname varchar(255) not null, password varchar(255) not null, role varchar(255) not null, primary key (username)) engine=InnoDB default charset=latin1',
    )
    await testDb.query('insert into users values (?, ?, ?, ?, ?, ?, ?)', [
      'josé',
      'jose@example.com',
      1,
      'José',
      'Müller',
      '$2a$10$dXJ3SW6G7P50lGmMkkmwe.20cQQubK3.HZWzG3YB1tlRy.fqvM/BG',
      'ROLE_USER',
    ])
    const captured = captureLog()
    await using role = await startRole(captured.log)
    expect(captured.lines).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        columns: {
          username: 'latin1',
          email: 'latin1',
          firstname: 'latin1',
          lastname: 'latin1',
          password: 'latin1',
          role: 'latin1',
        },
      }),
    )

    const emojiName = await call(role, 'POST', '/user', user('anna', { firstname: emoji }))
    expect(emojiName.status).toBe(400)
    expect(emojiName.apierror).toMatchObject({
      message: 'Validation error',
      subErrors: [
        {
          object: 'user',
          field: 'firstname',
          rejectedValue: emoji,
          message: 'contains characters the database cannot store (latin1)',
        },
      ],
    })
    const nonLatin = await call(role, 'POST', '/user', user(cyrillic, { email: 'julia@example.com', lastname: '王' }))
    expect(nonLatin.status).toBe(400)
    expect(nonLatin.apierror?.subErrors?.map((e) => e.field)).toEqual(['username', 'lastname'])
    const [{ n }] = (await testDb.query<{ n: number }>('select count(*) as n from users')) as [{ n: number }]
    expect(Number(n)).toBe(1)

    for (const name of [emoji, cyrillic]) {
      const path = encodeURIComponent(name)
      for (const [method, route] of [
        ['GET', `/user/${path}`],
        ['DELETE', `/user/${path}`],
        ['GET', `/status/${path}`],
        ['GET', `/user/activate/${path}`],
      ] as const) {
        const answer = await call(role, method, route)
        expect({ route, status: answer.status, message: messageOf(answer) }).toEqual({
          route,
          status: 404,
          message: `User with user name ${name} doesn't exist!`,
        })
      }
    }
    const put = await call(role, 'PUT', '/user', {
      username: 'josé',
      email: 'jose@example.com',
      firstname: 'J',
      lastname: emoji,
    })
    expect(put.status).toBe(400)
    expect(
      await call(role, 'PUT', '/user', { username: cyrillic, email: 'x@example.com', firstname: 'J', lastname: 'L' }),
    ).toMatchObject({
      status: 404,
    })

    // Latin-1, and MySQL's latin1 is Windows-1252: the euro sign fits too.
    expect(
      (
        await call(
          role,
          'POST',
          '/user',
          user('zoë', { email: 'zoe@example.com', firstname: 'Zoë', lastname: 'Ünal €' }),
        )
      ).status,
    ).toBe(200)
    expect((await call(role, 'GET', `/user/${encodeURIComponent('zoë')}`)).body).toMatchObject({
      username: 'zoë',
      firstname: 'Zoë',
      lastname: 'Ünal €',
    })
    const list = await call(role, 'GET', '/users')
    expect(list.status).toBe(200)
    expect(list.body).toEqual([
      expect.objectContaining({ username: 'josé', firstname: 'José', lastname: 'Müller' }),
      expect.objectContaining({ username: 'zoë' }),
    ])
  })

  test('GIVEN the table the migrations create (utf8mb4) THEN emoji and any script are stored as sent', async () => {
    await using role = await startRole()
    expect(
      (await call(role, 'POST', '/user', user(cyrillic, { email: 'julia@example.com', firstname: emoji }))).status,
    ).toBe(200)
    expect((await call(role, 'GET', `/user/${encodeURIComponent(cyrillic)}`)).body).toMatchObject({
      username: cyrillic,
      firstname: emoji,
    })
    expect(await call(role, 'GET', `/user/${encodeURIComponent('nobody 😀')}`)).toMatchObject({ status: 404 })
  })
})
