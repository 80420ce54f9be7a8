import type { AnyElysia } from 'elysia'
import { AppError, apiErrorResponse } from './errors'
import type { Logger } from './logger'

/** The largest request body any role accepts. */
export const maxBodyBytes = 1024 * 1024

/**
 * Whether a failure while reading a request means the client hung up (Bun rejects the body read with an
 * AbortError and aborts the request's signal): an everyday event on the internet, not a fault of ours.
 */
export function isClientGone(request: Request, error: unknown): boolean {
  return request.signal.aborted || (error instanceof Error && error.name === 'AbortError')
}

/** The error a handler throws when the client hung up before its request body arrived. */
export function clientClosed(cause: unknown): AppError {
  return new AppError('client_closed', 'The client closed the connection before its request arrived', { cause })
}

/** What a middleware knows of the request it wraps. */
export interface RequestContext {
  /** The request being handled; once a chunked body has been counted, the request rebuilt around it. */
  readonly request: Request
  /** The URL's path, without the query. */
  readonly path: string
  /** The TCP peer's address, looked up only when asked (it costs a system call). */
  peer(): string | undefined
}

/**
 * One step around the handler, in the shape of Hono's middleware: it runs code before `next()`, gets the response,
 * and may look at it or change its headers before it leaves. A handler that answers at once gives its response
 * without a promise, so that a middleware can too: a promise per request costs more than most of its work.
 */
export type Middleware = (
  context: RequestContext,
  next: () => Response | Promise<Response>,
) => Response | Promise<Response>

export interface HttpServerOptions {
  /** 0 picks a free port. */
  readonly port: number
  /** @default '0.0.0.0' */
  readonly hostname?: string
  readonly log: Logger
  /** How long SIGTERM waits for in-flight requests before closing them. @default 10000 */
  readonly shutdownTimeoutMs?: number
  /** Runs around every request's handler (the tracing layer's). */
  readonly middleware?: Middleware
}

/** The client's address as the server saw it. */
export type PeerAddress = (request: Request) => string | undefined

export interface HttpServer {
  readonly port: number
  readonly url: string
  /** The TCP peer of a request this server is handling (a rate limit's key when no proxy is in front). */
  readonly peerAddress: PeerAddress
  /** Stops accepting, lets in-flight requests finish (up to the shutdown timeout), then resolves. */
  stop(): Promise<void>
}

function tooLarge(): Response {
  return apiErrorResponse(
    new AppError('too_large', 'Request body too large', { debugMessage: `The limit is ${maxBodyBytes} bytes` }),
  )
}

/** A body read no further than `max` bytes: undefined once it is larger. Throws when the stream fails. */
export async function readBounded(
  body: ReadableStream<Uint8Array> | null,
  max: number,
): Promise<Uint8Array | undefined> {
  const chunks: Uint8Array[] = []
  let size = 0
  for await (const chunk of body ?? []) {
    size += chunk.byteLength
    if (size > max) return undefined
    chunks.push(chunk)
  }
  return Buffer.concat(chunks, size)
}

/** A request rebuilt (a counted body, a missing Host) keeps the route parameters Bun's router put on the original. */
function rebuilt(original: Request, next: Request): Request {
  const params = (original as Request & { params?: unknown }).params
  return params === undefined ? next : Object.assign(next, { params })
}

const slash = '/'.charCodeAt(0)

/**
 * A request Bun could not make an absolute URL for. Without a Host header (HTTP/1.0 allows that) it is served as
 * if sent to localhost; with a Host that is not a host name, it is refused as RFC 9112 asks.
 */
function withoutHost(request: Request): Request | Response {
  if (request.headers.get('host') !== null) {
    return apiErrorResponse(
      new AppError('malformed', 'Invalid Host header', {
        debugMessage: 'The Host header must be a host name or address',
      }),
    )
  }
  return rebuilt(request, new Request(`http://localhost${request.url}`, request))
}

/**
 * The path of a request URL, without the cost of a URL object on every request. Bun's URL of a request without a
 * usable Host is the path alone.
 */
export function pathOf(url: string): string {
  const start = url.charCodeAt(0) === slash ? 0 : url.indexOf('/', url.indexOf('//') + 2)
  if (start < 0) return '/'
  const end = url.indexOf('?', start)
  return end < 0 ? url.slice(start) : url.slice(start, end)
}

type Handler = (request: Request) => Response | Promise<Response>

/** One request on its way through the server: what the middleware sees of it. */
class ServedRequest implements RequestContext {
  #path: string | undefined

  constructor(
    public request: Request,
    private readonly peerOf: PeerAddress,
    /** The request's URL when the server already read it: Bun builds the string anew each time it is asked. */
    private readonly url?: string,
  ) {}

  /** Worked out when first asked: most requests are never asked. */
  get path(): string {
    this.#path ??= pathOf(this.url ?? this.request.url)
    return this.#path
  }

  peer(): string | undefined {
    return this.peerOf(this.request)
  }
}

