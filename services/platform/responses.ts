// Responses with an explicit Content-Length, so the tracing layer can report http.response.content_length
// without buffering the body, and clients see the same framing the original's Tomcat sent.

export function json(value: unknown, init: { status?: number; headers?: Record<string, string> } = {}): Response {
  const body = JSON.stringify(value)
  const headers = { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) }
  return new Response(body, {
    status: init.status ?? 200,
    headers: init.headers ? { ...headers, ...init.headers } : headers,
  })
}

export function text(body: string, status = 200): Response {
  return new Response(body, {
    status,
    headers: { 'content-type': 'text/plain;charset=UTF-8', 'content-length': String(Buffer.byteLength(body)) },
  })
}

/** 200 with no body, as the original's void controller methods answered. */
export function empty(): Response {
  return new Response(null, { status: 200, headers: { 'content-length': '0' } })
}
