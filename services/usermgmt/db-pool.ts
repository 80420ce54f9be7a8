import { AsyncLocalStorage } from 'node:async_hooks'
import type { MysqlPool, MysqlPoolConnection, MysqlQueryResult, MysqlStream, MysqlStreamOptions } from 'kysely'
import { databaseUnavailable } from './db-errors'

/** How long each database operation may take before the request gets a 503. */
export interface Deadlines {
  /** Waiting for a connection: in the queue, then connecting if a new one is needed. */
  readonly acquireMs: number
  /** One statement; begin, commit, rollback and savepoints are statements too. */
  readonly queryMs: number
}

interface Streamable {
  stream<T>(options: MysqlStreamOptions): MysqlStream<T>
}

/** The part of a mysql2 pool connection this pool uses (declared here: only db-mysql.ts imports mysql2). */
export interface RawConnection {
  query(sql: string, parameters: unknown[], callback: (error: unknown, result: MysqlQueryResult) => void): void
  query(sql: string, parameters: unknown[]): Streamable
  release(): void
  /** Closes the connection and takes it out of the pool for good. */
  destroy(): void
}

export type Connect = (callback: (error: unknown, connection?: RawConnection) => void) => void

export interface PoolStats {
  /** Connections handed out (or being opened) right now. */
  readonly inUse: number
  /** Requests waiting for one. */
  readonly waiting: number
}

export interface DeadlinePoolOptions {
  /** Opens or reuses one connection of the underlying pool (mysql2's, of the same size). */
  readonly connect: Connect
  readonly end: (callback: (error: unknown) => void) => void
  readonly size: number
  /** Requests that may wait for a connection; one more is answered 503 at once. */
  readonly queueLimit: number
  readonly deadlines: Deadlines
}

type ConnectionCallback = (error: unknown, connection: MysqlPoolConnection) => void

// Kysely's MysqlPool types want a value even with an error; mysql2 passes none, and Kysely reads none.
function fail(callback: (error: unknown, value: never) => void, error: unknown): void {
  Reflect.apply(callback, undefined, [error])
}

interface Waiter {
  readonly callback: ConnectionCallback
  readonly deadlineAt: number
  timer: ReturnType<typeof setTimeout> | undefined
}

// A connection whose query missed its deadline may still be busy with it: it is closed, never reused.
const isFatal = (error: unknown) =>
  error !== null && typeof error === 'object' && (error as { fatal?: unknown }).fatal === true

/** Retry-After for a full queue: every connection is busy, the next second will likely have room. */
const overloadedRetryAfter = '1'

/**
 * A pool in front of mysql2's that bounds every operation: acquiring (queue wait and connect), and each
 * statement. mysql2's own queue keeps a waiter whose caller gave up and later hands it a connection nobody
 * releases; here a waiter that gives up leaves the queue, a connection that arrives after its requester gave
 * up goes straight back, and a connection whose statement missed its deadline is destroyed.
 */
export class DeadlinePool implements MysqlPool {
  readonly #options: DeadlinePoolOptions
  readonly #scope = new AsyncLocalStorage<Partial<Deadlines>>()
  readonly #waiters: Waiter[] = []
  #inUse = 0
  #closed = false

  constructor(options: DeadlinePoolOptions) {
    this.#options = options
  }

  /** Runs `work` with other deadlines for the statements it makes (a readiness probe, a migration). */
  withDeadlines<T>(deadlines: Partial<Deadlines>, work: () => Promise<T>): Promise<T> {
    return this.#scope.run({ ...this.#scope.getStore(), ...deadlines }, work)
  }

