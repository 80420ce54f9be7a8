// A request-by-request run of ../shared/reference/api-contract.md against the compiled binary: usermgmt on
// real MariaDB, notification on a real SMTP server with STARTTLS and AUTH, talking over real sockets.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { type MailSink, startMailSink } from '../services/console'
import {
  type AppProcess,
  createTestDatabase,
  type FakeDaemon,
  sampleEverythingRulesFile,
  spawnApp,
  startFakeDaemon,
  type TestDatabase,
  testCertificate,
  waitUntil,
} from '../services/testing'

const smtp = { user: 'AKIA-SES-USER', pass: 'ses-smtp-password-not-for-logs' }
const timestampPattern = /^\d{2}-\d{2}-\d{4} \d{2}:\d{2}:\d{2}$/

let testDb: TestDatabase
let sink: MailSink
let daemon: FakeDaemon
let rulesFile = ''
let notification: AppProcess
let usermgmt: AppProcess
let notificationPort = 0
let base = ''

function notificationEnv(): Record<string, string> {
  return {
    AWS_MAIL_SERVER_HOST: 'localhost',
    AWS_MAIL_SERVER_PORT: String(sink.port),
    AWS_MAIL_SERVER_USERNAME: smtp.user,
    AWS_MAIL_SERVER_PASSWORD: smtp.pass,
    AWS_MAIL_SERVER_FROM_ADDRESS: 'stacksimplify@gmail.com',
    AWS_XRAY_TRACING_NAME: 'V1-Notification-Microservice',
    NODE_EXTRA_CA_CERTS: testCertificate().certFile,
    AWS_XRAY_DAEMON_ADDRESS: daemon.address,
    AWS_XRAY_SAMPLING_RULES: rulesFile,
  }
}

async function startNotificationBinary(port: number): Promise<AppProcess> {
  const child = spawnApp(['serve', '--role=notification', '--port', String(port)], notificationEnv())
  const line = await child.waitForLog((l) => l['message'] === 'notification listening')
  notificationPort = Number(line['port'])
  return child
}

beforeAll(async () => {
  // Every request of the run is traced, and every datagram checked against the segment schema at the end.
  daemon = await startFakeDaemon()
  rulesFile = sampleEverythingRulesFile()
  testDb = await createTestDatabase()
  const { key, cert } = testCertificate()
  sink = await startMailSink({ port: 0, tls: { key, cert }, auth: smtp })
  notification = await startNotificationBinary(0)
  usermgmt = spawnApp(['serve', '--role=usermgmt', '--port', '0'], {
    ...testDb.env,
    NOTIFICATION_SERVICE_HOST: '127.0.0.1',
    NOTIFICATION_SERVICE_PORT: String(notificationPort),
    AWS_XRAY_TRACING_NAME: 'User-Management-Microservice',
    AWS_XRAY_DAEMON_ADDRESS: daemon.address,
    AWS_XRAY_SAMPLING_RULES: rulesFile,
    AWS_XRAY_CONTEXT_MISSING: 'LOG_ERROR',
  })
  const line = await usermgmt.waitForLog((l) => l['message'] === 'usermgmt listening')
  base = `http://127.0.0.1:${line['port']}/usermgmt`
  await waitUntil(async () => expect((await fetch(`${base}/health/readiness`)).status).toBe(200))
})

afterAll(async () => {
  usermgmt.kill()
  notification.kill()
  await Promise.all([usermgmt.exited, notification.exited])
  await sink.stop()
  await testDb.drop()
  daemon.close()
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
const bobView = {
  username: 'bob',
  email: 'bob@example.com',
  role: 'ROLE_USER',
  enabled: true,
  firstname: 'Bob',
  lastname: 'Builder',
  appversion: 'V1',
}

interface ApiError {
  apierror: { status: string; timestamp: string; message: string; debugMessage: string | null; subErrors: unknown }
}

function post(path: string, body: unknown, init: RequestInit = {}) {
  return fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...init,
  })
}

function put(body: unknown) {
  return post('/user', body, { method: 'PUT' })
}

