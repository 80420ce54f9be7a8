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

export interface RequestHandler {
  handle(request: Request): Promise<Response>
}

export interface HttpServerOptions {
  /** 0 picks a free port. */
  readonly port: number
  /** @default '0.0.0.0' */
  readonly hostname?: string
  readonly log: Logger
  /** How long SIGTERM waits for in-flight requests before closing them. @default 10000 */
  readonly shutdownTimeoutMs?: number
  /** Called as each request arrives (the tracing layer opens its segment here). */
  readonly begin?: (request: Request, path: string, peer: PeerAddress) => RequestScope
}

/** The client's address, looked up only when asked (the tracing layer asks for sampled requests only). */
export type PeerAddress = (request: Request) => string | undefined

/**
 * What `begin` hands back: the handler runs inside `run` (the tracing layer's context), and `finish` sees the
 * response before it is sent. Kept to a plain call and no extra promise per request: measured under wrk, every
 * step on this path shows in the throughput.
 */
export interface RequestScope {
  run(
    handler: (request: Request, path: string, scope: RequestScope) => Promise<Response>,
    request: Request,
    path: string,
  ): Promise<Response>
  finish(response: Response): Response
}

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

// A request rebuilt around its counted body has no socket of its own; its peer is the original's.
const originals = new WeakMap<Request, Request>()

async function readBounded(body: ReadableStream<Uint8Array>): Promise<Uint8Array | undefined> {
  const chunks: Uint8Array[] = []
  let size = 0
  for await (const chunk of body) {
    size += chunk.byteLength
    if (size > maxBodyBytes) return undefined
    chunks.push(chunk)
  }
  return Buffer.concat(chunks)
}

/**
 * Bounds the body before any handler sees it: by Content-Length when given, by counting when chunked.
 * Synchronous unless a chunked body has to be counted.
 */
function boundRequest(request: Request): Request | Response | Promise<Request | Response> {
  const declared = request.headers.get('content-length')
  if (declared !== null) return Number(declared) > maxBodyBytes ? tooLarge() : request
  if (request.body === null) return request
  return readBounded(request.body).then((body) => {
    if (body === undefined) return tooLarge()
    const rebuilt = new Request(request, { body })
    originals.set(rebuilt, request)
    return rebuilt
  })
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
  return new Request(`http://localhost${request.url}`, request)
}

/** The path of a request URL, without the cost of a URL object on every request. */
export function pathOf(url: string): string {
  const start = url.indexOf('/', url.indexOf('//') + 2)
  if (start < 0) return '/'
  const end = url.indexOf('?', start)
  return end < 0 ? url.slice(start) : url.slice(start, end)
}

export function startHttpServer(app: RequestHandler, options: HttpServerOptions): HttpServer {
  const { log, begin } = options
  const shutdownTimeoutMs = options.shutdownTimeoutMs ?? 10_000
  const handle = async (request: Request, path: string, scope: RequestScope | undefined): Promise<Response> => {
    const started = performance.now()
    let response: Response
    try {
      const bounded = boundRequest(request)
      const checked = bounded instanceof Promise ? await bounded : bounded
      response = checked instanceof Response ? checked : await app.handle(checked)
    } catch (error) {
      if (isClientGone(request, error)) {
        log.debug('client hung up before its request body arrived', { method: request.method, path })
        response = apiErrorResponse(clientClosed(error))
      } else {
        log.error('request failed outside the error handler', { error })
        response = apiErrorResponse(new AppError('internal', 'Unexpected error'))
      }
    }
    log.info('request', {
      method: request.method,
      path,
      status: response.status,
      durationMs: Math.round((performance.now() - started) * 100) / 100,
    })
    return scope ? scope.finish(response) : response
  }
  const peer: PeerAddress = (request) => server.requestIP(originals.get(request) ?? request)?.address
  const server = Bun.serve({
    port: options.port,
    hostname: options.hostname ?? '0.0.0.0',
    // Bun's own limit answers 413 with no body; ours (boundRequest) answers the ApiError, so Bun's sits far above.
    maxRequestBodySize: 64 * maxBodyBytes,
    idleTimeout: 30,
    development: false,
    fetch(request) {
      // Bun hands over a relative URL when the Host header is missing or not a host; nothing downstream expects one.
      const incoming = request.url.charCodeAt(0) === slash ? withoutHost(request) : request
      if (incoming instanceof Response) return incoming
      const path = pathOf(incoming.url)
      return begin ? begin(incoming, path, peer).run(handle, incoming, path) : handle(incoming, path, undefined)
    },
    error(error) {
      log.error('server error', { error })
      return apiErrorResponse(new AppError('internal', 'Unexpected error'))
    },
  })
  const port = server.port ?? options.port
  let stopping: Promise<void> | undefined
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    peerAddress: peer,
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
