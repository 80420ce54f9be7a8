// POST /notification/send with NOTIFICATION_AUTH_TOKEN and a mail rate limit, on a real socket and SMTP server.
import { afterAll, beforeAll, beforeEach, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { type MailSink, startMailSink } from '../console'
import { type RateLimitConfig, Secret } from '../platform'
import { captureLog } from '../testing'
import { createSmtpMailer, localSinkMail, startNotification } from '.'

// Each test starts a role and talks SMTP: 5 s (bun's default) is too short on a loaded machine.
setDefaultTimeout(60_000)

const token = 'kq7R2mZx9VbN4tLw8YcH3sJd6FgP1aEu5Wn0='

let sink: MailSink
beforeAll(async () => {
  sink = await startMailSink({ port: 0 })
})
afterAll(async () => {
  await sink.stop()
})
beforeEach(() => sink.clear())

function start(options: { serviceToken?: Secret; mailLimit?: RateLimitConfig } = {}) {
  const captured = captureLog()
  const role = startNotification({
    mailer: createSmtpMailer(localSinkMail(sink.port)),
    appVersion: 'V1',
    port: 0,
    log: captured.log,
    ...options,
  })
  return Object.assign(role, { captured })
}

const mail = (to = 'bob@example.com') => ({ subject: 's', content: 'c', toEmails: [to] })

function send(base: string, body: unknown, headers: Record<string, string> = {}) {
  return fetch(`${base}/notification/send`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  })
}

interface ApiError {
  apierror: { status: string; message: string; debugMessage: string | null }
}

describe('POST /notification/send with NOTIFICATION_AUTH_TOKEN set', () => {
  test('refuses a caller without the token, or with another, with 401 and WWW-Authenticate, sending nothing', async () => {
    await using role = start({ serviceToken: new Secret(token) })
    const missing = await send(role.url, mail())
    expect(missing.status).toBe(401)
    expect(missing.headers.get('www-authenticate')).toBe('Bearer realm="notification"')
    expect(((await missing.json()) as ApiError).apierror).toMatchObject({
      status: 'UNAUTHORIZED',
      message: 'Authentication required',
    })
    for (const authorization of [`Bearer ${token.slice(0, -2)}`, `Bearer ${token}x`, `Basic ${token}`, 'Bearer']) {
      const response = await send(role.url, mail(), { authorization })
      expect(response.status).toBe(401)
      await response.body?.cancel()
    }
    const wrong = await send(role.url, mail(), { authorization: `Bearer ${'A'.repeat(40)}` })
    expect(wrong.headers.get('www-authenticate')).toBe(
      'Bearer realm="notification", error="invalid_token", error_description="The service token is not accepted"',
    )
    expect(sink.messages()).toHaveLength(0)
    expect(role.captured.text()).not.toContain(token)
  })

  test('sends the mail for a caller with the token; the other endpoints stay open', async () => {
    await using role = start({ serviceToken: new Secret(token) })
    expect((await send(role.url, mail(), { authorization: `bearer ${token}` })).status).toBe(200)
    expect(await sink.waitFor(1)).toHaveLength(1)
    expect((await fetch(`${role.url}/notification/health-status`)).status).toBe(200)
    expect((await fetch(`${role.url}/notification/xray`)).status).toBe(200)
    expect(role.captured.text()).not.toContain(token)
  })

  test('without the variable, sends for anyone, as the course runs it', async () => {
    await using role = start()
    expect((await send(role.url, mail())).status).toBe(200)
  })
})

describe('POST /notification/send with a mail rate limit', () => {
  test('answers 429 with Retry-After as an ApiError once the burst is spent, counting only mails sent', async () => {
    await using role = start({
      serviceToken: new Secret(token),
      mailLimit: { limit: 1, window: 'hour', burst: 2 },
    })
    const authorization = `Bearer ${token}`
    // Refused requests (no token, bad input) use up nothing.
    expect((await send(role.url, mail())).status).toBe(401)
    expect((await send(role.url, { toEmails: [] }, { authorization })).status).toBe(400)
    expect((await send(role.url, mail('a@example.com'), { authorization })).status).toBe(200)
    expect((await send(role.url, mail('b@example.com'), { authorization })).status).toBe(200)
    const limited = await send(role.url, mail('c@example.com'), { authorization })
    expect(limited.status).toBe(429)
    const retryAfter = Number(limited.headers.get('retry-after'))
    expect(retryAfter).toBeGreaterThan(3000)
    expect(retryAfter).toBeLessThanOrEqual(3600)
    const body = (await limited.json()) as ApiError
    expect(body.apierror).toMatchObject({ status: 'TOO_MANY_REQUESTS', message: 'Too many requests' })
    expect(body.apierror.debugMessage).toStartWith('Mail sending per service token is limited to 1 per hour')
    expect(sink.messages().map((m) => m.to)).toEqual(['a@example.com', 'b@example.com'])
    // A caller without the token is still told so, not that the rate is spent.
    expect((await send(role.url, mail())).status).toBe(401)
  })

  test("limits by the caller's address when no token is configured, whatever X-Forwarded-For says", async () => {
    await using role = start({ mailLimit: { limit: 1, window: 'hour', burst: 1 } })
    expect((await send(role.url, mail())).status).toBe(200)
    expect((await send(role.url, mail())).status).toBe(429)
    // X-Forwarded-For is not the caller here: nothing in front of notification appends it.
    expect((await send(role.url, mail(), { 'x-forwarded-for': '203.0.113.9' })).status).toBe(429)
  })
})
