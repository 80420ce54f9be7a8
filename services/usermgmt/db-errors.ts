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
  'ER_SECURE_TRANSPORT_REQUIRED',
  'HANDSHAKE_NO_SSL_SUPPORT',
  'HANDSHAKE_SSL_ERROR',
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

// Text the column's character set cannot hold: the request's fault, whatever the table (see db-charsets.ts).
const unstorableTextCodes = new Set([
  'ER_CANT_AGGREGATE_2COLLATIONS',
  'ER_CANT_AGGREGATE_3COLLATIONS',
  'ER_CANT_AGGREGATE_NCOLLATIONS',
  'ER_INVALID_CHARACTER_STRING',
  'ER_TRUNCATED_WRONG_VALUE_FOR_FIELD',
])

/**
 * Turns a driver error that means "unreachable" into the 503, and text the database cannot store into a 400;
 * anything else passes through unchanged.
 */
export function translateDatabaseError(error: unknown): unknown {
  if (error instanceof AppError) return error
  if (unstorableTextCodes.has(errorCode(error) ?? '')) {
    return new AppError('invalid', 'Validation error', {
      cause: error,
      debugMessage: 'The database cannot store some of the characters sent',
    })
  }
  return isUnavailable(error) ? databaseUnavailable({ cause: error }) : error
}

// What usually fixes each failure, in the terms of the variables an operator sets.
const hints: Readonly<Record<string, string>> = {
  ER_BAD_DB_ERROR: 'create that database, or set DB_NAME to one that exists',
  ER_DBACCESS_DENIED_ERROR: 'grant DB_USERNAME access to DB_NAME',
  ER_ACCESS_DENIED_ERROR:
    'check DB_USERNAME and DB_PASSWORD; a server with require_secure_transport=ON also refuses connections without TLS (DB_SSL_MODE)',
  ER_SECURE_TRANSPORT_REQUIRED:
    'the server accepts only TLS: set DB_SSL_MODE (VERIFY_IDENTITY with DB_SSL_CA=rds on RDS)',
  ECONNREFUSED: 'nothing accepts connections at DB_HOSTNAME:DB_PORT',
  ENOTFOUND: 'DB_HOSTNAME does not resolve',
  EAI_AGAIN: 'DB_HOSTNAME does not resolve (DNS did not answer)',
  ETIMEDOUT: 'no answer from DB_HOSTNAME:DB_PORT (a security group or network policy in the way?)',
  HANDSHAKE_NO_SSL_SUPPORT: 'the server offers no TLS; DB_SSL_MODE=PREFERRED would connect without it',
}

const wrongNameHint =
  "DB_HOSTNAME must be a name the server's certificate carries (VERIFY_IDENTITY): on RDS the instance or cluster endpoint, not an alias"
const wrongCaHint = "the server's certificate does not chain to a CA in DB_SSL_CA"

/** The innermost error that carries a driver code: the database's own words under our 503. */
function driverError(error: unknown): unknown {
  let current = error
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    if (errorCode(current) !== undefined || current.cause === undefined) return current
    current = current.cause
  }
  return current
}

export interface DatabaseErrorDescription {
  /** The driver's code and message, e.g. `ER_BAD_DB_ERROR: Unknown database 'x'`. */
  readonly reason: string
  /** What usually fixes it, when we know. */
  readonly hint: string | undefined
}

/** Says what went wrong with the database the way an operator needs it: its own error, and the likely fix. */
export function describeDatabaseError(error: unknown): DatabaseErrorDescription {
  const inner = driverError(error)
  const code = errorCode(inner)
  const message =
    inner instanceof AppError
      ? (inner.debugMessage ?? inner.message)
      : inner instanceof Error
        ? inner.message
        : String(inner)
  let hint = code === undefined ? undefined : hints[code]
  if (code === 'HANDSHAKE_SSL_ERROR') hint = /altname|hostname|host name/i.test(message) ? wrongNameHint : wrongCaHint
  return { reason: code === undefined || message.includes(code) ? message : `${code}: ${message}`, hint }
}
