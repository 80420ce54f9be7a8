// A corpus of bad requests to both roles, generated from data: wrong types, missing and extra fields, huge
// strings, Unicode edge cases, bad JSON, bad headers, paths and methods, bad Idempotency-Keys. Every one must be
// answered below 500 (an ApiError when our code answers), change nothing in the database and send no mail.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { type MailSink, startMailSink } from '../console'
import { createSmtpMailer, localSinkMail, type RunningNotification, startNotification } from '../notification'
import { mailLimits, maxBodyBytes } from '../platform'
import { captureLog, createTestDatabase, rawHttp, type TestDatabase, waitUntil } from '../testing'
import { createMysqlDatabase, type RunningRole, startUsermgmt } from '.'

type Role = 'usermgmt' | 'notification'

interface BadRequest {
  readonly name: string
  readonly role: Role
  readonly method: string
  readonly path: string
  readonly headers?: Readonly<Record<string, string>>
  /** Sent as is: a string that is not JSON stays not JSON. */
  readonly body?: string
}

interface RawBadRequest {
  readonly name: string
  readonly role: Role
  /** The bytes on the wire; `{path}` becomes a path of the role. */
  readonly raw: string
  /**
   * What Bun's HTTP parser does before our code sees the request (docs/upstream-reports.md): close without an
   * answer, or answer 505 for a request line it cannot read.
   */
  readonly bun?: 'closes' | 505
}

const validUser = {
  username: 'newuser',
  email: 'newuser@example.com',
  role: 'ROLE_USER',
  enabled: true,
  firstname: 'New',
  lastname: 'User',
  password: 'Passw0rd!',
}
const validMail = { subject: 'Hello', content: 'Body', toEmails: ['someone@example.com'] }

const wrongTypes: readonly [string, unknown][] = [
  ['a number', 123],
  ['a fraction', 1.5],
  ['true', true],
  ['false', false],
  ['null', null],
  ['an empty array', []],
  ['an array of a string', ['a']],
  ['an object', {}],
  ['a query operator', { $gt: '' }],
]

/** Strings that break something: length, encoding, control and invisible characters, look-alikes, injection. */
const awkwardStrings: readonly [string, string][] = [
  ['a lone surrogate', '\ud800abc'],
  ['a NUL', 'ab\u0000cd'],
  ['a right-to-left override', 'abc\u202egpj.exe'],
  ['combining marks', `e${'\u0301'.repeat(40)}`],
  ['21 emoji', '😀'.repeat(21)],
  ['zero-width spaces', '\u200b'.repeat(30)],
  ['fullwidth letters', 'ｅｘａｍｐｌｅ＠ｅｘａｍｐｌｅ．ｃｏｍ'],
  ['a header injection', 'x@example.com\r\nBcc: victim@example.com'],
  ['SQL', "' or 1=1; drop table users; --"],
  ['HTML', '<script>alert(1)</script>'.repeat(3)],
  ['only spaces', ' '.repeat(30)],
  ['an IDN address', 'bob@exämple.com'],
]

const hugeStrings: readonly [string, string][] = [
  ['21 characters', 'x'.repeat(21)],
  ['256 characters', 'x'.repeat(256)],
  ['10,000 characters', 'x'.repeat(10_000)],
  ['600,000 characters', 'x'.repeat(600_000)],
]

const badJson: readonly [string, string][] = [
  ['an empty body', ''],
  ['whitespace', '   \n'],
  ['an open brace', '{'],
  ['a close brace', '}'],
  ['an array', '[]'],
  ['an array of an object', '[{}]'],
  ['null', 'null'],
  ['true', 'true'],
  ['a number', '1'],
  ['a string', '"user"'],
  ['a missing value', '{"username":}'],
  ['a trailing comma', '{"username":"bob",}'],
  ['single quotes', "{'username':'bob'}"],
  ['NaN', '{"enabled":NaN}'],
  ['a cut-off object', '{"username":"bob"'],
  ['a byte order mark before an array', '\ufeff[]'],
  ['text', 'username=bob&password=x'],
  ['deep nesting', `${'['.repeat(50_000)}${']'.repeat(50_000)}`],
  ['a body over the size limit', `{"content":"${'x'.repeat(maxBodyBytes)}"}`],
]

