// MySQL over TLS (DB_SSL_MODE, DB_SSL_CA) against a MariaDB of the test's own that accepts TLS only
// (require_secure_transport=ON), with certificates this test makes. A recording proxy in front shows what the
// client puts on the wire: with TLS, the SSL request and then nothing but TLS records, so the user name and the
// password's scramble never cross in clear.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { sql } from 'kysely'
import type { DatabaseConfig, DatabaseTls } from '../platform'
import {
  captureLog,
  createTestDatabase,
  type MariadbServer,
  startMariadbServer,
  startTcpProxy,
  type TcpProxy,
  type TestCertificateAuthority,
  type TestDatabase,
  testCertificateAuthority,
  waitUntil,
} from '../testing'
import { createMysqlDatabase, startUsermgmt } from '.'

setDefaultTimeout(180_000)

const clientSslFlag = 0x0800

/** What one connection's client sent: its first packet, and whether every byte after it is a TLS record. */
function readWire(bytes: Buffer) {
  if (bytes.length < 4) return { firstPacket: undefined, restIsTls: bytes.length === 0, bytes }
  const length = bytes.readUIntLE(0, 3)
  const payload = bytes.subarray(4, 4 + length)
  const rest = bytes.subarray(4 + length)
  let at = 0
  let restIsTls = true
  while (at < rest.length) {
    const type = rest[at] ?? 0
    if (type < 20 || type > 23 || rest[at + 1] !== 3 || at + 5 > rest.length) {
      restIsTls = false
      break
    }
    at += 5 + rest.readUInt16BE(at + 3)
  }
  if (at > rest.length) restIsTls = false
  const sslRequest = length === 32 && (payload.readUInt32LE(0) & clientSslFlag) !== 0
  return { firstPacket: { length, sequence: bytes[3], sslRequest }, restIsTls, bytes }
}

let authority: TestCertificateAuthority
let server: MariadbServer
let config: DatabaseConfig
let proxy: TcpProxy

beforeAll(async () => {
  authority = testCertificateAuthority(['localhost'])
  server = await startMariadbServer({ tls: authority.server, requireSecureTransport: true })
  config = await server.createDatabase()
  proxy = await startTcpProxy({ host: server.host, port: server.port })
})
afterAll(async () => {
  await proxy.close()
  await server.stop()
})

const caFile = (path: string) => ({ kind: 'file' as const, path, pem: readFileSync(path, 'utf8') })

interface Attempt {
  /** The server's TLS version as it saw our session, or the error. */
  readonly outcome: { ssl: string } | { error: string }
  /** What the client sent on each connection it opened. */
  readonly wire: ReturnType<typeof readWire>[]
  readonly logLines: Record<string, unknown>[]
}

interface AttemptOptions {
  /** The name connected to (the proxy listens on 127.0.0.1). @default localhost */
  readonly host?: string
  /** @default the TLS-only server's database */
  readonly target?: DatabaseConfig
  /** @default the proxy in front of the TLS-only server */
  readonly via?: TcpProxy
}

/** Connects through a recording proxy with these TLS settings, asks the server about the session, hangs up. */
async function attempt(tls: DatabaseTls | undefined, options: AttemptOptions = {}): Promise<Attempt> {
  const { host = 'localhost', target = config, via = proxy } = options
  const before = via.sentByClients().length
  const captured = captureLog()
  const database = createMysqlDatabase(
    { ...target, host, port: via.port, tls },
    { log: captured.log, acquireTimeoutMs: 10_000, connectionLimit: 1 },
  )
  let outcome: Attempt['outcome']
  try {
    const { rows } = await sql<{ Value: string }>`show session status like 'Ssl_version'`.execute(database.db)
    outcome = { ssl: rows[0]?.Value ?? '' }
  } catch (error) {
    const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error
    const code = cause instanceof Error && 'code' in cause ? String(cause.code) : 'no code'
    outcome = { error: cause instanceof Error ? `${code}: ${cause.message}` : String(cause) }
  } finally {
    await database.destroy()
  }
  return { outcome, wire: via.sentByClients().slice(before).map(readWire), logLines: captured.lines }
}

