import { connect } from 'node:net'

export interface RawAnswer {
  /** The status code of the first response line, or undefined when the server sent nothing. */
  readonly status: number | undefined
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
  /** Everything the server sent before the connection closed or the answer was complete. */
  readonly raw: string
}

/** Parses what a server sent back, once it holds a whole response (Content-Length framed). */
function parseAnswer(raw: string): RawAnswer | undefined {
  const end = raw.indexOf('\r\n\r\n')
  if (end < 0) return undefined
  const [statusLine = '', ...lines] = raw.slice(0, end).split('\r\n')
  const headers: Record<string, string> = {}
  for (const line of lines) {
    const colon = line.indexOf(':')
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
  }
  const body = raw.slice(end + 4)
  const length = Number(headers['content-length'] ?? Number.NaN)
  if (Number.isFinite(length) && Buffer.byteLength(body) < length) return undefined
  return { status: Number(statusLine.split(' ')[1]), headers, body, raw }
}

/**
 * Sends bytes exactly as given (a request fetch would refuse to make: an odd method, a short or missing Host, a
 * broken header) and resolves with the answer, or with status undefined when the server closed without one.
 */
export function rawHttp(port: number, request: string | Uint8Array): Promise<RawAnswer> {
  return new Promise((resolve) => {
    let raw = ''
    let done = false
    const finish = (answer: RawAnswer) => {
      if (done) return
      done = true
      socket.destroy()
      resolve(answer)
    }
    const socket = connect(port, '127.0.0.1', () => socket.write(request))
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => {
      raw += chunk
      const answer = parseAnswer(raw)
      if (answer) finish(answer)
    })
    const closed = () => finish(parseAnswer(raw) ?? { status: undefined, headers: {}, body: '', raw })
    socket.on('close', closed)
    socket.on('error', closed)
  })
}

export interface OpenRequest {
  /** Closes the connection without sending the rest. */
  hangUp(): Promise<void>
}

/** Sends the start of a request (e.g. headers and part of the body) and keeps the connection open. */
export async function openRequest(port: number, start: string): Promise<OpenRequest> {
  const socket = connect(port, '127.0.0.1')
  const closed = new Promise<void>((resolve) => {
    socket.on('close', () => resolve())
    socket.on('error', () => resolve())
  })
  await new Promise<void>((resolve) => socket.once('connect', () => socket.write(start, () => resolve())))
  return {
    hangUp() {
      socket.destroy()
      return closed
    },
  }
}
