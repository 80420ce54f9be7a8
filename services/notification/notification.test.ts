import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'bun:test'
import { type MailSink, startMailSink } from '../console'
import { type MailConfig, Secret } from '../platform'
import { captureLog, testCertificate, waitUntil } from '../testing'
import { createSmtpMailer, type RunningNotification, startNotification } from '.'

const credentials = { user: 'ses-user', pass: 'ses-secret-password' }
const from = 'stacksimplify@gmail.com'

function mailConfig(sink: MailSink, overrides: Partial<MailConfig> = {}): MailConfig {
  return {
    host: 'localhost',
    port: sink.port,
    tls: 'starttls',
    username: credentials.user,
    password: new Secret(credentials.pass),
    from,
    tlsServername: undefined,
    ...overrides,
  }
}

async function send(base: string, body: unknown, headers: Record<string, string> = {}) {
  return fetch(`${base}/notification/send`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  })
}

describe('notification role over STARTTLS + AUTH', () => {
  let sink: MailSink
  let refuse = new Set<string>()
  let role: RunningNotification
  const captured = captureLog()

  beforeAll(async () => {
    const { key, cert } = testCertificate()
    sink = await startMailSink({
      port: 0,
      tls: { key, cert },
      auth: credentials,
      onRecipient: (address) => (refuse.has(address) ? [550, 'mailbox unavailable'] : undefined),
    })
    role = startNotification({
      mailer: createSmtpMailer(mailConfig(sink), { tls: { ca: cert } }),
      appVersion: 'V1',
      port: 0,
      log: captured.log,
    })
  })
  afterAll(async () => {
    await role.stop()
    await sink.stop()
  })
  beforeEach(() => {
    sink.clear()
    refuse = new Set()
  })

  test('answers the three GET endpoints with the original texts', async () => {
    const health = await fetch(`${role.url}/notification/health-status`)
    expect(health.status).toBe(200)
    expect(await health.text()).toBe('Notification Service is UP and Running - V1')
    const xray = await fetch(`${role.url}/notification/xray`)
    expect(await xray.json()).toEqual({
      applicationname: 'Notification Microservice',
      appversion: 'V1',
      message: 'Enabled AWS XRay',
    })
    const info = (await (await fetch(`${role.url}/notification/info`)).text()).split('\n')
    expect(info).toHaveLength(3)
    expect(info[0]).toMatch(/^Notification Service IP Address: \d+\.\d+\.\d+\.\d+$/)
    expect(info[1]).toMatch(/^Hostname: .+$/)
    expect(info[2]).toBe('Application Version: V1')
  })

  test('answers 200 only after the SMTP server accepted the mail, From always the configured address', async () => {
    const response = await send(role.url, {
      subject: 'Stack Simplify account creation.',
      content: 'Hello Bob, your stack simplify account is created successfully!',
      from: 'attacker@evil.example',
      toEmails: ['bob@example.com'],
    })
    expect(response.status).toBe(200)
    expect(await response.text()).toBe('')
    const [mail] = sink.messages()
    expect(mail?.from).toBe(from)
    expect(mail?.envelopeFrom).toBe(from)
    expect(mail?.to).toBe('bob@example.com')
    expect(mail?.subject).toBe('Stack Simplify account creation.')
    expect(mail?.text.trim()).toBe('Hello Bob, your stack simplify account is created successfully!')
    expect(mail?.raw).toMatch(/Content-Type: text\/plain/i)
  })

  test('de-duplicates to, cc and bcc case-insensitively', async () => {
    const response = await send(role.url, {
      subject: 's',
      content: 'c',
      toEmails: ['Ann@Example.com', 'ann@example.com', 'bob@example.com'],
      ccEmails: ['cat@example.com', 'CAT@example.com'],
      bccEmails: ['dan@example.com', 'Dan@Example.COM'],
    })
    expect(response.status).toBe(200)
    const [mail] = sink.messages()
    // nodemailer lower-cases the domain part on the envelope; the point is one recipient per address.
    expect(mail?.envelopeTo.map((a) => a.toLowerCase())).toEqual([
      'ann@example.com',
      'bob@example.com',
      'cat@example.com',
      'dan@example.com',
    ])
    expect(mail?.to.toLowerCase()).toBe('ann@example.com, bob@example.com')
    expect(mail?.cc).toBe('cat@example.com')
    expect(mail?.raw).not.toContain('dan@example.com>')
    expect(mail?.raw).not.toMatch(/^Bcc:/im)
  })

  test('answers 502 with an ApiError when the SMTP server refuses every recipient', async () => {
    refuse.add('nobody@example.com')
    const response = await send(role.url, { subject: 's', content: 'c', toEmails: ['nobody@example.com'] })
    expect(response.status).toBe(502)
    const body = (await response.json()) as { apierror: { status: string; message: string } }
    expect(body.apierror.status).toBe('BAD_GATEWAY')
    expect(body.apierror.message).toBe('Mail server rejected the message')
    expect(sink.messages()).toHaveLength(0)
  })

  test('sends a mail only once per idempotency key', async () => {
    const body = { subject: 'once', content: 'c', toEmails: ['once@example.com'] }
    const first = await send(role.url, body, { 'idempotency-key': 'outbox-key-1' })
    const again = await send(role.url, body, { 'idempotency-key': 'outbox-key-1' })
    expect([first.status, again.status]).toEqual([200, 200])
    expect(sink.messages()).toHaveLength(1)
  })

  test('answers 422 with an ApiError and sends nothing when an idempotency key comes back with another mail', async () => {
    const body = { subject: 'first', content: 'c', toEmails: ['first@example.com'] }
    expect((await send(role.url, body, { 'idempotency-key': 'outbox-key-2' })).status).toBe(200)
    for (const other of [
      { ...body, subject: 'second' },
      { ...body, toEmails: ['second@example.com'] },
      { ...body, bccEmails: ['hidden@example.com'] },
    ]) {
      const reused = await send(role.url, other, { 'idempotency-key': 'outbox-key-2' })
      expect(reused.status).toBe(422)
      expect(await reused.json()).toMatchObject({
        apierror: { status: 'UNPROCESSABLE_ENTITY', message: 'Idempotency-Key was already used for a different mail' },
      })
    }
    // The same mail written differently (key order, a null list, a repeated recipient) is the same mail: a replay.
    const same = {
      toEmails: ['first@example.com', 'first@example.com'],
      ccEmails: null,
      content: 'c',
      subject: 'first',
    }
    expect((await send(role.url, same, { 'idempotency-key': 'outbox-key-2' })).status).toBe(200)
    expect(sink.messages().map((m) => m.subject)).toEqual(['first'])
  })

  test.each([
    ['no recipients', { subject: 's', content: 'c', toEmails: [] }, 'toEmails', 'must not be empty'],
    [
      'a bad address',
      { subject: 's', content: 'c', toEmails: ['not-an-address'] },
      'toEmails.0',
      'must be a well-formed email address',
    ],
    ['a number as subject', { subject: 5, content: 'c', toEmails: ['a@example.com'] }, 'subject', 'must be a string'],
  ])('answers 400 Validation error for %s and sends nothing', async (_name, body, field, message) => {
    const response = await send(role.url, body)
    expect(response.status).toBe(400)
    const parsed = (await response.json()) as {
      apierror: { message: string; subErrors: { field: string; message: string }[] }
    }
    expect(parsed.apierror.message).toBe('Validation error')
    expect(parsed.apierror.subErrors.map((e) => [e.field, e.message])).toEqual([[field, message]])
    expect(sink.messages()).toHaveLength(0)
  })

  test('never writes the SMTP password to the log', () => {
    expect(captured.text()).not.toContain(credentials.pass)
  })
})

