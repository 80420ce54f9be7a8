import { Kysely, type KyselyConfig, MysqlDialect, sql } from 'kysely'
import { createPool } from 'mysql2'
import mysql2Package from 'mysql2/package.json' with { type: 'json' }
import type { DatabaseConfig } from '../platform'
import { onceVersion, type UsermgmtDatabase } from './db'
import { guardedDialect, type Instrumentation } from './db-driver'
import type { UsermgmtSchema } from './db-schema'

export interface MysqlOptions {
  /** Connections in the pool. @default 10 */
  readonly connectionLimit?: number
  /** How long a connect, or a query, may take before the request gets a 503. @default 5000 */
  readonly timeoutMs?: number
  readonly plugins?: KyselyConfig['plugins']
}

export function createMysqlDatabase(config: DatabaseConfig, options: MysqlOptions = {}): UsermgmtDatabase {
  const timeoutMs = options.timeoutMs ?? 5000
  const pool = createPool({
    host: config.host,
    port: config.port,
    user: config.user,
    password: config.password.reveal(),
    database: config.name,
    connectionLimit: options.connectionLimit ?? 10,
    maxIdle: options.connectionLimit ?? 10,
    idleTimeout: 60_000,
    connectTimeout: Math.min(timeoutMs, 3000),
    enableKeepAlive: true,
    waitForConnections: true,
    queueLimit: 100,
    supportBigNumbers: true,
    charset: 'utf8mb4',
  })
  const instrumentation: Instrumentation = { trace: undefined }
  const db = new Kysely<UsermgmtSchema>({
    dialect: guardedDialect(new MysqlDialect({ pool }), timeoutMs, instrumentation),
    ...(options.plugins ? { plugins: options.plugins } : {}),
  })
  return {
    db,
    dialect: 'mysql',
    label: `${config.name}@${config.host}`,
    url: `mysql://${config.host}:${config.port}/${config.name}`,
    databaseType: 'MySQL',
    driverVersion: `mysql2 ${mysql2Package.version}`,
    user: config.user,
    instrument: (trace) => {
      instrumentation.trace = trace
    },
    serverVersion: onceVersion(db, sql<{ v: string }>`select version() as v`),
    destroy: () => db.destroy(),
  }
}
