import { describe, expect, test } from 'bun:test'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { inspect } from 'node:util'
import { testCertificate } from '../testing'
import { formatApiTimestamp, inferRole, loadConfig, Secret } from '.'

describe('loadConfig', () => {
  test('gives the originals defaults when nothing is set', () => {
    const result = loadConfig('usermgmt', {})
    expect(result.ok).toBe(true)
    if (!result.ok || result.value.role !== 'usermgmt') return
    expect(result.value.port).toBe(8095)
    expect(result.value.db).toMatchObject({ host: 'localhost', port: 3306, name: 'usermgmt', user: 'root' })
    expect(result.value.notification).toEqual({ host: 'localhost', port: 8096 })
    expect(result.value.xray).toMatchObject({
      enabled: true,
      tracingName: 'User-Management-Microservice',
      daemonUdp: { host: '127.0.0.1', port: 2000 },
      contextMissing: 'LOG_ERROR',
      collectSqlQueries: false,
    })
  })

  test('reads the course manifest environment for both roles', () => {
    const user = loadConfig('usermgmt', {
      DB_HOSTNAME: 'mysql',
      DB_PORT: '3306',
      DB_NAME: 'usermgmt',
      DB_USERNAME: 'dbadmin',
      DB_PASSWORD: 'dbpassword11',
      NOTIFICATION_SERVICE_HOST: 'notification-clusterip-service',
      NOTIFICATION_SERVICE_PORT: '8096',
      AWS_XRAY_TRACING_NAME: 'User-Management-Microservice',
      AWS_XRAY_DAEMON_ADDRESS: 'xray-service.default:2000',
      AWS_XRAY_CONTEXT_MISSING: 'LOG_ERROR',
    })
    expect(user.ok).toBe(true)
    if (user.ok && user.value.role === 'usermgmt') {
      expect(user.value.db.password.reveal()).toBe('dbpassword11')
      expect(user.value.xray.daemonUdp).toEqual({ host: 'xray-service.default', port: 2000 })
    }
    const mail = loadConfig('notification', {
      AWS_MAIL_SERVER_HOST: 'smtp-service',
      AWS_MAIL_SERVER_USERNAME: 'AKIA',
      AWS_MAIL_SERVER_PASSWORD: 'secret',
      AWS_MAIL_SERVER_FROM_ADDRESS: 'stacksimplify@gmail.com',
      AWS_XRAY_TRACING_NAME: 'V2-Notification-Microservice',
      APP_VERSION: 'V2',
    })
    expect(mail.ok).toBe(true)
    if (mail.ok && mail.value.role === 'notification') {
      expect(mail.value.mail).toMatchObject({
        host: 'smtp-service',
        port: 587,
        tls: 'starttls',
        from: 'stacksimplify@gmail.com',
      })
      expect(mail.value.appVersion).toBe('V2')
      expect(mail.value.xray.tracingName).toBe('V2-Notification-Microservice')
    }
  })

  test('accepts the SDK form with separate TCP and UDP daemon addresses', () => {
    const result = loadConfig('usermgmt', { AWS_XRAY_DAEMON_ADDRESS: 'tcp:10.0.0.1:2001 udp:10.0.0.2:2000' })
    expect(result.ok && result.value.xray).toMatchObject({
      daemonTcp: { host: '10.0.0.1', port: 2001 },
      daemonUdp: { host: '10.0.0.2', port: 2000 },
    })
  })

  test('reports every problem and shows secrets as ***', () => {
    const result = loadConfig(
      'usermgmt',
      { DB_PORT: '70000', DB_PASSWORD: 'x'.repeat(300), AWS_XRAY_SDK_ENABLED: 'yes' },
      { port: '-1' },
    )
    expect(result).toEqual({
      ok: false,
      problems: [
        'AWS_XRAY_SDK_ENABLED: must be true or false (got "yes")',
        'DB_PORT: must be a port number from 1 to 65535 (got "70000")',
        'DB_PASSWORD: must be at most 256 characters (got ***)',
        '--port: must be a port number from 0 to 65535 (got "-1")',
      ],
    })
  })
})