describe('notification role when the SMTP server is unreachable or unwilling', () => {
  test('answers 503 when nothing listens on the SMTP port', async () => {
    const sink = await startMailSink({ port: 0 })
    const port = sink.port
    await sink.stop()
    const { log } = captureLog()
    await using role = startNotification({
      mailer: createSmtpMailer({ ...mailConfig(sink), port, tls: 'none', username: '' }, { timeoutMs: 1000 }),
      appVersion: 'V1',
      port: 0,
      log,
    })
    const response = await send(role.url, { subject: 's', content: 'c', toEmails: ['a@example.com'] })
    expect(response.status).toBe(503)
    const body = (await response.json()) as { apierror: { status: string; message: string } }
    expect(body.apierror).toMatchObject({ status: 'SERVICE_UNAVAILABLE', message: 'Mail server unavailable' })
  })

  test('refuses to send over a server that does not offer STARTTLS (credentials never go out in clear text)', async () => {
    await using sink = await startMailSink({ port: 0 })
    const { log } = captureLog()
    await using role = startNotification({
      mailer: createSmtpMailer(mailConfig(sink), { timeoutMs: 2000 }),
      appVersion: 'V1',
      port: 0,
      log,
    })
    const response = await send(role.url, { subject: 's', content: 'c', toEmails: ['a@example.com'] })
    expect([502, 503]).toContain(response.status)
    expect(sink.messages()).toHaveLength(0)
  })

  test('checks the certificate against AWS_MAIL_SERVER_TLS_SERVERNAME when the host is an alias', async () => {
    const { key, cert } = testCertificate()
    await using sink = await startMailSink({ port: 0, tls: { key, cert }, auth: credentials })
    const body = { subject: 's', content: 'c', toEmails: ['a@example.com'] }
    const { log } = captureLog()
    await using good = startNotification({
      mailer: createSmtpMailer(
        { ...mailConfig(sink), host: '127.0.0.1', tlsServername: 'localhost' },
        { tls: { ca: cert } },
      ),
      appVersion: 'V1',
      port: 0,
      log,
    })
    expect((await send(good.url, body)).status).toBe(200)
    await using wrong = startNotification({
      mailer: createSmtpMailer(
        { ...mailConfig(sink), host: '127.0.0.1', tlsServername: 'email-smtp.us-east-1.amazonaws.com' },
        { tls: { ca: cert } },
      ),
      appVersion: 'V1',
      port: 0,
      log,
    })
    expect([502, 503]).toContain((await send(wrong.url, body)).status)
    expect(sink.messages()).toHaveLength(1)
  })

  test('answers 502 when the SMTP server rejects the credentials', async () => {
    const { key, cert } = testCertificate()
    await using sink = await startMailSink({ port: 0, tls: { key, cert }, auth: credentials })
    const { log } = captureLog()
    await using role = startNotification({
      mailer: createSmtpMailer(mailConfig(sink, { password: new Secret('wrong') }), { tls: { ca: cert } }),
      appVersion: 'V1',
      port: 0,
      log,
    })
    const response = await send(role.url, { subject: 's', content: 'c', toEmails: ['a@example.com'] })
    expect(response.status).toBe(502)
    expect(sink.messages()).toHaveLength(0)
  })

  test('recovers by itself once the SMTP server is back', async () => {
    const { key, cert } = testCertificate()
    const first = await startMailSink({ port: 0, tls: { key, cert }, auth: credentials })
    const port = first.port
    const { log } = captureLog()
    await using role = startNotification({
      mailer: createSmtpMailer(mailConfig(first), { tls: { ca: cert }, timeoutMs: 1000 }),
      appVersion: 'V1',
      port: 0,
      log,
    })
    const body = { subject: 's', content: 'c', toEmails: ['a@example.com'] }
    expect((await send(role.url, body)).status).toBe(200)
    first.dropConnections()
    await first.stop()
    expect((await send(role.url, body)).status).toBe(503)
    await using second = await startMailSink({ port, tls: { key, cert }, auth: credentials })
    expect((await send(role.url, body)).status).toBe(200)
    expect(second.messages()).toHaveLength(1)
  })
})