/** Every field of `base` with each bad value in turn, and (unless told not to) each field missing. */
function fieldCases(
  role: Role,
  route: { method: string; path: string },
  base: Record<string, unknown>,
  fields: readonly string[],
  values: readonly [string, unknown][],
  label: string,
  missing = true,
): BadRequest[] {
  const cases: BadRequest[] = []
  for (const field of fields) {
    for (const [what, value] of values) {
      cases.push({
        name: `${label}: ${field} is ${what}`,
        role,
        ...route,
        body: JSON.stringify({ ...base, [field]: value }),
      })
    }
    if (!missing) continue
    const { [field]: _omitted, ...rest } = base
    cases.push({ name: `${label}: ${field} is missing`, role, ...route, body: JSON.stringify(rest) })
  }
  return cases
}

/** Every method a route does not take, on each of the role's routes (given with the methods it does take). */
function wrongMethodCases(role: Role, routes: Readonly<Record<string, readonly string[]>>): BadRequest[] {
  return Object.entries(routes).flatMap(([path, allowed]) =>
    ['GET', 'POST', 'PUT', 'DELETE', 'PATCH']
      .filter((method) => !allowed.includes(method))
      .map((method) => ({
        name: `${method} ${path}`,
        role,
        method,
        path,
        ...(method === 'GET' ? {} : { body: '{}' }),
      })),
  )
}