async function expectApiError(
  response: Response,
  status: number,
  word: string,
  message: string,
  subErrors: unknown = null,
) {
  expect(response.status).toBe(status)
  expect(response.headers.get('content-type')).toStartWith('application/json')
  const body = (await response.json()) as ApiError
  expect(body.apierror.timestamp).toMatch(timestampPattern)
  expect({ ...body.apierror, timestamp: '', debugMessage: null }).toEqual({
    status: word,
    timestamp: '',
    message,
    debugMessage: null,
    subErrors,
  })
}

async function users() {
  return (await fetch(`${base}/users`)).json()
}

describe('usermgmt health', () => {
  test('GET /usermgmt/health-status answers the course text', async () => {
    const response = await fetch(`${base}/health-status`)
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toStartWith('text/plain')
    expect(await response.text()).toBe('User Management Service UP and RUNNING - V1')
  })

  test('GET /usermgmt/health/status answers OK', async () => {
    const response = await fetch(`${base}/health/status`)
    expect([response.status, await response.text()]).toEqual([200, 'OK'])
  })
})

describe('users', () => {
  test('GET /usermgmt/users is an empty list at first', async () => {
    expect(await users()).toEqual([])
  })

  test('POST /usermgmt/user stores the user, answers 200 with an empty body, and the account mail arrives', async () => {
    const response = await post('/user', bob)
    expect(response.status).toBe(200)
    expect(await response.text()).toBe('')
    const [mail] = await sink.waitFor(1)
    expect(mail?.envelopeTo).toEqual(['bob@example.com'])
    expect(mail?.from).toBe('stacksimplify@gmail.com')
    expect(mail?.subject).toBe('Stack Simplify account creation.')
    expect(mail?.text.trim()).toBe('Hello Bob, your stack simplify account is created successfully!')
  })

  test('GET /usermgmt/user/{username} answers the user without any password or hash', async () => {
    const response = await fetch(`${base}/user/bob`)
    expect(response.status).toBe(200)
    const text = await response.text()
    expect(JSON.parse(text)).toEqual(bobView)
    expect(text).not.toContain('password')
    expect(text).not.toContain('$2')
  })

  test('GET /usermgmt/users lists it with appversion V1', async () => {
    expect(await users()).toEqual([bobView])
  })

  test('GET /usermgmt/user/{username} answers 404 for an unknown user', async () => {
    await expectApiError(
      await fetch(`${base}/user/nobody`),
      404,
      'NOT_FOUND',
      "User with user name nobody doesn't exist!",
    )
  })

  test('POST answers 400 when the user name is taken', async () => {
    await expectApiError(
      await post('/user', { ...bob, email: 'other@example.com' }),
      400,
      'BAD_REQUEST',
      'User with user name bob already exists!',
    )
  })

  test('POST answers 400 when the e-mail is taken, in any letter case', async () => {
    await expectApiError(
      await post('/user', { ...bob, username: 'bobby', email: 'BOB@Example.com' }),
      400,
      'BAD_REQUEST',
      'User with email BOB@Example.com already exists!',
    )
  })

  test.each(['short1!', 'nouppercase1!', 'NOLOWERCASE1!', 'NoDigits!!', 'NoSpecial11', 'Has space1!'])(
    'POST answers 400 User Password is invalid for %p',
    async (password) => {
      await expectApiError(
        await post('/user', { ...bob, username: 'carol', email: 'carol@example.com', password }),
        400,
        'BAD_REQUEST',
        'User Password is invalid',
      )
    },
  )

  test('POST answers 400 Validation error with one sub-error per bad field, never echoing a password', async () => {
    const response = await post('/user', {
      username: 'ab',
      role: 'ROLE_USER',
      enabled: 'yes',
      firstname: '',
      lastname: 'x'.repeat(21),
      password: 12345678,
    })
    await expectApiError(response, 400, 'BAD_REQUEST', 'Validation error', [
      { object: 'user', field: 'username', rejectedValue: 'ab', message: 'size must be between 3 and 20' },
      { object: 'user', field: 'email', rejectedValue: null, message: 'must not be null' },
      { object: 'user', field: 'enabled', rejectedValue: 'yes', message: 'must be a boolean' },
      { object: 'user', field: 'firstname', rejectedValue: '', message: 'size must be between 1 and 20' },
      { object: 'user', field: 'lastname', rejectedValue: 'x'.repeat(21), message: 'size must be between 0 and 20' },
      { object: 'user', field: 'password', rejectedValue: '***', message: 'must be a string' },
    ])
  })

  test.each([
    ['broken JSON', '{"username": "dave",'],
    ['an empty body', ''],
    ['a JSON array', '[1,2]'],
    ['a JSON string', '"dave"'],
  ])('POST answers 400 Malformed JSON request for %s', async (_name, body) => {
    const response = await post('/user', body)
    expect(response.status).toBe(400)
    const parsed = (await response.json()) as ApiError
    expect(parsed.apierror.status).toBe('BAD_REQUEST')
    expect(parsed.apierror.message).toBe('Malformed JSON request')
    expect(parsed.apierror.subErrors).toBeNull()
  })

  test('POST answers 413 with an ApiError for a body over 1 MiB', async () => {
    const response = await post('/user', { ...bob, username: 'big', lastname: 'x'.repeat(1024 * 1024) })
    expect(response.status).toBe(413)
    expect(((await response.json()) as ApiError).apierror.status).toBe('PAYLOAD_TOO_LARGE')
  })

  test('POST answers 413 for a chunked body that grows past 1 MiB', async () => {
    const chunk = new TextEncoder().encode('x'.repeat(64 * 1024))
    let sent = 0
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ < 20) controller.enqueue(chunk)
        else controller.close()
      },
    })
    const response = await fetch(`${base}/user`, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json' },
    })
    expect(response.status).toBe(413)
    expect(((await response.json()) as ApiError).apierror.message).toBe('Request body too large')
  })

  test('PUT /usermgmt/user updates e-mail, first and last name only', async () => {
    const response = await put({
      ...bob,
      email: 'robert@example.com',
      firstname: 'Robert',
      lastname: 'B',
      role: 'ROLE_ADMIN',
      enabled: false,
    })
    expect([response.status, await response.text()]).toEqual([200, ''])
    expect(await (await fetch(`${base}/user/bob`)).json()).toEqual({
      ...bobView,
      email: 'robert@example.com',
      firstname: 'Robert',
      lastname: 'B',
    })
  })

  test('PUT answers 404 for an unknown user and 400 when the e-mail belongs to another user', async () => {
    await expectApiError(
      await put({ ...bob, username: 'nobody' }),
      404,
      'NOT_FOUND',
      "User with user name nobody doesn't exist!",
    )
    expect((await post('/user', { ...bob, username: 'erin', email: 'erin@example.com' })).status).toBe(200)
    await expectApiError(
      await put({ ...bob, email: 'ERIN@example.com' }),
      400,
      'BAD_REQUEST',
      'User with email ERIN@example.com already exists!',
    )
  })

  test('GET /usermgmt/status/{username} flips enabled, and answers 404 for an unknown user', async () => {
    expect((await fetch(`${base}/status/bob`)).status).toBe(200)
    expect(((await (await fetch(`${base}/user/bob`)).json()) as { enabled: boolean }).enabled).toBe(false)
    expect((await fetch(`${base}/status/bob`)).status).toBe(200)
    expect(((await (await fetch(`${base}/user/bob`)).json()) as { enabled: boolean }).enabled).toBe(true)
    await expectApiError(
      await fetch(`${base}/status/nobody`),
      404,
      'NOT_FOUND',
      "User with user name nobody doesn't exist!",
    )
  })

  test('GET /usermgmt/user/activate/{username} enables a disabled user, then answers 400 User already activated!', async () => {
    await fetch(`${base}/status/bob`)
    expect((await fetch(`${base}/user/activate/bob`)).status).toBe(200)
    expect(((await (await fetch(`${base}/user/bob`)).json()) as { enabled: boolean }).enabled).toBe(true)
    await expectApiError(await fetch(`${base}/user/activate/bob`), 400, 'BAD_REQUEST', 'User already activated!')
    await expectApiError(
      await fetch(`${base}/user/activate/nobody`),
      404,
      'NOT_FOUND',
      "User with user name nobody doesn't exist!",
    )
  })

  test('DELETE /usermgmt/user/{username} removes the user, then answers 404', async () => {
    expect((await fetch(`${base}/user/erin`, { method: 'DELETE' })).status).toBe(200)
    await expectApiError(
      await fetch(`${base}/user/erin`, { method: 'DELETE' }),
      404,
      'NOT_FOUND',
      "User with user name erin doesn't exist!",
    )
  })
})