describe('DB_SSL_MODE and DB_SSL_CA', () => {
  const dbTls = (env: Record<string, string>) => {
    const result = loadConfig('usermgmt', env)
    return result.ok && result.value.role === 'usermgmt' ? { ok: true, tls: result.value.db.tls } : result
  }

  test('unset keeps the plain connection the original made; the other modes need no CA', () => {
    expect(dbTls({})).toEqual({ ok: true, tls: undefined })
    expect(dbTls({ DB_SSL_MODE: 'DISABLED' })).toEqual({ ok: true, tls: { mode: 'DISABLED', ca: undefined } })
    expect(dbTls({ DB_SSL_MODE: 'preferred' })).toEqual({ ok: true, tls: { mode: 'PREFERRED', ca: undefined } })
    expect(dbTls({ DB_SSL_MODE: 'REQUIRED' })).toEqual({ ok: true, tls: { mode: 'REQUIRED', ca: undefined } })
  })

  test('the verifying modes take the RDS CA set or a PEM file, read at start-up', () => {
    expect(dbTls({ DB_SSL_MODE: 'VERIFY_IDENTITY', DB_SSL_CA: 'rds' })).toEqual({
      ok: true,
      tls: { mode: 'VERIFY_IDENTITY', ca: { kind: 'rds' } },
    })
    const { certFile, cert } = testCertificate()
    expect(dbTls({ DB_SSL_MODE: 'VERIFY_CA', DB_SSL_CA: certFile })).toEqual({
      ok: true,
      tls: { mode: 'VERIFY_CA', ca: { kind: 'file', path: certFile, pem: cert } },
    })
  })

  test('refuses, in one pass, a mode that is not one, a verifying mode without a CA, and a CA that would be ignored', () => {
    expect(dbTls({ DB_SSL_MODE: 'ON', DB_PORT: 'x' })).toEqual({
      ok: false,
      problems: [
        'DB_PORT: must be a port number from 1 to 65535 (got "x")',
        'DB_SSL_MODE: must be one of DISABLED, PREFERRED, REQUIRED, VERIFY_CA, VERIFY_IDENTITY (got "ON")',
      ],
    })
    expect(dbTls({ DB_SSL_MODE: 'VERIFY_IDENTITY', DB_PORT: 'x' })).toEqual({
      ok: false,
      problems: [
        'DB_PORT: must be a port number from 1 to 65535 (got "x")',
        "DB_SSL_CA: is required with DB_SSL_MODE=VERIFY_IDENTITY: a PEM file of the CA that signed the server's certificate, or rds (not set)",
      ],
    })
    expect(dbTls({ DB_SSL_MODE: 'REQUIRED', DB_SSL_CA: 'rds' })).toEqual({
      ok: false,
      problems: [
        'DB_SSL_CA: is used only with DB_SSL_MODE=VERIFY_CA or VERIFY_IDENTITY (the other modes do not check certificates) (got "rds")',
      ],
    })
    expect(dbTls({ DB_SSL_CA: 'rds' })).toMatchObject({ ok: false })
  })

  test('refuses a CA file that cannot be read or holds no certificate', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ca-'))
    const notPem = join(dir, 'not.pem')
    writeFileSync(notPem, 'hello')
    const broken = join(dir, 'broken.pem')
    writeFileSync(broken, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n')
    const problem = (file: string) => {
      const result = dbTls({ DB_SSL_MODE: 'VERIFY_IDENTITY', DB_SSL_CA: file })
      return 'problems' in result ? result.problems : result
    }
    expect(problem(join(dir, 'missing.pem'))).toEqual([
      `DB_SSL_CA: cannot read ${dir}/missing.pem (ENOENT) (got "${dir}/missing.pem")`,
    ])
    expect(problem(notPem)).toEqual([`DB_SSL_CA: ${notPem} holds no PEM certificate (got "${notPem}")`])
    expect(problem(broken)).toEqual([
      `DB_SSL_CA: ${broken}: certificate 1 of 1 is not a valid certificate (got "${broken}")`,
    ])
  })
})

test('OTEL_PROPAGATORS names the trace headers read and sent: a list, none, or a clear refusal', () => {
  const propagators = (value: string) => {
    const result = loadConfig('usermgmt', { OTEL_PROPAGATORS: value })
    return result.ok ? result.value.xray.propagators : result.problems
  }
  expect(loadConfig('usermgmt', {}).ok && propagators('tracecontext,baggage,xray')).toEqual([
    'tracecontext',
    'baggage',
    'xray',
  ])
  expect(propagators(' XRAY , tracecontext ')).toEqual(['xray', 'tracecontext'])
  expect(propagators('none')).toEqual([])
  expect(propagators('b3,xray')).toEqual([
    'OTEL_PROPAGATORS: must list tracecontext, baggage and xray (or be none); b3 is not supported (got "b3,xray")',
  ])
})

test('a Secret never prints its value', () => {
  const secret = new Secret('hunter2')
  expect(`${secret}`).toBe('***')
  expect(JSON.stringify({ secret })).toBe('{"secret":"***"}')
  expect(inspect({ secret })).not.toContain('hunter2')
  expect(secret.reveal()).toBe('hunter2')
})

test('the role follows from the environment when the course manifests start the image without arguments', () => {
  expect(inferRole({ DB_HOSTNAME: 'mysql' })).toBe('usermgmt')
  expect(inferRole({ AWS_MAIL_SERVER_HOST: 'smtp-service' })).toBe('notification')
  expect(inferRole({})).toBeUndefined()
  expect(inferRole({ DB_HOSTNAME: 'mysql', AWS_MAIL_SERVER_HOST: 'smtp-service' })).toBeUndefined()
})

test('ApiError timestamps use the original pattern dd-MM-yyyy hh:mm:ss (12-hour clock)', () => {
  expect(formatApiTimestamp(new Date(Date.UTC(2026, 10, 23, 23, 19, 24)))).toBe('23-11-2026 11:19:24')
  expect(formatApiTimestamp(new Date(Date.UTC(2026, 0, 2, 0, 5, 6)))).toBe('02-01-2026 12:05:06')
})