  stats(): PoolStats {
    return { inUse: this.#inUse, waiting: this.#waiters.length }
  }

  #deadlines(): Deadlines {
    return { ...this.#options.deadlines, ...this.#scope.getStore() }
  }

  getConnection(callback: ConnectionCallback): void {
    const deadlines = this.#deadlines()
    const waiter: Waiter = { callback, deadlineAt: performance.now() + deadlines.acquireMs, timer: undefined }
    if (this.#closed) {
      queueMicrotask(() => fail(callback, new Error('Pool is closed.')))
    } else if (this.#inUse < this.#options.size) {
      this.#inUse++
      this.#open(waiter)
    } else if (this.#waiters.length >= this.#options.queueLimit) {
      const error = databaseUnavailable({
        debugMessage: 'Every database connection is busy and the queue is full',
        retryAfter: overloadedRetryAfter,
      })
      queueMicrotask(() => fail(callback, error))
    } else {
      waiter.timer = setTimeout(() => {
        const at = this.#waiters.indexOf(waiter)
        if (at >= 0) this.#waiters.splice(at, 1)
        fail(callback, databaseUnavailable({ debugMessage: 'Timed out waiting for a database connection' }))
      }, deadlines.acquireMs)
      this.#waiters.push(waiter)
    }
  }

  /** A lease ended: the next waiter takes it over, or it is free. */
  #handBack(): void {
    const next = this.#waiters.shift()
    if (next === undefined) {
      this.#inUse--
      return
    }
    clearTimeout(next.timer)
    this.#open(next)
  }

  #open(waiter: Waiter): void {
    let gaveUp = false
    const timer = setTimeout(
      () => {
        gaveUp = true
        fail(waiter.callback, databaseUnavailable({ debugMessage: 'Timed out connecting to the database' }))
      },
      Math.max(0, waiter.deadlineAt - performance.now()),
    )
    this.#options.connect((error, raw) => {
      if (gaveUp) {
        raw?.release()
        this.#handBack()
        return
      }
      clearTimeout(timer)
      if (error || raw === undefined) {
        this.#handBack()
        fail(waiter.callback, error ?? new Error('no connection'))
        return
      }
      waiter.callback(null, this.#lease(raw))
    })
  }

  #lease(raw: RawConnection): MysqlPoolConnection {
    let released = false
    let broken = false
    const pool = this
    function query(sql: string, parameters: unknown[]): Streamable
    function query(
      sql: string,
      parameters: unknown[],
      callback: (error: unknown, result: MysqlQueryResult) => void,
    ): undefined
    function query(
      sql: string,
      parameters: unknown[],
      callback?: (error: unknown, result: MysqlQueryResult) => void,
    ): Streamable | undefined {
      // Streaming (Kysely's stream()) is not used by the role; it goes to the connection as it is.
      if (callback === undefined) return raw.query(sql, parameters)
      if (broken) {
        const error = databaseUnavailable({ debugMessage: 'The connection was closed after a failure' })
        queueMicrotask(() => fail(callback, error))
        return undefined
      }
      let settled = false
      const timer = setTimeout(() => {
        settled = true
        broken = true
        raw.destroy()
        fail(callback, databaseUnavailable({ debugMessage: 'The database did not answer in time' }))
      }, pool.#deadlines().queryMs)
      raw.query(sql, parameters, (error, result) => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        if (isFatal(error)) broken = true
        callback(error, result)
      })
      return undefined
    }
    return {
      query,
      release() {
        if (released) return
        released = true
        if (broken) raw.destroy()
        else raw.release()
        pool.#handBack()
      },
    }
  }

  end(callback: (error: unknown) => void): void {
    this.#closed = true
    for (const waiter of this.#waiters.splice(0)) {
      clearTimeout(waiter.timer)
      fail(waiter.callback, new Error('Pool is closed.'))
    }
    // Ending says goodbye on every connection; one to a black-holed server would never hear back.
    let ended = false
    const finish = (error: unknown) => {
      if (ended) return
      ended = true
      clearTimeout(timer)
      callback(error)
    }
    const timer = setTimeout(() => finish(null), this.#options.deadlines.queryMs)
    this.#options.end(finish)
  }
}