/**
 * Serves an Elysia app through Elysia's own Bun adapter, so that each route is compiled into Bun.serve's native
 * router, and runs one function around every request: the body bound, the middleware, the access log. Elysia's
 * `wrap` (a higher-order function around each compiled route and the fallback handler) is how its OpenTelemetry
 * plugin enters too; it is the only hook that sees the finished response of every route.
 */
export function startHttpServer(app: AnyElysia, options: HttpServerOptions): HttpServer {
  const { log, middleware } = options
  const shutdownTimeoutMs = options.shutdownTimeoutMs ?? 10_000
  const logRequests = log.enabled('info')
  // A request rebuilt around its counted body has no socket of its own; its peer is the original's.
  const originals = new WeakMap<Request, Request>()
  const peerAddress: PeerAddress = (request) => app.server?.requestIP(originals.get(request) ?? request)?.address

  const failed = (request: Request, path: string, error: unknown): Response => {
    if (isClientGone(request, error)) {
      log.debug('client hung up before its request body arrived', { method: request.method, path })
      return apiErrorResponse(clientClosed(error))
    }
    log.error('request failed outside the error handler', { error })
    return apiErrorResponse(new AppError('internal', 'Unexpected error'))
  }

  /** A body is counted before any handler sees it: by Content-Length when given, else by reading it. */
  const withBody = async (handler: Handler, served: ServedRequest): Promise<Response> => {
    const { request } = served
    try {
      const declared = request.headers.get('content-length')
      if (declared !== null) return Number(declared) > maxBodyBytes ? tooLarge() : await handler(request)
      const body = await readBounded(request.body, maxBodyBytes)
      if (body === undefined) return tooLarge()
      const counted = rebuilt(request, new Request(request, { body }))
      originals.set(counted, request)
      served.request = counted
      return await handler(counted)
    } catch (error) {
      return failed(request, served.path, error)
    }
  }

  /** A request with a body, or without a usable URL: the rare path, with every check. */
  const careful = (handler: Handler, incoming: Request): Response | Promise<Response> => {
    // Bun hands over a relative URL when the Host header is missing or not a host; nothing downstream expects one.
    const request = incoming.url.charCodeAt(0) === slash ? withoutHost(incoming) : incoming
    if (request instanceof Response) return request
    const served = new ServedRequest(request, peerAddress)
    if (request.body === null) {
      return middleware === undefined ? handler(request) : middleware(served, () => handler(served.request))
    }
    return middleware === undefined ? withBody(handler, served) : middleware(served, () => withBody(handler, served))
  }

  // The common request (a GET or HEAD with an absolute URL) reaches its handler with nothing of ours in between but
  // the middleware; Elysia's compiled handler answers every error it throws. A middleware that throws is a bug,
  // answered by Bun.serve's error handler.
  const serve = (handler: Handler, request: Request, url: string): Response | Promise<Response> => {
    const method = request.method
    if ((method !== 'GET' && method !== 'HEAD') || url.charCodeAt(0) === slash) return careful(handler, request)
    if (middleware === undefined) return handler(request)
    return middleware(new ServedRequest(request, peerAddress, url), () => handler(request))
  }

  // The access log's line is built only when info is on; the line itself leaves in a buffered write.
  const logged = (handler: Handler, incoming: Request): Response | Promise<Response> => {
    const started = performance.now()
    const url = incoming.url
    const answer = (response: Response) => {
      log.info('request', {
        method: incoming.method,
        path: pathOf(url),
        status: response.status,
        durationMs: Math.round((performance.now() - started) * 100) / 100,
      })
      return response
    }
    const response = serve(handler, incoming, url)
    return response instanceof Promise ? response.then(answer) : answer(response)
  }

  app.wrap((compiled) => {
    // Elysia types the compiled route it hands over as a bare Function; it is called with the request alone.
    const handler = compiled as unknown as Handler
    return logRequests
      ? function servedAndLogged(request: Request) {
          return logged(handler, request)
        }
      : function served(request: Request) {
          return serve(handler, request, request.url)
        }
  })
  app.listen({
    port: options.port,
    hostname: options.hostname ?? '0.0.0.0',
    // Elysia's default would let a second server share the port silently.
    reusePort: false,
    development: false,
    // Bun's own limit answers 413 with no body; ours answers the ApiError, so Bun's sits far above.
    maxRequestBodySize: 64 * maxBodyBytes,
    idleTimeout: 30,
    error(error) {
      log.error('server error', { error })
      return apiErrorResponse(new AppError('internal', 'Unexpected error'))
    },
  })
  const server = app.server
  if (!server) throw new Error('the HTTP server did not start')
  const port = server.port ?? options.port
  let stopping: Promise<void> | undefined
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    peerAddress,
    stop() {
      stopping ??= (async () => {
        let timer: ReturnType<typeof setTimeout> | undefined
        const deadline = new Promise<'timeout'>((resolve) => {
          timer = setTimeout(() => resolve('timeout'), shutdownTimeoutMs)
        })
        const outcome = await Promise.race([server.stop(false).then(() => 'drained' as const), deadline])
        clearTimeout(timer)
        if (outcome === 'timeout') {
          log.warn('in-flight requests did not finish in time; closing them', { shutdownTimeoutMs })
          await server.stop(true)
        }
      })()
      return stopping
    },
  }
}
