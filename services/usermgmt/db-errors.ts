import { AppError } from '../platform'

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

/** The driver's error code (`ER_BAD_DB_ERROR`, `ECONNREFUSED`, ...), if the error carries one. */
export function errorCode(error: unknown): string | undefined {
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

export interface UnavailableOptions {
  readonly cause?: unknown
  /** Shown in the ApiError's debugMessage: what kind of trouble, never a driver message. */
  readonly debugMessage?: string
  /** Seconds a client should wait before trying again. @default '5' */
  readonly retryAfter?: string
}

/** The 503 every database outage becomes, with a Retry-After so clients and proxies back off. */
export function databaseUnavailable(options: UnavailableOptions = {}): AppError {
  const { retryAfter = '5', ...rest } = options
  return new AppError('unavailable', 'Database unavailable', { ...rest, headers: { 'retry-after': retryAfter } })
}

/** Turns a driver error that means "unreachable" into the 503; anything else passes through unchanged. */
export function translateDatabaseError(error: unknown): unknown {
  if (error instanceof AppError || !isUnavailable(error)) return error
  return databaseUnavailable({ cause: error })
}
