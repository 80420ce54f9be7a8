// How the roles build their answers: a string body and a content type, which Bun turns into a response at little
// cost and sends with its Content-Length. The tracing layer reports http.response.content_length for the requests
// it samples; the body each answer was made from rides along on it, so the length is worked out only then.

const bodyKey = Symbol('body')
type Answer = Response & { [bodyKey]?: string }

// Headers objects, made once: Bun copies one into each answer for less than it takes to read a plain object's
// properties into a new one (every answer does this). Each answer gets its own copy, as the Fetch standard says.
const jsonContentType = 'application/json'
const jsonType = new Headers({ 'content-type': jsonContentType })
const textType = new Headers({ 'content-type': 'text/plain;charset=UTF-8' })
const noBody = new Headers({ 'content-length': '0' })

export function json(value: unknown, init: { status?: number; headers?: Record<string, string> } = {}): Response {
  const body = JSON.stringify(value)
  const headers = init.headers ? { 'content-type': jsonContentType, ...init.headers } : jsonType
  const response: Answer = new Response(body, { status: init.status ?? 200, headers })
  response[bodyKey] = body
  return response
}

export function text(body: string, status = 200): Response {
  const response: Answer = new Response(body, { status, headers: textType })
  response[bodyKey] = body
  return response
}

/** 200 with no body, as the original's void controller methods answered. */
export function empty(): Response {
  return new Response(null, { status: 200, headers: noBody })
}

/** The length in bytes of an answer's body: its Content-Length, or the body it was built from here. */
export function contentLengthOf(response: Response): number | undefined {
  const declared = response.headers.get('content-length')
  if (declared !== null) return Number(declared)
  const body: unknown = Reflect.get(response, bodyKey)
  return typeof body === 'string' ? Buffer.byteLength(body) : undefined
}