function usermgmtCases(): BadRequest[] {
  const create = { method: 'POST', path: '/usermgmt/user' }
  const update = { method: 'PUT', path: '/usermgmt/user' }
  // Every create body below also breaks the password policy, so none of them can be a valid new user.
  const weak = { ...validUser, password: 'weak' }
  const userFields = ['username', 'email', 'role', 'enabled', 'firstname', 'lastname', 'password']
  const stringFields = userFields.filter((f) => f !== 'enabled' && f !== 'password')
  const cases: BadRequest[] = [
    ...fieldCases(
      'usermgmt',
      create,
      validUser,
      userFields,
      wrongTypes.filter(([, v]) => typeof v !== 'boolean'),
      'create',
    ),
    ...fieldCases(
      'usermgmt',
      create,
      weak,
      stringFields,
      [...hugeStrings, ...awkwardStrings],
      'create, weak password',
      false,
    ),
    ...fieldCases(
      'usermgmt',
      create,
      validUser,
      ['enabled'],
      [
        ['the string "true"', 'true'],
        ['1', 1],
      ],
      'create',
      false,
    ),
    ...[
      ['7 characters', 'Passw0!'],
      ['no digit', 'Password!'],
      ['no capital', 'passw0rd!'],
      ['no symbol', 'Passw0rd'],
      ['a space', 'Pass w0rd!'],
      ['a tab', 'Pass\tw0rd!'],
      ['over 72 bytes', `Passw0rd!${'😀'.repeat(20)}`],
      ['over 1024 characters', `Passw0rd!${'a'.repeat(1024)}`],
      ['empty', ''],
    ].map(([what, password]) => ({
      name: `create: password has ${what}`,
      role: 'usermgmt' as const,
      ...create,
      body: JSON.stringify({ ...validUser, password }),
    })),
    {
      name: 'create: a taken username',
      role: 'usermgmt',
      ...create,
      body: JSON.stringify({ ...validUser, username: 'bob' }),
    },
    {
      name: 'create: a taken e-mail in other case',
      role: 'usermgmt',
      ...create,
      body: JSON.stringify({ ...validUser, email: 'BOB@Example.com' }),
    },
    {
      name: 'create: an e-mail one over the limit',
      role: 'usermgmt',
      ...create,
      body: JSON.stringify({
        ...validUser,
        email: `${'a'.repeat(60)}@${'b'.repeat(mailLimits.addressLength - 64)}.com`,
      }),
    },
    {
      name: 'create: extra fields with a weak password',
      role: 'usermgmt',
      ...create,
      body: JSON.stringify({ ...weak, admin: true, id: 1, appversion: 'V9', __proto__: { admin: true } }),
    },
    {
      name: 'create: a prototype key with a weak password',
      role: 'usermgmt',
      ...create,
      body: `{"__proto__":{"enabled":false},${JSON.stringify(weak).slice(1)}`,
    },
  ]
  const bob = { username: 'bob', email: 'bob@example.com', firstname: 'Bob', lastname: 'Builder' }
  const updateFields = ['username', 'email', 'firstname', 'lastname']
  cases.push(
    ...fieldCases('usermgmt', update, bob, updateFields, wrongTypes, 'update'),
    ...fieldCases('usermgmt', update, bob, ['email', 'firstname', 'lastname'], hugeStrings.slice(1), 'update', false),
    ...fieldCases('usermgmt', update, bob, ['email'], awkwardStrings, 'update', false),
    {
      name: 'update: a user that does not exist',
      role: 'usermgmt',
      ...update,
      body: JSON.stringify({ ...bob, username: 'nobody' }),
    },
    {
      name: 'update: an e-mail another user has',
      role: 'usermgmt',
      ...update,
      body: JSON.stringify({ ...bob, username: 'carol' }),
    },
  )
  for (const route of [create, update]) {
    for (const [what, body] of badJson) {
      cases.push({ name: `${route.method} /usermgmt/user with ${what}`, role: 'usermgmt', ...route, body })
    }
  }
  const names: [string, string][] = [
    ['a user that does not exist', 'nobody'],
    ['300 characters', 'x'.repeat(300)],
    ['an encoded NUL', '%00'],
    ['a broken escape', '%ZZ'],
    ['an encoded path', '..%2F..%2Fetc%2Fpasswd'],
    ['an emoji', '%F0%9F%98%80'],
    // Not bob%20: MySQL compares with PAD SPACE, so that is bob, as it was for the original service.
    ['an encoded space after a name', 'nobody%20'],
    ['SQL', "x'%20or%20'1'='1"],
  ]
  for (const [method, template] of [
    ['GET', '/usermgmt/user/{}'],
    ['DELETE', '/usermgmt/user/{}'],
    ['GET', '/usermgmt/status/{}'],
    ['GET', '/usermgmt/user/activate/{}'],
  ] as const) {
    for (const [what, name] of names) {
      cases.push({
        name: `${method} ${template} for ${what}`,
        role: 'usermgmt',
        method,
        path: template.replace('{}', name),
      })
    }
  }
  const routes: Record<string, readonly string[]> = {
    '/usermgmt/users': ['GET'],
    '/usermgmt/user': ['POST', 'PUT'],
    '/usermgmt/user/bob': ['GET', 'DELETE'],
    '/usermgmt/status/bob': ['GET'],
    '/usermgmt/user/activate/bob': ['GET'],
    '/usermgmt/health-status': ['GET'],
    '/usermgmt/health/readiness': ['GET'],
    '/usermgmt/notification-xray': ['GET'],
  }
  cases.push(...wrongMethodCases('usermgmt', routes))
  for (const path of [
    '/usermgmt',
    '/usermgmt/',
    '/usermgmt/userz',
    '/USERMGMT/users',
    '/usermgmt/users/extra',
    '/usermgmt/user/bob/extra',
    `/usermgmt/${'a/'.repeat(2000)}`,
    '/notification/send/extra',
    '/',
  ]) {
    cases.push({ name: `GET ${path.slice(0, 40)} (no such route)`, role: 'usermgmt', method: 'GET', path })
  }
  return cases
}

