import { Elysia } from 'elysia'
import { z } from 'zod'
import { AppError, apiErrorResponse, noteFailure, type SubError, statusOf } from './errors'
import type { Logger } from './logger'
import { clientClosed, isClientGone, pathOf } from './server'

/** `fetch`'s shape, for a client that may be handed the traced one. */
export type FetchLike = (input: string | URL | Request, init?: RequestInit) => Promise<Response>

const malformedJson = 'Malformed JSON request'

/**
 * Reads a JSON body whatever its content type, as the original's clients relied on. The body size was
 * already bounded by the server (see server.ts), so reading it whole is safe.
 */
export async function readJson(request: Request): Promise<unknown> {
  let text: string
  try {
    text = await request.text()
  } catch (error) {
    if (isClientGone(request, error)) throw clientClosed(error)
    throw error
  }
  if (text.trim() === '') {
    throw new AppError('malformed', malformedJson, { debugMessage: 'Required request body is missing' })
  }
  try {
    return JSON.parse(text)
  } catch {
    throw new AppError('malformed', malformedJson, { debugMessage: 'The request body is not valid JSON' })
  }
}

const maskedFields = new Set(['password'])

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let value = root
  for (const key of path) {
    if (value === null || typeof value !== 'object') return undefined
    value = (value as Record<PropertyKey, unknown>)[key]
  }
  return value
}

/**
 * Validates a parsed body against its schema. A body that is not a JSON object is malformed (as Spring
 * answered); field problems become one sub-error each, in the original's ApiValidationError shape.
 * Password values are never echoed back.
 */
export function validateBody<TSchema extends z.ZodType>(
  schema: TSchema,
  body: unknown,
  objectName: string,
): z.infer<TSchema> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new AppError('malformed', malformedJson, { debugMessage: 'The request body must be a JSON object' })
  }
  const result = schema.safeParse(body)
  if (result.success) return result.data
  const subErrors: SubError[] = result.error.issues.map((issue) => {
    const field = issue.path.map(String).join('.')
    const rejected = valueAt(body, issue.path)
    return {
      object: objectName,
      field,
      rejectedValue: maskedFields.has(field) && rejected !== undefined ? '***' : (rejected ?? null),
      message: issue.message,
    }
  })
  throw new AppError('invalid', 'Validation error', { subErrors })
}

/** Validates one path parameter or header the same way, so a bad one is a 400 ApiError, never a 500. */
export function validateParam<TSchema extends z.ZodType>(
  schema: TSchema,
  value: unknown,
  name: string,
): z.infer<TSchema> {
  const parsed: Record<string, unknown> = validateBody(z.object({ [name]: schema }), { [name]: value }, name)
  return parsed[name] as z.infer<TSchema>
}

/**
 * A handler that answers at once, marked so for Elysia. Elysia decides whether a handler is async by reading its
 * source, and one that returns a call (`() => json(...)`) reads as async: every answer is then awaited, a promise
 * and a microtask per request. A bound function has no source to read, so Elysia calls it and takes its answer.
 */
export function answersAtOnce(handler: () => Response): () => Response {
  return handler.bind(undefined)
}

function routePattern(path: string): RegExp {
  const escaped = path
    .split('/')
    .map((part) => (part.startsWith(':') ? '[^/]+' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('/')
  return new RegExp(`^${escaped}/?$`)
}

export interface ServiceAppOptions {
  readonly log: Logger
}

/**
 * The Elysia instance every role builds on: turns anything thrown into the ApiError body in one place,
 * and answers 405 (with Allow) instead of Elysia's 404 when the path exists for another method.
 */
export function createServiceApp(options: ServiceAppOptions) {
  const { log } = options
  // Elysia's default finds the path by skipping 11 characters of the URL (http://a.bc), so a Host of 1 to 3
  // characters (http://ab/...) made it look for the path inside the path: every route answered 405.
  const app: Elysia = new Elysia({ name: 'service', handler: { standardHostname: false } })
  const allowedMethods = (path: string): string[] =>
    app.routes
      .filter((route) => route.method !== 'ALL' && routePattern(route.path).test(path))
      .map((route) => route.method)
  return app.onError(function mapErrorToApiError({ code, error, request }) {
    if (error instanceof AppError) {
      if (statusOf(error.kind) >= 500) noteFailure(request, error)
      return apiErrorResponse(error)
    }
    if (code === 'NOT_FOUND') {
      const path = pathOf(request.url)
      const allow = allowedMethods(path)
      if (allow.length > 0) {
        return apiErrorResponse(
          new AppError('method_not_allowed', `Request method '${request.method}' is not supported`, {
            headers: { allow: [...new Set(allow)].join(', ') },
          }),
        )
      }
      return apiErrorResponse(new AppError('not_found', `No handler found for ${request.method} ${path}`))
    }
    if (code === 'PARSE') return apiErrorResponse(new AppError('malformed', malformedJson))
    if (isClientGone(request, error)) return apiErrorResponse(clientClosed(error))
    log.error('unhandled error', { error, method: request.method, path: pathOf(request.url) })
    noteFailure(request, error)
    return apiErrorResponse(new AppError('internal', 'Unexpected error'))
  })
}
