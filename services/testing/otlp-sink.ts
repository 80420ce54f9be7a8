// A stand-in OTLP/HTTP collector for the exporter's tests: a real HTTP server on port 0 that keeps every request
// (body gunzipped) and answers as the test tells it to.
import { gunzipSync } from 'node:zlib'

export interface ReceivedExport {
  readonly headers: Headers
  /** The body as sent, decompressed when it came gzipped. */
  readonly body: Uint8Array
}

export interface OtlpSink {
  /** The traces URL (…/v1/traces). */
  readonly url: string
  readonly received: ReceivedExport[]
  stop(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

/** The answer to the n-th request (from 0); the default is 200 with an empty body. */
export type SinkAnswer = (n: number, request: Request) => Response | Promise<Response>

export function startOtlpSink(answer: SinkAnswer = () => new Response(null, { status: 200 })): OtlpSink {
  const received: ReceivedExport[] = []
  const server = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    development: false,
    async fetch(request) {
      const raw = new Uint8Array(await request.arrayBuffer())
      const body = request.headers.get('content-encoding') === 'gzip' ? new Uint8Array(gunzipSync(raw)) : raw
      received.push({ headers: request.headers, body })
      return answer(received.length - 1, request)
    },
  })
  const stop = () => server.stop(true)
  return { url: `http://127.0.0.1:${server.port}/v1/traces`, received, stop, [Symbol.asyncDispose]: stop }
}
