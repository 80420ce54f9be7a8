// Responses with an explicit Content-Length, so the tracing layer can report http.response.content_length
// without buffering the body, and clients see the same framing the original's Tomcat sent.

/**
 * Where a response finds the headers every answer to the current request carries (the tracing layer's
 * X-Amzn-Trace-Id). Asked when a response is built: measured under Bun, a header given to the Response
 * constructor costs well under half of setting it on the finished response.
 */
export type ResponseHeaderSource = () => Readonly<Record<string, string>> | undefined

const sources: ResponseHeaderSource[] = []

/** Registers a source; the returned function removes it again. */
export function addResponseHeaderSource(source: ResponseHeaderSource): () => void {
  sources.push(source)
  return () => {
    const at = sources.indexOf(source)
    if (at >= 0) sources.splice(at, 1)
  }
}

function requestHeaders(): Readonly<Record<string, string>> | undefined {
  for (const source of sources) {
    const found = source()
    if (found) return found
  }
  return undefined
}

export function json(value: unknown, init: { status?: number; headers?: Record<string, string> } = {}): Response {
  const body = JSON.stringify(value)
  return new Response(body, {
    status: init.status ?? 200,
    headers: {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(body)),
      ...requestHeaders(),
      ...init.headers,
    },
  })
}

export function text(body: string, status = 200): Response {
  return new Response(body, {
    status,
    headers: {
      'content-type': 'text/plain;charset=UTF-8',
      'content-length': String(Buffer.byteLength(body)),
      ...requestHeaders(),
    },
  })
}

/** 200 with no body, as the original's void controller methods answered. */
export function empty(): Response {
  return new Response(null, { status: 200, headers: { 'content-length': '0', ...requestHeaders() } })
}