/** Nothing in clear after the SSL request: no user name, no password, no auth data. */
function expectTlsOnlyOnTheWire(wire: Attempt['wire']) {
  expect(wire.length).toBeGreaterThan(0)
  for (const connection of wire) {
    expect({ firstPacket: connection.firstPacket, restIsTls: connection.restIsTls }).toEqual({
      firstPacket: { length: 32, sequence: 1, sslRequest: true },
      restIsTls: true,
    })
    expect(connection.bytes.includes(Buffer.from(config.user))).toBe(false)
    expect(connection.bytes.includes(Buffer.from(config.password.reveal()))).toBe(false)
  }
}

describe('DB_SSL_MODE against a TLS-only server', () => {
  test('VERIFY_IDENTITY with the CA that signed the certificate connects, and the wire carries only TLS after the SSL request', async () => {
    const result = await attempt({ mode: 'VERIFY_IDENTITY', ca: caFile(authority.caFile) })
    expect(result.outcome).toEqual({ ssl: expect.stringMatching(/^TLSv1\.[23]$/) })
    expectTlsOnlyOnTheWire(result.wire)
  })

  test('VERIFY_IDENTITY refuses a certificate signed by another CA, before sending any credential, with a log line that says so', async () => {
    const result = await attempt({ mode: 'VERIFY_IDENTITY', ca: caFile(authority.otherCaFile) })
    expect(result.outcome).toEqual({ error: expect.stringMatching(/^HANDSHAKE_SSL_ERROR: /) })
    expectTlsOnlyOnTheWire(result.wire)
    expect(result.logLines).toContainEqual(
      expect.objectContaining({
        level: 'error',
        message: 'refused the database server: its certificate failed verification',
        sslMode: 'VERIFY_IDENTITY',
        hint: "the server's certificate does not chain to a CA in DB_SSL_CA",
      }),
    )
  })

  test('VERIFY_IDENTITY refuses a server whose certificate does not carry the name connected to; VERIFY_CA does not check the name', async () => {
    const ca = caFile(authority.caFile)
    const wrongName = await attempt({ mode: 'VERIFY_IDENTITY', ca }, { host: '127.0.0.1' })
    expect(wrongName.outcome).toEqual({ error: expect.stringMatching(/^HANDSHAKE_SSL_ERROR: .*127\.0\.0\.1/) })
    expectTlsOnlyOnTheWire(wrongName.wire)
    expect(wrongName.logLines).toContainEqual(
      expect.objectContaining({ level: 'error', hint: expect.stringContaining('DB_HOSTNAME must be a name') }),
    )
    const chainOnly = await attempt({ mode: 'VERIFY_CA', ca }, { host: '127.0.0.1' })
    expect(chainOnly.outcome).toEqual({ ssl: expect.stringMatching(/^TLSv1\.[23]$/) })
  })

  test('rds trusts only the Amazon RDS CAs, so this test CA is refused', async () => {
    const result = await attempt({ mode: 'VERIFY_IDENTITY', ca: { kind: 'rds' } })
    expect(result.outcome).toEqual({ error: expect.stringMatching(/^HANDSHAKE_SSL_ERROR: /) })
    expectTlsOnlyOnTheWire(result.wire)
  })

  test('REQUIRED and PREFERRED encrypt without checking the certificate', async () => {
    for (const mode of ['REQUIRED', 'PREFERRED'] as const) {
      const result = await attempt({ mode, ca: undefined }, { host: '127.0.0.1' })
      expect(result.outcome).toEqual({ ssl: expect.stringMatching(/^TLSv1\.[23]$/) })
      expectTlsOnlyOnTheWire(result.wire)
    }
  })

  test('without TLS (unset, as today, or DISABLED) the server refuses us, and the user name is on the wire in clear', async () => {
    for (const tls of [undefined, { mode: 'DISABLED' as const, ca: undefined }]) {
      const result = await attempt(tls)
      expect(result.outcome).toEqual({ error: expect.stringMatching(/^ER_ACCESS_DENIED_ERROR: /) })
      expect(result.wire[0]?.firstPacket?.sslRequest).toBe(false)
      expect(result.wire[0]?.bytes.includes(Buffer.from(config.user))).toBe(true)
    }
  })

  test('GIVEN a certificate that fails verification THEN the role answers 503s, never a 500, and recovers once given the right CA', async () => {
    for (const [tls, host] of [
      [{ mode: 'VERIFY_IDENTITY', ca: caFile(authority.otherCaFile) }, 'localhost'],
      [{ mode: 'VERIFY_IDENTITY', ca: caFile(authority.caFile) }, '127.0.0.1'],
    ] as const) {
      const captured = captureLog()
      await using role = startUsermgmt({
        database: createMysqlDatabase(
          { ...config, host, tls },
          { log: captured.log.child({ component: 'database' }), acquireTimeoutMs: 5000 },
        ),
        notificationBaseUrl: 'http://127.0.0.1:9',
        port: 0,
        log: captured.log,
        migrationRetryMs: 100,
      })
      await waitUntil(() =>
        expect(captured.lines).toContainEqual(
          expect.objectContaining({ message: 'database migration failed; retrying' }),
        ),
      )
      for (const path of ['/users', '/user/alice', '/health/readiness']) {
        const response = await fetch(`${role.url}/usermgmt${path}`)
        expect(response.status).toBe(503)
      }
      const create = await fetch(`${role.url}/usermgmt/user`, {
        method: 'POST',
        body: JSON.stringify({
          username: 'alice',
          email: 'alice@example.com',
          role: 'ROLE_USER',
          enabled: true,
          firstname: 'A',
          lastname: 'B',
          password: 'Passw0rd!',
        }),
      })
      expect(create.status).toBe(503)
      expect(
        captured.lines.filter((line) => line['level'] === 'error' && line['component'] === 'database'),
      ).toHaveLength(1)
      expect(captured.text()).not.toContain(config.password.reveal())
    }
    await using good = startUsermgmt({
      database: createMysqlDatabase({
        ...config,
        host: 'localhost',
        tls: { mode: 'VERIFY_IDENTITY', ca: caFile(authority.caFile) },
      }),
      notificationBaseUrl: 'http://127.0.0.1:9',
      port: 0,
      log: captureLog().log,
    })
    await waitUntil(async () => expect((await fetch(`${good.url}/usermgmt/users`)).status).toBe(200), 30_000)
  })
})

