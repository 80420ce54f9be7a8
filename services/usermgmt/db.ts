import { Database as SqliteDatabase } from 'bun:sqlite'
import {
  type CompiledQuery,
  type DatabaseConnection,
  type Dialect,
  type Driver,
  type Generated,
  Kysely,
  type KyselyConfig,
  MysqlDialect,
  type RawBuilder,
  SqliteDialect,
  sql,
  type TransactionSettings,
} from 'kysely'
import { createPool } from 'mysql2'
import mysql2Package from 'mysql2/package.json' with { type: 'json' }
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

/** Runs one query, e.g. inside a trace subsegment. */
export type QueryTrace = <T>(query: CompiledQuery, run: () => Promise<T>) => Promise<T>

/** What traces say about the database: never the password. */
export interface DatabaseDescription {
  /** `<database>@<host>`, the name the database has in traces and logs. */
  readonly label: string
  readonly url: string
  readonly databaseType: 'MySQL' | 'SQLite'
  readonly driverVersion: string
  readonly user: string | undefined
}

export interface UsermgmtDatabase extends DatabaseDescription {
  readonly db: UsermgmtDb
  readonly dialect: SqlDialectName
  /** Every query from now on runs through this (the tracing layer's SQL subsegments). */
  instrument(trace: QueryTrace): void
  /** The server's version, e.g. 10.11.19-MariaDB; read once. */
  serverVersion(): Promise<string | undefined>
  destroy(): Promise<void>
}

interface Instrumentation {
  trace: QueryTrace | undefined
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
  readonly #instrumentation: Instrumentation
  readonly #connections = new WeakMap<DatabaseConnection, DatabaseConnection>()

  constructor(inner: Driver, queryTimeoutMs: number, instrumentation: Instrumentation) {
    this.#inner = inner
    this.#queryTimeoutMs = queryTimeoutMs
    this.#instrumentation = instrumentation
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
    const instrumentation = this.#instrumentation
    const wrapped: DatabaseConnection = {
      executeQuery: <R>(query: CompiledQuery) => {
        const run = () => translated(withTimeout(inner.executeQuery<R>(query), timeoutMs))
        return instrumentation.trace ? instrumentation.trace(query, run) : run()
      },
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

function guarded(dialect: Dialect, queryTimeoutMs: number, instrumentation: Instrumentation): Dialect {
  return {
    createAdapter: () => dialect.createAdapter(),
    createDriver: () => new GuardedDriver(dialect.createDriver(), queryTimeoutMs, instrumentation),
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
  const instrumentation: Instrumentation = { trace: undefined }
  const db = new Kysely<UsermgmtSchema>({
    dialect: guarded(new MysqlDialect({ pool }), timeoutMs, instrumentation),
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

function onceVersion(db: UsermgmtDb, query: RawBuilder<{ v: string }>): () => Promise<string | undefined> {
  let version: string | undefined
  return async () => {
    if (version !== undefined) return version
    try {
      version = (await query.execute(db)).rows[0]?.v
    } catch {
      return undefined
    }
    return version
  }
}

/** bun:sqlite behind Kysely's SqliteDialect: the same queries and migrations as MySQL, for `./app dev`. */
export function createSqliteDatabase(file: string): UsermgmtDatabase {
  const sqlite = new SqliteDatabase(file, { create: true, strict: true })
  sqlite.run('pragma journal_mode = wal')
  sqlite.run('pragma busy_timeout = 5000')
  sqlite.run('pragma foreign_keys = on')
  const instrumentation: Instrumentation = { trace: undefined }
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
      instrumentation,
    ),
  })
  const name = file.split('/').pop() ?? file
  return {
    db,
    dialect: 'sqlite',
    label: `${name}@localhost`,
    url: `sqlite://localhost/${name}`,
    databaseType: 'SQLite',
    driverVersion: `bun:sqlite ${Bun.version}`,
    user: undefined,
    instrument: (trace) => {
      instrumentation.trace = trace
    },
    serverVersion: onceVersion(db, sql<{ v: string }>`select sqlite_version() as v`),
    destroy: () => db.destroy(),
  }
}