function notificationCases(): BadRequest[] {
  const send = { method: 'POST', path: '/notification/send' }
  const lists = ['toEmails', 'ccEmails', 'bccEmails']
  const cases: BadRequest[] = [
    ...fieldCases(
      'notification',
      send,
      validMail,
      ['subject', 'content'],
      wrongTypes.filter(([, v]) => v !== null),
      'send',
      false,
    ),
    ...fieldCases(
      'notification',
      send,
      validMail,
      lists,
      wrongTypes.filter(([, v]) => v !== null && !Array.isArray(v)),
      'send',
      false,
    ),
    ...fieldCases(
      'notification',
      send,
      validMail,
      ['toEmails'],
      [
        ['missing', undefined],
        ['null', null],
        ['empty', []],
      ],
      'send, no recipient',
      false,
    ),
  ]
  for (const list of lists) {
    const base = list === 'toEmails' ? validMail : { ...validMail, toEmails: ['someone@example.com'] }
    for (const [what, address] of [
      ...awkwardStrings,
      ['a number', 1],
      ['null', null],
      ['an object', {}],
      ['no @', 'someone.example.com'],
      ['no domain', 'someone@'],
      ['a display name', 'Someone <someone@example.com>'],
      ['two addresses in one', 'a@example.com, b@example.com'],
      ['255 characters', `${'a'.repeat(60)}@${'b'.repeat(190)}.com`],
      ['65 characters before the @', `${'a'.repeat(65)}@example.com`],
    ] as [string, unknown][]) {
      cases.push({
        name: `send: ${list} holds ${what}`,
        role: 'notification',
        ...send,
        body: JSON.stringify({ ...base, [list]: [address] }),
      })
    }
    const many = Array.from({ length: mailLimits.recipientsPerList + 1 }, (_, i) => `r${i}@example.com`)
    cases.push({
      name: `send: ${list} holds 51 addresses`,
      role: 'notification',
      ...send,
      body: JSON.stringify({ ...base, [list]: many }),
    })
  }
  cases.push(
    {
      name: 'send: a subject one over the limit',
      role: 'notification',
      ...send,
      body: JSON.stringify({ ...validMail, subject: 's'.repeat(mailLimits.subjectLength + 1) }),
    },
    {
      name: 'send: content one over the limit',
      role: 'notification',
      ...send,
      body: JSON.stringify({ ...validMail, content: 'c'.repeat(mailLimits.contentLength + 1) }),
    },
    {
      name: 'send: extra fields and no recipient',
      role: 'notification',
      ...send,
      body: JSON.stringify({
        subject: 's',
        from: 'x@evil.example',
        replyTo: 'x@evil.example',
        headers: { Bcc: 'v@example.com' },
      }),
    },
  )
  for (const [what, key] of [
    ['empty', ''],
    ['129 characters', 'k'.repeat(mailLimits.idempotencyKeyLength + 1)],
    ['a space', 'outbox key'],
    ['a tab', 'outbox\tkey'],
    ['a DEL character', 'outbox\u007fkey'],
  ]) {
    cases.push({
      name: `send: an Idempotency-Key with ${what}`,
      role: 'notification',
      ...send,
      headers: { 'idempotency-key': String(key) },
      body: JSON.stringify(validMail),
    })
  }
  for (const [what, body] of badJson) {
    cases.push({ name: `POST /notification/send with ${what}`, role: 'notification', ...send, body })
  }
  const routes: Record<string, readonly string[]> = {
    '/notification/send': ['POST'],
    '/notification/health-status': ['GET'],
    '/notification/info': ['GET'],
    '/notification/xray': ['GET'],
  }
  cases.push(...wrongMethodCases('notification', routes))
  for (const path of [
    '/notification',
    '/notification/sendx',
    '/NOTIFICATION/send',
    '/notification/send/x',
    '/usermgmt/users',
  ]) {
    cases.push({
      name: `POST ${path} (no such route)`,
      role: 'notification',
      method: 'POST',
      path,
      body: JSON.stringify(validMail),
    })
  }
  return cases
}