describe('DB_SSL_MODE against a server that offers no TLS', () => {
  let plain: TestDatabase
  let plainProxy: TcpProxy
  beforeAll(async () => {
    plain = await createTestDatabase()
    plainProxy = await startTcpProxy({ host: plain.config.host, port: plain.config.port })
  })
  afterAll(async () => {
    await plainProxy.close()
    await plain.drop()
  })

  test('REQUIRED refuses before sending anything, credentials included; PREFERRED falls back to plain text with one warning line', async () => {
    const options = { host: '127.0.0.1', target: plain.config, via: plainProxy }
    {
      const required = await attempt({ mode: 'REQUIRED', ca: undefined }, options)
      expect(required.outcome).toEqual({ error: 'HANDSHAKE_NO_SSL_SUPPORT: Server does not support secure connection' })
      expect(required.wire.map((connection) => connection.bytes.length)).toEqual([0])
      expect(required.logLines).toContainEqual(
        expect.objectContaining({ level: 'warn', hint: expect.stringContaining('the server offers no TLS') }),
      )

      const preferred = await attempt({ mode: 'PREFERRED', ca: undefined }, options)
      expect(preferred.outcome).toEqual({ ssl: '' })
      expect(
        preferred.logLines.filter(
          (line) =>
            line['message'] === 'the database server offers no TLS; DB_SSL_MODE=PREFERRED continues without encryption',
        ),
      ).toHaveLength(1)
    }
  })
})
