import type { z } from 'zod'
import { json } from './responses'

/** What went wrong, in terms that have an HTTP meaning. The only place that picks a status is `statusOf`. */
export type ErrorKind =
  | 'not_found'
  | 'duplicate'
  | 'invalid'
  | 'malformed'
  | 'unauthenticated'
  | 'forbidden'
  | 'rate_limited'
  | 'already_done'
  | 'too_large'
  | 'method_not_allowed'
  | 'unprocessable'
  | 'client_closed'
  | 'upstream_rejected'
  | 'upstream_unavailable'
  | 'unavailable'
  | 'internal'

/** A field-level validation problem, in the shape of the original's ApiValidationError. */
export interface SubError {
  readonly object: string
  readonly field: string
  readonly rejectedValue: unknown
  readonly message: string
}

export interface AppErrorOptions {
  readonly cause?: unknown
  readonly subErrors?: readonly SubError[]
  readonly debugMessage?: string
  readonly headers?: Readonly<Record<string, string>>
}

export class AppError extends Error {
  readonly kind: ErrorKind
  readonly subErrors: readonly SubError[] | null
  readonly debugMessage: string | null
  readonly headers: Readonly<Record<string, string>>

  constructor(kind: ErrorKind, message: string, options: AppErrorOptions = {}) {
    super(message, { cause: options.cause })
    this.name = 'AppError'
    this.kind = kind
    this.subErrors = options.subErrors ?? null
    this.debugMessage = options.debugMessage ?? null
    this.headers = options.headers ?? {}
  }
}

// The original answered 400 (not 409) for duplicates and for "already activated"; see api-contract.md.
const statusByKind: Record<ErrorKind, number> = {
  not_found: 404,
  duplicate: 400,
  invalid: 400,
  malformed: 400,
  unauthenticated: 401,
  forbidden: 403,
  rate_limited: 429,
  already_done: 400,
  too_large: 413,
  method_not_allowed: 405,
  unprocessable: 422,
  // nginx's code for a client that went away before the answer: no one reads it, but logs and traces do.
  client_closed: 499,
  upstream_rejected: 502,
  upstream_unavailable: 503,
  unavailable: 503,
  internal: 500,
}

export function statusOf(kind: ErrorKind): number {
  return statusByKind[kind]
}

const reasonByStatus: Readonly<Record<number, string>> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  409: 'CONFLICT',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  422: 'UNPROCESSABLE_ENTITY',
  499: 'CLIENT_CLOSED_REQUEST',
  429: 'TOO_MANY_REQUESTS',
  500: 'INTERNAL_SERVER_ERROR',
  502: 'BAD_GATEWAY',
  503: 'SERVICE_UNAVAILABLE',
  504: 'GATEWAY_TIMEOUT',
}

function pad(n: number): string {
  return String(n).padStart(2, '0')
}

// Spring's @JsonFormat(pattern = "dd-MM-yyyy hh:mm:ss") of the original: note the 12-hour clock.
export function formatApiTimestamp(date: Date): string {
  const hours12 = date.getUTCHours() % 12 === 0 ? 12 : date.getUTCHours() % 12
  return `${pad(date.getUTCDate())}-${pad(date.getUTCMonth() + 1)}-${date.getUTCFullYear()} ${pad(hours12)}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())}`
}

export interface ApiErrorBody {
  readonly apierror: {
    readonly status: string
    readonly timestamp: string
    readonly message: string
    readonly debugMessage: string | null
    readonly subErrors: readonly SubError[] | null
  }
}

export function apiErrorBody(status: number, error: AppError, now = new Date()): ApiErrorBody {
  return {
    apierror: {
      status: reasonByStatus[status] ?? `HTTP_${status}`,
      timestamp: formatApiTimestamp(now),
      message: error.message,
      debugMessage: error.debugMessage,
      subErrors: error.subErrors,
    },
  }
}

/** The ApiError response for an AppError: the one place an error becomes HTTP. */
/** The ApiError response for an AppError: the one place an error becomes HTTP. */
export function apiErrorResponse(error: AppError): Response {
  const status = statusOf(error.kind)
  return json(apiErrorBody(status, error), { status, headers: { ...error.headers } })
}

// What was thrown behind a request's 5xx answer, for whoever looks at the answer afterwards (the tracing layer
// records it as the segment's cause). Only failures are entered, so a request that succeeds pays nothing.
const failures = new WeakMap<Request, unknown>()

/** Remembers what a request failed with, when its answer is a 5xx. */
export function noteFailure(request: Request, failure: unknown): void {
  failures.set(request, failure)
}

/** What a request's 5xx answer stands for, if the error handling noted it. */
export function failureOf(request: Request): unknown {
  return failures.get(request)
}

/** One schema problem as `where: what`, naming `whole` when it is the value as a whole that is wrong. */
export function describeIssue(issue: z.core.$ZodIssue | undefined, whole: string): string {
  return `${issue?.path.map(String).join('.') || whole}: ${issue?.message ?? 'invalid'}`
}

/** What an error says, whatever was thrown. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