/** A promise a test resolves when it chooses: holds an SMTP server's answer at a known point. */
function gate() {
  let open: () => void = () => undefined
  const opened = new Promise<void>((resolve) => {
    open = resolve
  })
  let reached: () => void = () => undefined
  const arrived = new Promise<void>((resolve) => {
    reached = resolve
  })
  return {
    /** Called by the server's hook: marks the point reached, then waits. */
    hold: () => {
      reached()
      return opened
    },
    arrived,
    open,
  }
}

const plainConfig = (sink: MailSink): MailConfig => ({
  ...mailConfig(sink),
  tls: 'none',
  username: '',
  password: new Secret(''),
})

describe('notification role: one budget per send, failures logged with the reason', () => {
  const body = { subject: 's', content: 'c', toEmails: ['a@example.com'] }

  test.each([
    ['a recipient refused for good', 'recipient', 550, 502, '550'],
    ['a message refused for good after its data', 'message', 554, 502, '554'],
    ['a recipient refused for now (greylisting)', 'recipient', 451, 503, null],
  ] as const)(
    'answers %s with %i -> %i, logging the reply code and text',
    async (_name, stage, code, status, header) => {
      const reply = [code, 'policy says no'] as const
      await using sink = await startMailSink({
        port: 0,
        onRecipient: () => (stage === 'recipient' ? reply : undefined),
        onMessage: () => (stage === 'message' ? reply : undefined),
      })
      const captured = captureLog()
      await using role = startNotification({
        mailer: createSmtpMailer(plainConfig(sink)),
        appVersion: 'V1',
        port: 0,
        log: captured.log,
      })
      const response = await send(role.url, body)
      expect(response.status).toBe(status)
      expect(response.headers.get('mail-refused-permanently')).toBe(header)
      expect(captured.lines.find((l) => l['message'] === 'mail not sent')).toMatchObject({
        level: 'warn',
        smtpHost: 'localhost',
        command: stage === 'recipient' ? 'RCPT TO' : 'DATA',
        reply: { code, text: `${code} policy says no` },
        budgetExceeded: false,
      })
      expect(sink.messages()).toHaveLength(0)
    },
  )

  test('logs the socket error when nothing listens on the SMTP port', async () => {
    const sink = await startMailSink({ port: 0 })
    await sink.stop()
    const captured = captureLog()
    await using role = startNotification({
      mailer: createSmtpMailer(plainConfig(sink)),
      appVersion: 'V1',
      port: 0,
      log: captured.log,
    })
    expect((await send(role.url, body)).status).toBe(503)
    const line = captured.lines.find((l) => l['message'] === 'mail not sent')
    expect(line).toMatchObject({ level: 'warn', error: { code: 'ECONNREFUSED' } })
    expect(String((line?.['error'] as { message?: unknown })?.message)).toContain('ECONNREFUSED')
  })

  test('logs the AUTH refusal with its reply, never the password', async () => {
    const { key, cert } = testCertificate()
    await using sink = await startMailSink({ port: 0, tls: { key, cert }, auth: credentials })
    const captured = captureLog()
    const wrong = 'wrong-password-must-not-be-logged'
    await using role = startNotification({
      mailer: createSmtpMailer(mailConfig(sink, { password: new Secret(wrong) }), { tls: { ca: cert } }),
      appVersion: 'V1',
      port: 0,
      log: captured.log,
    })
    expect((await send(role.url, body)).status).toBe(502)
    expect(captured.lines.find((l) => l['message'] === 'mail not sent')).toMatchObject({
      command: 'AUTH PLAIN',
      reply: { code: 535, text: '535 Authentication credentials invalid' },
    })
    expect(captured.text()).not.toContain(wrong)
    expect(captured.text()).not.toContain(Buffer.from(`\u0000${credentials.user}\u0000${wrong}`).toString('base64'))
  })

  test('aborts a transaction the server holds past the budget, before the message is sent', async () => {
    const held = gate()
    await using sink = await startMailSink({ port: 0, beforeRecipient: held.hold })
    const captured = captureLog()
    const budgetMs = 500
    await using role = startNotification({
      mailer: createSmtpMailer(plainConfig(sink), { budgetMs }),
      appVersion: 'V1',
      port: 0,
      log: captured.log,
    })
    const started = Date.now()
    const response = await send(role.url, body)
    // An answer well within a generous multiple of the budget; the exact time is not the point.
    expect(Date.now() - started).toBeLessThan(20 * budgetMs)
    expect(response.status).toBe(503)
    expect(await response.json()).toMatchObject({ apierror: { message: 'Mail server did not finish in time' } })
    expect(captured.lines.find((l) => l['message'] === 'mail not sent')).toMatchObject({ budgetExceeded: true })
    // The client has gone: once the server lets the transaction go on and sees the socket closed, no mail exists.
    held.open()
    await waitUntil(() => expect(sink.connections()).toBe(0))
    expect(sink.messages()).toHaveLength(0)
  })

  test('a stop lets a send in flight finish and answer before the server closes', async () => {
    const held = gate()
    await using sink = await startMailSink({ port: 0, beforeAccept: held.hold })
    const captured = captureLog()
    const role = startNotification({
      mailer: createSmtpMailer(plainConfig(sink)),
      appVersion: 'V1',
      port: 0,
      log: captured.log,
    })
    const answer = send(role.url, body, { 'idempotency-key': 'drain-1' })
    await held.arrived
    const stopped = role.stop()
    // Stopping: new connections are refused while the send is still held by the SMTP server.
    await waitUntil(async () =>
      expect(await fetch(`${role.url}/notification/health-status`).catch(() => 'refused')).toBe('refused'),
    )
    held.open()
    expect((await answer).status).toBe(200)
    await stopped
    expect(sink.messages()).toHaveLength(1)
    expect(captured.lines.filter((l) => l['level'] === 'warn' || l['level'] === 'error')).toEqual([])
  })
})
