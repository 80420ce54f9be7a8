import { describe, expect, test } from 'bun:test'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import packageJson from '../package.json' with { type: 'json' }
import { startMailSink } from '../services/console'
import {
  createTestDatabase,
  runApp,
  sampleEverythingRulesFile,
  spawnApp,
  startFakeDaemon,
  waitUntil,
} from '../services/testing'

describe('the CLI, as a compiled binary', () => {
  test('prints usage for --help and for each command, and the version for --version', () => {
    const main = runApp(['--help'])
    expect(main.code).toBe(0)
    expect(main.stdout).toContain('app serve --role=usermgmt|notification [--port N]')
    expect(main.stdout).toContain('app dev')
    for (const command of ['serve', 'migrate', 'dev']) {
      const help = runApp([command, '--help'])
      expect(help.code).toBe(0)
      expect(help.stdout).toStartWith(`Usage: app ${command}`)
    }
    expect(runApp(['--version'])).toEqual({ code: 0, stdout: `${packageJson.version}\n`, stderr: '' })
  })

  test.each([
    [['frob'], 'app: unknown command "frob"; see app --help'],
    [['serve', '--role=web'], 'app: unknown role "web": use --role=usermgmt or --role=notification'],
    [['serve', '--role=usermgmt', '--verbose'], 'app: unknown option --verbose for serve; see app serve --help'],
    [['dev', 'extra'], 'app: unexpected argument "extra" for dev; see app dev --help'],
    [['serve', '--role=usermgmt', '--port', 'http'], 'app: --port: must be a port number from 0 to 65535 (got "http")'],
    [
      ['serve'],
      'app: serve needs --role=usermgmt or --role=notification (the environment does not tell which: set DB_HOSTNAME for usermgmt or AWS_MAIL_SERVER_HOST for notification)',
    ],
  ])('exits 2 with one line on stderr for %p', (args, line) => {
    const result = runApp(args)
    expect(result).toEqual({ code: 2, stdout: '', stderr: `${line}\n` })
  })

  test.each([
    [['serv'], 'app: unknown command "serv" (did you mean serve?); see app --help'],
    [
      ['--bogus'],
      'app: unknown option --bogus; a command comes first (serve, migrate, outbox, dev, manifests, status, console); see app --help',
    ],
    [
      ['--verison'],
      'app: unknown option --verison (did you mean --version?); a command comes first (serve, migrate, outbox, dev, manifests, status, console); see app --help',
    ],
    [['serve', '--prot', '80'], 'app: unknown option --prot for serve (did you mean --port?); see app serve --help'],
    [['serve', '--role'], 'app: --role needs a value: --role usermgmt|notification; see app serve --help'],
    [
      ['serve', '--port', '--role=usermgmt'],
      'app: --port needs a value, not "--role=usermgmt": --port N, or --port=--role=usermgmt if that is the value; see app serve --help',
    ],
    [['dev', '--data-dir=a', '--help=yes'], 'app: --help takes no value (got "yes"); see app dev --help'],
  ])('names the cause and the fix for %p', (args, line) => {
    expect(runApp(args)).toEqual({ code: 2, stdout: '', stderr: `${line}\n` })
  })

  test('reports every missing variable of a role in one pass, not a few at a time', () => {
    const result = runApp(['serve', '--role=notification'])
    expect(result.code).toBe(2)
    expect(result.stderr.trim().split('\n').sort()).toEqual([
      'app: AWS_MAIL_SERVER_FROM_ADDRESS: is required (not set)',
      'app: AWS_MAIL_SERVER_HOST: is required (not set)',
      'app: AWS_MAIL_SERVER_PASSWORD: is required unless AWS_MAIL_SERVER_TLS=none (not set)',
      'app: AWS_MAIL_SERVER_USERNAME: is required unless AWS_MAIL_SERVER_TLS=none (not set)',
    ])
  })

  test('the notification role logs why a mail was not sent: the socket error, never the password', async () => {
    // A port nothing listens on: the SMTP connection is refused.
    const closed = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } })
    const smtpPort = closed.port
    closed.stop(true)
    await using app = spawnApp(['serve', '--role=notification', '--port', '0'], {
      AWS_MAIL_SERVER_HOST: '127.0.0.1',
      AWS_MAIL_SERVER_PORT: String(smtpPort),
      AWS_MAIL_SERVER_USERNAME: 'ses-user',
      AWS_MAIL_SERVER_PASSWORD: 'ses-password-do-not-print',
      AWS_MAIL_SERVER_FROM_ADDRESS: 'stacksimplify@gmail.com',
      AWS_XRAY_SDK_ENABLED: 'false',
    })
    const listening = await app.waitForLog((line) => line['message'] === 'notification listening')
    const response = await fetch(`http://127.0.0.1:${listening['port']}/notification/send`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ subject: 's', content: 'c', toEmails: ['a@example.com'] }),
    })
    expect(response.status).toBe(503)
    const line = await app.waitForLog((l) => l['message'] === 'mail not sent')
    expect(line).toMatchObject({ level: 'warn', smtpHost: '127.0.0.1', error: { code: 'ECONNREFUSED' } })
    expect(app.stdout()).not.toContain('ses-password-do-not-print')
  })

  test('dev names the variable that moves a port something else holds', async () => {
    using held = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } })
    const ports = {
      DEV_USERMGMT_PORT: '0',
      DEV_NOTIFICATION_PORT: '0',
      DEV_SMTP_PORT: '0',
      DEV_XRAY_PORT: '0',
      DEV_OTLP_PORT: '0',
    }
    const dataDir = mkdtempSync(join(tmpdir(), 'app-dev-clash-'))
    for (const variable of ['DEV_SMTP_PORT', 'DEV_OTLP_PORT', 'DEV_USERMGMT_PORT'] as const) {
      const result = runApp(['dev', '--data-dir', dataDir], { ...ports, [variable]: String(held.port) })
      expect(result.code).toBe(2)
      expect(result.stderr).toBe(
        `app: ${variable}: port ${held.port} is already in use (another ./app dev?); stop what holds it, or set ${variable} to a free port (0 picks one)\n`,
      )
    }
  })

  test('reports every bad environment variable, one line each, before listening, and never echoes a secret', () => {
    const result = runApp(['serve', '--role=usermgmt'], {
      DB_PORT: 'abc',
      DB_HOSTNAME: 'bad host!',
      DB_PASSWORD: 'hunter2-do-not-print',
      AWS_XRAY_DAEMON_ADDRESS: 'xray-service.default',
      LOG_LEVEL: 'loud',
    })
    expect(result.code).toBe(2)
    expect(result.stdout).toBe('')
    expect(result.stderr.trim().split('\n').sort()).toEqual([
      'app: AWS_XRAY_DAEMON_ADDRESS: must be host:port or "tcp:host:port udp:host:port" (got "xray-service.default")',
      'app: DB_HOSTNAME: must be a host name or an IP address (got "bad host!")',
      'app: DB_PORT: must be a port number from 1 to 65535 (got "abc")',
      'app: LOG_LEVEL: must be one of debug, info, warn, error (got "loud")',
    ])
    expect(result.stderr).not.toContain('hunter2')
  })

  test('requires SMTP credentials for the notification role unless TLS is off, without echoing the password', () => {
    const result = runApp(['serve', '--role=notification'], {
      AWS_MAIL_SERVER_HOST: 'smtp-service',
      AWS_MAIL_SERVER_PASSWORD: 'ses-password-do-not-print',
      AWS_MAIL_SERVER_FROM_ADDRESS: 'not-an-address',
      AWS_MAIL_SERVER_TLS: 'ssl',
    })
    expect(result.code).toBe(2)
    expect(result.stderr.trim().split('\n').sort()).toEqual([
      'app: AWS_MAIL_SERVER_FROM_ADDRESS: must be an e-mail address (got "not-an-address")',
      'app: AWS_MAIL_SERVER_TLS: must be one of starttls, tls, none (got "ssl")',
      'app: AWS_MAIL_SERVER_USERNAME: is required unless AWS_MAIL_SERVER_TLS=none (not set)',
    ])
    const noUser = runApp(['serve', '--role=notification'], {
      AWS_MAIL_SERVER_HOST: 'smtp-service',
      AWS_MAIL_SERVER_PASSWORD: 'ses-password-do-not-print',
      AWS_MAIL_SERVER_FROM_ADDRESS: 'stacksimplify@gmail.com',
    })
    expect(noUser).toEqual({
      code: 2,
      stdout: '',
      stderr: 'app: AWS_MAIL_SERVER_USERNAME: is required unless AWS_MAIL_SERVER_TLS=none (not set)\n',
    })
  })

  test('migrate creates the schema and exits 0, then reports it up to date; an unreachable database exits 1', async () => {
    await using db = await createTestDatabase()
    const env = db.env
    expect(runApp(['migrate'], env)).toEqual({
      code: 0,
      stdout: `${db.config.name}@${db.config.host}: applied 0001_users, 0002_users_email_unique, 0003_notification_outbox\n`,
      stderr: '',
    })
    expect(runApp(['migrate'], env).stdout).toBe(`${db.config.name}@${db.config.host}: schema already up to date\n`)
    const down = runApp(['migrate'], { ...env, DB_PORT: '9' })
    expect(down.code).toBe(1)
    expect(down.stderr).toMatch(/^app: migration of test_\w+@127\.0\.0\.1 failed: .+\n$/)
  })

  test('rejects a malformed sampling rules file with one line and exit 2, before listening', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'rules-')), 'bad.json')
    writeFileSync(file, JSON.stringify({ version: 2, default: { fixed_target: 1, rate: 2 } }))
    const result = runApp(['serve', '--role=notification', '--sampling-rules', file], {
      AWS_MAIL_SERVER_HOST: '127.0.0.1',
      AWS_MAIL_SERVER_TLS: 'none',
      AWS_MAIL_SERVER_FROM_ADDRESS: 'stacksimplify@gmail.com',
    })
    expect(result.code).toBe(2)
    expect(result.stdout).toBe('')
    expect(result.stderr).toBe(
      `app: AWS_XRAY_SAMPLING_RULES: ${file}: default.rate: Too big: expected number to be <=1\n`,
    )
  })

  test('serve without --role picks the role from the course manifest environment', async () => {
    await using sink = await startMailSink({ port: 0 })
    await using app = spawnApp(['serve', '--port', '0'], {
      AWS_MAIL_SERVER_HOST: '127.0.0.1',
      AWS_MAIL_SERVER_PORT: String(sink.port),
      AWS_MAIL_SERVER_TLS: 'none',
      AWS_MAIL_SERVER_FROM_ADDRESS: 'stacksimplify@gmail.com',
      AWS_XRAY_TRACING_NAME: 'V1-Notification-Microservice',
      AWS_XRAY_DAEMON_ADDRESS: 'xray-service.default:2000',
      AWS_XRAY_CONTEXT_MISSING: 'LOG_ERROR',
    })
    const listening = await app.waitForLog((line) => line['message'] === 'notification listening')
    expect(listening['role']).toBe('notification')
    const health = await fetch(`http://127.0.0.1:${listening['port']}/notification/health-status`)
    expect(await health.text()).toBe('Notification Service is UP and Running - V1')
    app.kill('SIGTERM')
    expect(await app.exited).toBe(0)
  })

  test('on SIGTERM finishes the request in flight, refuses new ones, sends every segment, and exits 0', async () => {
    let release: () => void = () => {}
    const held = new Promise<void>((resolve) => {
      release = resolve
    })
    let arrived: () => void = () => {}
    const mailArrived = new Promise<void>((resolve) => {
      arrived = resolve
    })
    await using sink = await startMailSink({
      port: 0,
      beforeAccept: () => {
        arrived()
        return held
      },
    })
    using daemon = await startFakeDaemon()
    await using app = spawnApp(['serve', '--role=notification', '--port', '0'], {
      AWS_MAIL_SERVER_HOST: '127.0.0.1',
      AWS_MAIL_SERVER_PORT: String(sink.port),
      AWS_MAIL_SERVER_TLS: 'none',
      AWS_MAIL_SERVER_FROM_ADDRESS: 'stacksimplify@gmail.com',
      AWS_XRAY_DAEMON_ADDRESS: daemon.address,
      AWS_XRAY_SAMPLING_RULES: sampleEverythingRulesFile(),
    })
    const port = (await app.waitForLog((line) => line['message'] === 'notification listening'))['port']
    const inFlight = fetch(`http://127.0.0.1:${port}/notification/send`, {
      method: 'POST',
      body: JSON.stringify({ subject: 's', content: 'c', toEmails: ['a@example.com'] }),
    })
    await mailArrived
    // Answered just before the signal: their segments wait in the tracer's batch (up to 50 ms) when it comes.
    const quick = await Promise.all(
      Array.from({ length: 10 }, () => fetch(`http://127.0.0.1:${port}/notification/xray`)),
    )
    app.kill('SIGTERM')
    await app.waitForLog((line) => line['message'] === 'shutting down')
    await expect(fetch(`http://127.0.0.1:${port}/notification/health-status`)).rejects.toThrow()
    release()
    const sent = await inFlight
    expect(sent.status).toBe(200)
    expect(await app.exited).toBe(0)
    expect(sink.messages()).toHaveLength(1)
    // Every segment, the one finished during the drain included, left before the process exited.
    const root = (response: Response) => /Root=([^;]+)/.exec(response.headers.get('x-amzn-trace-id') ?? '')?.[1]
    const segments = () => daemon.datagrams.map((d) => d.document).filter((d) => d.type === undefined)
    // Sent before the exit; the wait only covers this process reading its socket.
    await waitUntil(() => {
      const missing = [...quick, sent].map(root).filter((id) => !segments().some((d) => d.trace_id === id))
      expect(missing).toEqual([])
    }, 2000)
    const mail = segments().find((d) => d.trace_id === root(sent))
    expect(mail?.subsegments?.map((s) => s.name)).toEqual(['127.0.0.1'])
    expect(daemon.invalid).toEqual([])
  })
})