function rawCases(): RawBadRequest[] {
  const cases: RawBadRequest[] = []
  const lines: [string, string, RawBadRequest['bun']?][] = [
    ['an unknown method', 'FOO {path} HTTP/1.1\r\nHost: localhost\r\n\r\n', 'closes'],
    ['a lower-case method', 'get {path} HTTP/1.1\r\nHost: localhost\r\n\r\n', 'closes'],
    ['no Host header', 'GET {path} HTTP/1.1\r\n\r\n'],
    ['two Host headers', 'GET {path} HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n'],
    ['a one-letter Host', 'GET {path} HTTP/1.1\r\nHost: a\r\n\r\n'],
    ['a Host with spaces', 'GET {path} HTTP/1.1\r\nHost: a b c\r\n\r\n'],
    ['an empty Host', 'GET {path} HTTP/1.1\r\nHost: \r\n\r\n'],
    ['a Host with a user', 'GET {path} HTTP/1.1\r\nHost: a@b\r\n\r\n'],
    ['a bracketed Host that is no address, to no route', 'GET /nowhere HTTP/1.1\r\nHost: [zz]\r\n\r\n'],
    ['a Host with a port out of range, to no route', 'GET /nowhere HTTP/1.1\r\nHost: a:99999\r\n\r\n'],
    ['a percent-encoded Host, to no route', 'POST /nowhere HTTP/1.1\r\nHost: a%20b\r\nContent-Length: 2\r\n\r\n{}'],
    ['a double slash path', 'GET /{path} HTTP/1.1\r\nHost: localhost\r\n\r\n'],
    [
      'a Content-Length that is not a number',
      'POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: abc\r\n\r\n{}',
    ],
    ['a negative Content-Length', 'POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: -5\r\n\r\n{}'],
    [
      'Content-Length and chunked together',
      'POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    ],
    ['an unknown transfer coding', 'POST {path} HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: gzip\r\n\r\n{}'],
    [
      'a bad chunk size',
      'POST {path} HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n',
    ],
    ['a header without a colon', 'GET {path} HTTP/1.1\r\nHost: localhost\r\nNoColonHere\r\n\r\n'],
    ['a space in a header name', 'GET {path} HTTP/1.1\r\nHost: localhost\r\nBad Header: x\r\n\r\n'],
    ['a 20 KB header', `GET {path} HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'x'.repeat(20_000)}\r\n\r\n`],
    [
      '200 headers',
      `GET {path} HTTP/1.1\r\nHost: localhost\r\n${Array.from({ length: 200 }, (_, i) => `X-H${i}: v`).join('\r\n')}\r\n\r\n`,
    ],
    ['HTTP/1.0', 'GET {path} HTTP/1.0\r\n\r\n'],
    ['HTTP/2.0 in the request line', 'GET {path} HTTP/2.0\r\nHost: localhost\r\n\r\n', 505],
    ['no version', 'GET {path}\r\nHost: localhost\r\n\r\n', 505],
    ['a raw space in the path', 'GET {path} x HTTP/1.1\r\nHost: localhost\r\n\r\n', 505],
    ['raw non-ASCII in the path', 'GET {path}/ключ HTTP/1.1\r\nHost: localhost\r\n\r\n'],
    ['an absolute URL as the target', 'GET http://evil.example{path} HTTP/1.1\r\nHost: localhost\r\n\r\n'],
    ['an asterisk target', 'OPTIONS * HTTP/1.1\r\nHost: localhost\r\n\r\n'],
    [
      'an X-Amzn-Trace-Id of garbage',
      `GET {path} HTTP/1.1\r\nHost: localhost\r\nX-Amzn-Trace-Id: ${'Root=;'.repeat(500)}\r\n\r\n`,
    ],
    [
      'a non-ASCII Idempotency-Key',
      'POST {send} HTTP/1.1\r\nHost: localhost\r\nIdempotency-Key: ключ\r\nContent-Length: 2\r\n\r\n{}',
    ],
  ]
  for (const role of ['usermgmt', 'notification'] as const) {
    for (const [what, raw, bun] of lines) {
      cases.push({ name: `${role}: ${what}`, role, raw, ...(bun === undefined ? {} : { bun }) })
    }
  }
  return cases
}

const corpus = [...usermgmtCases(), ...notificationCases()]
const raw = rawCases()

let testDb: TestDatabase
let sink: MailSink
let notification: RunningNotification
let usermgmt: RunningRole
let snapshot = ''

/** Both tables, every row, as one string: any change anywhere shows. */
async function tables(): Promise<string> {
  const users = await testDb.query('select * from users order by username')
  const outbox = await testDb.query('select * from notification_outbox order by id')
  return JSON.stringify({ users, outbox })
}

beforeAll(async () => {
  testDb = await createTestDatabase()
  sink = await startMailSink({ port: 0 })
  notification = startNotification({
    mailer: createSmtpMailer(localSinkMail(sink.port)),
    appVersion: 'V1',
    port: 0,
    log: captureLog().log,
  })
  usermgmt = startUsermgmt({
    database: createMysqlDatabase(testDb.config),
    notificationBaseUrl: notification.url,
    port: 0,
    log: captureLog().log,
  })
  await waitUntil(async () => expect((await fetch(`${usermgmt.url}/usermgmt/users`)).status).toBe(200))
  // Two users and a delivered mail, so that a request that changed, deleted or re-sent anything would show.
  for (const [username, email] of [
    ['bob', 'bob@example.com'],
    ['carol', 'carol@example.com'],
  ]) {
    await testDb.query(
      "insert into users (username, password, enabled, role, email, firstname, lastname) values (?, '$2a$10$abcdefghijklmnopqrstuuv6yq3rV1mOEWyU6bGP5sLn3pwmD7f8H2', 1, 'ROLE_USER', ?, 'First', 'Last')",
      [username, email],
    )
  }
  await testDb.query(
    "insert into notification_outbox (idempotency_key, payload, status, attempts, created_at, next_attempt_at, delivered_at) values ('seed', '{}', 'delivered', 1, 1, 1, 2)",
  )
  snapshot = await tables()
})

afterAll(async () => {
  await usermgmt.stop()
  await notification.stop()
  await sink.stop()
  await testDb.drop()
})

const baseOf = (role: Role) => (role === 'usermgmt' ? usermgmt : notification)

test('the corpus holds at least 300 bad requests across both roles', () => {
  const names = [...corpus, ...raw].map((c) => c.name)
  expect(names.filter((name, i) => names.indexOf(name) !== i)).toEqual([])
  expect(corpus.length + raw.length).toBeGreaterThanOrEqual(300)
  expect(new Set([...corpus, ...raw].map((c) => c.role))).toEqual(new Set(['usermgmt', 'notification']))
  expect(new Set([...corpus, ...raw].map((c) => c.name)).size).toBe(corpus.length + raw.length)
})

describe('bad requests sent with fetch', () => {
  test.each(corpus.map((c) => [c.name, c] as const))(
    '%s: below 500, an ApiError, nothing changed',
    async (_name, bad) => {
      const response = await fetch(`${baseOf(bad.role).url}${bad.path}`, {
        method: bad.method,
        headers: { 'content-type': 'application/json', ...bad.headers },
        ...(bad.body === undefined ? {} : { body: bad.body }),
      })
      const text = await response.text()
      expect(response.status).toBeGreaterThanOrEqual(400)
      expect(response.status).toBeLessThan(500)
      expect(JSON.parse(text)).toMatchObject({ apierror: { status: expect.any(String), message: expect.any(String) } })
      expect(await tables()).toBe(snapshot)
      expect(sink.messages()).toHaveLength(0)
    },
  )
})

describe('bad requests sent as raw bytes', () => {
  test.each(raw.map((c) => [c.name, c] as const))(
    '%s: below 500 (or as Bun answers), nothing changed',
    async (_name, bad) => {
      const role = baseOf(bad.role)
      const path = bad.role === 'usermgmt' ? '/usermgmt/users' : '/notification/health-status'
      const answer = await rawHttp(
        role.server.port,
        bad.raw.replaceAll('{path}', path).replaceAll('{send}', '/notification/send'),
      )
      if (bad.bun === 'closes') expect(answer.status).toBeUndefined()
      else if (bad.bun === 505) expect(answer.status).toBe(505)
      else {
        expect(answer.status).toBeGreaterThanOrEqual(200)
        expect(answer.status).toBeLessThan(500)
      }
      expect(await tables()).toBe(snapshot)
      expect(sink.messages()).toHaveLength(0)
    },
  )
})