describe('bad input never changes data', () => {
  test('unknown paths answer 404 and wrong methods 405, as ApiErrors', async () => {
    const unknown = await fetch(`${base}/nothing-here`)
    expect(unknown.status).toBe(404)
    expect(((await unknown.json()) as ApiError).apierror.status).toBe('NOT_FOUND')
    const wrong = await fetch(`${base}/users`, { method: 'POST', body: '{}' })
    expect(wrong.status).toBe(405)
    expect(wrong.headers.get('allow')).toBe('GET')
    expect(((await wrong.json()) as ApiError).apierror.status).toBe('METHOD_NOT_ALLOWED')
  })

  test('after every rejected request the stored users are exactly the accepted ones', async () => {
    expect(await users()).toEqual([{ ...bobView, email: 'robert@example.com', firstname: 'Robert', lastname: 'B' }])
    const rows = await testDb.query<{ password: string }>('select password from users')
    expect(rows.map((r) => r.password.slice(0, 4))).toEqual(['$2b$'])
  })
})

describe('calls to the notification service', () => {
  test('GET /usermgmt/notification-health-status passes the notification health text through', async () => {
    const response = await fetch(`${base}/notification-health-status`)
    expect([response.status, await response.text()]).toEqual([200, 'Notification Service is UP and Running - V1'])
  })

  test('GET /usermgmt/notification-service-info passes /notification/info through', async () => {
    const text = await (await fetch(`${base}/notification-service-info`)).text()
    expect(text).toMatch(/^Notification Service IP Address: .+\nHostname: .+\nApplication Version: V1$/)
  })

  test('GET /usermgmt/notification-xray passes the JSON object through', async () => {
    const response = await fetch(`${base}/notification-xray`)
    expect(response.status).toBe(200)
    expect(await response.json()).toEqual({
      applicationname: 'Notification Microservice',
      appversion: 'V1',
      message: 'Enabled AWS XRay',
    })
  })

  test('with the notification service down: 503 ApiErrors for the pass-through calls, 200 for a new user whose mail follows later', async () => {
    notification.kill('SIGTERM')
    expect(await notification.exited).toBe(0)
    for (const path of ['/notification-health-status', '/notification-service-info', '/notification-xray']) {
      const response = await fetch(`${base}${path}`)
      expect(response.status).toBe(503)
      const body = (await response.json()) as ApiError
      expect(body.apierror.status).toBe('SERVICE_UNAVAILABLE')
      expect(body.apierror.message).toBe('Notification service unavailable')
    }
    const before = sink.messages().length
    expect(
      (await post('/user', { ...bob, username: 'frank', email: 'frank@example.com', firstname: 'Frank' })).status,
    ).toBe(200)
    notification = await startNotificationBinary(notificationPort)
    const mails = await sink.waitFor(before + 1)
    expect(mails.at(-1)?.envelopeTo).toEqual(['frank@example.com'])
    expect(mails.at(-1)?.text.trim()).toBe('Hello Frank, your stack simplify account is created successfully!')
  })

  test('every segment both binaries sent during the run is valid against the X-Ray schema, with no secret in it', () => {
    expect(daemon.datagrams.length).toBeGreaterThan(30)
    expect(daemon.invalid).toEqual([])
    const sent = daemon.datagrams.map((d) => d.raw).join('\n')
    expect(sent).not.toContain(smtp.pass)
    expect(sent).not.toContain('Passw0rd!')
  })

  test('no secret appears in either service log', () => {
    const logs = usermgmt.stdout() + usermgmt.stderr() + notification.stdout() + notification.stderr()
    expect(logs).not.toContain(smtp.pass)
    expect(logs).not.toContain('Passw0rd!')
  })
})
