// Responses with an explicit Content-Length, so the tracing layer can report http.response.content_length
// without buffering the body, and clients see the same framing the original's Tomcat sent.

/**
 * A header every answer to the current request carries (the tracing layer's X-Amzn-Trace-Id), with its value for
 * the request being handled. Asked when a response is built: measured under Bun, a header given to the Response
 * constructor costs well under half of setting it on the finished response. A name and a value rather than a
 * record to spread: this runs for every response, and the record and its spread cost more than the header.
 */
export interface ResponseHeaderSource {
  readonly name: string
  value(): string | undefined
}

const sources: ResponseHeaderSource[] = []

/** Registers a source; the returned function removes it again. */
export function addResponseHeaderSource(source: ResponseHeaderSource): () => void {
  sources.push(source)
  return () => {
    const at = sources.indexOf(source)
    if (at >= 0) sources.splice(at, 1)
  }
}

/** Adds the current request's headers, then the response's own (which win). */
function withHeaders(headers: Record<string, string>, own?: Record<string, string>): Record<string, string> {
  for (const source of sources) {
    const value = source.value()
    if (value !== undefined) headers[source.name] = value
  }
  if (own) Object.assign(headers, own)
  return headers
}

export function json(value: unknown, init: { status?: number; headers?: Record<string, string> } = {}): Response {
  const body = JSON.stringify(value)
  return new Response(body, {
    status: init.status ?? 200,
    headers: withHeaders(
      { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) },
      init.headers,
    ),
  })
}

export function text(body: string, status = 200): Response {
  return new Response(body, {
    status,
    headers: withHeaders({
      'content-type': 'text/plain;charset=UTF-8',
      'content-length': String(Buffer.byteLength(body)),
    }),
  })
}

/** 200 with no body, as the original's void controller methods answered. */
export function empty(): Response {
  return new Response(null, { status: 200, headers: withHeaders({ 'content-length': '0' }) })
}