describe('loadConfig: authentication, the service token and rate limits', () => {
  const token = 'x9Tq3vLm8RbW2yKd7NfH4sGj6PcZ1aEu'

  test('defaults to no authentication, no service token, and the documented rate limits', () => {
    const user = loadConfig('usermgmt', {})
    expect(user.ok && user.value.role === 'usermgmt' && user.value).toMatchObject({
      auth: { mode: 'none' },
      notificationToken: undefined,
      accountLimit: { limit: 30, window: 'hour', burst: 10 },
    })
    const mail = loadConfig('notification', {
      AWS_MAIL_SERVER_HOST: 'smtp',
      AWS_MAIL_SERVER_TLS: 'none',
      AWS_MAIL_SERVER_FROM_ADDRESS: 'a@example.com',
    })
    expect(mail.ok && mail.value.role === 'notification' && mail.value).toMatchObject({
      serviceToken: undefined,
      mailLimit: { limit: 60, window: 'minute', burst: 60 },
    })
  })

  test('reads AUTH_MODE=jwt with a list of audiences, the scopes, the token and the limits (0 turns one off)', () => {
    const result = loadConfig('usermgmt', {
      AUTH_MODE: 'jwt',
      AUTH_JWT_ISSUER: 'https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbCdEf123',
      AUTH_JWT_AUDIENCE: '4p0stm4nclient, 7webclient',
      AUTH_READ_SCOPE: 'usermgmt-readers',
      NOTIFICATION_AUTH_TOKEN: ` ${token}\n`,
      RATE_LIMIT_ACCOUNTS_PER_HOUR: '0',
    })
    expect(result.ok).toBe(true)
    if (!result.ok || result.value.role !== 'usermgmt') return
    expect(result.value.auth).toEqual({
      mode: 'jwt',
      issuer: 'https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbCdEf123',
      audiences: ['4p0stm4nclient', '7webclient'],
      jwksUrl: undefined,
      readScope: 'usermgmt-readers',
      writeScope: 'usermgmt/write',
    })
    // A token read from a file with its trailing newline is the same token on both sides.
    expect(result.value.notificationToken?.reveal()).toBe(token)
    expect(result.value.accountLimit).toBeUndefined()
  })

  test('reports every auth, token and limit problem in one pass, with the token as ***', () => {
    const result = loadConfig('usermgmt', {
      AUTH_MODE: 'jwt',
      AUTH_JWKS_URL: 'http://keys.example.com/jwks.json',
      AUTH_WRITE_SCOPE: 'usermgmt write',
      NOTIFICATION_AUTH_TOKEN: 'short-secret',
      RATE_LIMIT_ACCOUNTS_BURST: '0',
    })
    expect(result).toEqual({
      ok: false,
      problems: [
        'NOTIFICATION_AUTH_TOKEN: must be at least 32 characters (got ***)',
        'AUTH_JWKS_URL: must be an https:// URL (http:// only for localhost) (got "http://keys.example.com/jwks.json")',
        'AUTH_WRITE_SCOPE: must be one scope or group name: no spaces, quotes or backslashes (got "usermgmt write")',
        'RATE_LIMIT_ACCOUNTS_BURST: must be a whole number from 1 to 1000000 (got "0")',
        'AUTH_JWT_ISSUER: is required when AUTH_MODE=jwt (not set)',
        'AUTH_JWT_AUDIENCE: is required when AUTH_MODE=jwt (not set)',
      ],
    })
  })

  test('refuses AUTH_JWT_* without AUTH_MODE=jwt, which would look protected and be open', () => {
    const result = loadConfig('usermgmt', { AUTH_JWT_ISSUER: 'https://issuer.example.com', AUTH_JWT_AUDIENCE: 'api' })
    expect(result).toEqual({
      ok: false,
      problems: [
        'AUTH_JWT_ISSUER: is set, but AUTH_MODE is not jwt, so no token would be checked: set AUTH_MODE=jwt (got "https://issuer.example.com")',
        'AUTH_JWT_AUDIENCE: is set, but AUTH_MODE is not jwt, so no token would be checked: set AUTH_MODE=jwt (got "api")',
      ],
    })
  })

  test('the notification role checks its token and limits too, never showing the token', () => {
    const result = loadConfig('notification', {
      AWS_MAIL_SERVER_HOST: 'smtp',
      AWS_MAIL_SERVER_TLS: 'none',
      AWS_MAIL_SERVER_FROM_ADDRESS: 'a@example.com',
      NOTIFICATION_AUTH_TOKEN: `${token} with spaces`,
      RATE_LIMIT_MAILS_PER_MINUTE: 'lots',
    })
    expect(result).toEqual({
      ok: false,
      problems: [
        'NOTIFICATION_AUTH_TOKEN: may hold only letters, digits and -._~+/ (then = padding) (got ***)',
        'RATE_LIMIT_MAILS_PER_MINUTE: must be a whole number from 0 to 1000000 (got "lots")',
      ],
    })
  })
})
