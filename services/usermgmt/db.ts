import { Database as SqliteDatabase } from 'bun:sqlite'
import {
  type DatabaseConnection,
  type Dialect,
  type Driver,
  type Generated,
  Kysely,
  type KyselyConfig,
  MysqlDialect,
  SqliteDialect,
  type TransactionSettings,
} from 'kysely'
import { createPool } from 'mysql2'
import { AppError, type DatabaseConfig } from '../platform'

/** The `users` table exactly as the original's JPA mapping created it (all NOT NULL). */
export interface UsersTable {
  username: string
  password: string
  // bit(1) on MySQL (as Hibernate made it, read back as a Buffer), integer on SQLite.
  enabled: boolean | number | Uint8Array
  role: string
  email: string
  firstname: string
  lastname: string
}

export type OutboxStatus = 'pending' | 'delivered' | 'failed'

export interface NotificationOutboxTable {
  id: Generated<number>
  idempotency_key: string
  payload: string
  trace_header: string | null
  status: OutboxStatus
  attempts: number
  created_at: number
  next_attempt_at: number
  claimed_until: number | null
  delivered_at: number | null
  last_error: string | null
}

export interface UsermgmtSchema {
  users: UsersTable
  notification_outbox: NotificationOutboxTable
}

export type UsermgmtDb = Kysely<UsermgmtSchema>
export type SqlDialectName = 'mysql' | 'sqlite'

export interface UsermgmtDatabase {
  readonly db: UsermgmtDb
  readonly dialect: SqlDialectName
  /** `<database>@<host>`, the name the database has in traces and logs (never the password). */
  readonly label: string
  destroy(): Promise<void>
}

// Driver and network codes that mean "the database cannot be reached or will not have us right now".
const unavailableCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'PROTOCOL_ENQUEUE_AFTER_FATAL_ERROR',
  'ER_ACCESS_DENIED_ERROR',
  'ER_BAD_DB_ERROR',
  'ER_CON_COUNT_ERROR',
  'ER_LOCK_WAIT_TIMEOUT',
  'ER_LOCK_DEADLOCK',
  'ER_SERVER_SHUTDOWN',
  'SQLITE_BUSY',
  'SQLITE_LOCKED',
  'SQLITE_CANTOPEN',
])

function errorCode(error: unknown): string | undefined {
  if (error === null || typeof error !== 'object') return undefined
  const code = (error as { code?: unknown }).code
  return typeof code === 'string' ? code : undefined
}

export function isUnavailable(error: unknown): boolean {
  if (error instanceof AppError) return error.kind === 'unavailable'
  const code = errorCode(error)
  if (code !== undefined) return unavailableCodes.has(code)
  return error instanceof Error && /pool is closed|connection.*(closed|lost)|query timed out/i.test(error.message)
}

export function isDuplicateKey(error: unknown): boolean {
  const code = errorCode(error)
  return code === 'ER_DUP_ENTRY' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY'
}

function translate(error: unknown): unknown {
  if (error instanceof AppError || !isUnavailable(error)) return error
  return new AppError('unavailable', 'Database unavailable', { cause: error })
}

async function translated<T>(work: Promise<T>): Promise<T> {
  try {
    return await work
  } catch (error) {
    throw translate(error)
  }
}

async function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new AppError('unavailable', 'Database unavailable', { debugMessage: 'query timed out' })),
      ms,
    )
  })
  try {
    return await Promise.race([work, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/**
 * Wraps a Kysely driver so that every way the database can be out of reach (refused, reset, timed out,
 * wrong credentials) becomes one AppError('unavailable') -> a fast 503, in this one place.
 */
class GuardedDriver implements Driver {
  readonly #inner: Driver
  readonly #queryTimeoutMs: number
  readonly #connections = new WeakMap<DatabaseConnection, DatabaseConnection>()

  constructor(inner: Driver, queryTimeoutMs: number) {
    this.#inner = inner
    this.#queryTimeoutMs = queryTimeoutMs
  }

  #unwrap(connection: DatabaseConnection): DatabaseConnection {
    return this.#connections.get(connection) ?? connection
  }

  init(): Promise<void> {
    return translated(this.#inner.init())
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    const inner = await translated(withTimeout(this.#inner.acquireConnection(), this.#queryTimeoutMs))
    const timeoutMs = this.#queryTimeoutMs
    const wrapped: DatabaseConnection = {
      executeQuery: (query) => translated(withTimeout(inner.executeQuery(query), timeoutMs)),
      streamQuery: (query, chunkSize) => inner.streamQuery(query, chunkSize),
    }
    this.#connections.set(wrapped, inner)
    return wrapped
  }

  beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    return translated(this.#inner.beginTransaction(this.#unwrap(connection), settings))
  }

  commitTransaction(connection: DatabaseConnection): Promise<void> {
    return translated(this.#inner.commitTransaction(this.#unwrap(connection)))
  }

  rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    return translated(this.#inner.rollbackTransaction(this.#unwrap(connection)))
  }

  releaseConnection(connection: DatabaseConnection): Promise<void> {
    return this.#inner.releaseConnection(this.#unwrap(connection))
  }

  destroy(): Promise<void> {
    return this.#inner.destroy()
  }
}

function guarded(dialect: Dialect, queryTimeoutMs: number): Dialect {
  return {
    createAdapter: () => dialect.createAdapter(),
    createDriver: () => new GuardedDriver(dialect.createDriver(), queryTimeoutMs),
    createQueryCompiler: () => dialect.createQueryCompiler(),
    createIntrospector: (db) => dialect.createIntrospector(db),
  }
}

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
  const db = new Kysely<UsermgmtSchema>({
    dialect: guarded(new MysqlDialect({ pool }), timeoutMs),
    ...(options.plugins ? { plugins: options.plugins } : {}),
  })
  return { db, dialect: 'mysql', label: `${config.name}@${config.host}`, destroy: () => db.destroy() }
}

/** bun:sqlite behind Kysely's SqliteDialect: the same queries and migrations as MySQL, for `./app dev`. */
export function createSqliteDatabase(file: string): UsermgmtDatabase {
  const sqlite = new SqliteDatabase(file, { create: true, strict: true })
  sqlite.run('pragma journal_mode = wal')
  sqlite.run('pragma busy_timeout = 5000')
  sqlite.run('pragma foreign_keys = on')
  const db = new Kysely<UsermgmtSchema>({
    dialect: guarded(
      new SqliteDialect({
        database: {
          close: () => sqlite.close(),
          prepare(text) {
            const statement = sqlite.prepare(text)
            return {
              reader: statement.columnNames.length > 0,
              all: (parameters) => statement.all(...(parameters as never[])),
              run: (parameters) => statement.run(...(parameters as never[])),
              iterate: (parameters) => statement.iterate(...(parameters as never[])),
            }
          },
        },
      }),
      5000,
    ),
  })
  const name = file.split('/').pop() ?? file
  return { db, dialect: 'sqlite', label: `${name}@localhost`, destroy: () => db.destroy() }
}
