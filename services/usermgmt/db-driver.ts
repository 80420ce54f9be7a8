import type {
  CompiledQuery,
  DatabaseConnection,
  Dialect,
  Driver,
  QueryCompiler,
  QueryResult,
  TransactionSettings,
} from 'kysely'
import { translateDatabaseError } from './db-errors'

/** Runs one query, e.g. inside a trace subsegment. */
export type QueryTrace = <T>(query: CompiledQuery, run: () => Promise<T>) => Promise<T>

/** Where the tracing layer plugs in once the database exists (set later by `instrument`). */
export interface Instrumentation {
  trace: QueryTrace | undefined
}

function rethrowTranslated(error: unknown): never {
  throw translateDatabaseError(error)
}

// A rejection handler rather than an async function around an await: one promise a call instead of three, on
// every acquire and every query.
function translated<T>(work: Promise<T>): Promise<T> {
  return work.catch(rethrowTranslated)
}

type CompileQuery = QueryCompiler['compileQuery']

/**
 * Wraps a Kysely driver so that every way the database can be out of reach becomes one AppError('unavailable')
 * (a 503) in this one place, and every query can be traced (deadlines are the pool's: see db-pool.ts). It forwards every method of Kysely's Driver
 * interface, optional ones included: a method left out here is a feature Kysely silently loses.
 */
class GuardedDriver implements Driver {
  readonly #inner: Driver
  readonly #instrumentation: Instrumentation
  /** Ours to the driver's, and the driver's to ours: a pooled connection keeps its wrapper from one use to the next. */
  readonly #connections = new WeakMap<DatabaseConnection, DatabaseConnection>()
  readonly #wrappers = new WeakMap<DatabaseConnection, DatabaseConnection>()

  constructor(inner: Driver, instrumentation: Instrumentation) {
    this.#inner = inner
    this.#instrumentation = instrumentation
  }

  #unwrap(connection: DatabaseConnection): DatabaseConnection {
    return this.#connections.get(connection) ?? connection
  }

  init(): Promise<void> {
    return translated(this.#inner.init())
  }

  acquireConnection(): Promise<DatabaseConnection> {
    return translated(this.#inner.acquireConnection()).then((inner) => this.#wrapperOf(inner))
  }

  #wrapperOf(inner: DatabaseConnection): DatabaseConnection {
    const known = this.#wrappers.get(inner)
    if (known) return known
    const instrumentation = this.#instrumentation
    const wrapped: DatabaseConnection = {
      executeQuery: <R>(query: CompiledQuery): Promise<QueryResult<R>> => {
        const run = () => translated(inner.executeQuery<R>(query))
        return instrumentation.trace ? instrumentation.trace(query, run) : run()
      },
      streamQuery: (query, chunkSize) => inner.streamQuery(query, chunkSize),
    }
    this.#connections.set(wrapped, inner)
    this.#wrappers.set(inner, wrapped)
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

  savepoint(connection: DatabaseConnection, name: string, compileQuery: CompileQuery): Promise<void> {
    if (!this.#inner.savepoint) throw new Error('The `savepoint` method is not supported by this driver')
    return translated(this.#inner.savepoint(this.#unwrap(connection), name, compileQuery))
  }

  rollbackToSavepoint(connection: DatabaseConnection, name: string, compileQuery: CompileQuery): Promise<void> {
    if (!this.#inner.rollbackToSavepoint) {
      throw new Error('The `rollbackToSavepoint` method is not supported by this driver')
    }
    return translated(this.#inner.rollbackToSavepoint(this.#unwrap(connection), name, compileQuery))
  }

  releaseSavepoint(connection: DatabaseConnection, name: string, compileQuery: CompileQuery): Promise<void> {
    if (!this.#inner.releaseSavepoint) throw new Error('The `releaseSavepoint` method is not supported by this driver')
    return translated(this.#inner.releaseSavepoint(this.#unwrap(connection), name, compileQuery))
  }

  releaseConnection(connection: DatabaseConnection): Promise<void> {
    return this.#inner.releaseConnection(this.#unwrap(connection))
  }

  destroy(): Promise<void> {
    return this.#inner.destroy()
  }
}

/** The dialect with its driver guarded; compiler, adapter and introspector are the dialect's own. */
export function guardedDialect(dialect: Dialect, instrumentation: Instrumentation): Dialect {
  return {
    createAdapter: () => dialect.createAdapter(),
    createDriver: () => new GuardedDriver(dialect.createDriver(), instrumentation),
    createQueryCompiler: () => dialect.createQueryCompiler(),
    createIntrospector: (db) => dialect.createIntrospector(db),
  }
}
