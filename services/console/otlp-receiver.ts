// The console's OTLP/HTTP receiver, as the OTLP specification says one answers: POST /v1/traces in binary
// protobuf or JSON, gzipped or not; 200 with an ExportTraceServiceResponse (partialSuccess when spans were
// rejected); 400 for a body that is no request, 415 for a content type or encoding it does not speak, 413 beyond
// its size limit (after decompression too), each with a google.rpc.Status body. /v1/metrics and /v1/logs are
// accepted and discarded, so SDKs that send all three do not complain. Spans become segment documents in the same
// collector the UDP side fills.
import { gunzipSync } from 'node:zlib'
import { type Logger, readBounded } from '../platform'
import {
  decodeTraceRequest,
  type ExportTraceServiceResponse,
  encodeStatus,
  encodeTraceResponse,
  type OtlpEncoding,
  otlpContentTypes,
} from '../xray'
import type { Collector } from './collector'
import type { Entity } from './document'
import { documentsFromOtlp } from './otlp-documents'

const refusals = [
  'not_found',
  'method_not_allowed',
  'unsupported_media_type',
  'too_large',
  'bad_compression',
  'bad_request',
] as const

/** Why a request was refused as a whole. */
export type OtlpRefusal = (typeof refusals)[number]

export interface OtlpReceiverStats {
  /** Export requests to /v1/traces that were read. */
  readonly requests: number
  readonly spans: { readonly accepted: number; readonly rejected: number }
  /** Requests refused as a whole, by reason. */
  readonly refused: Readonly<Record<OtlpRefusal, number>>
  /** Requests to /v1/metrics and /v1/logs, taken and thrown away. */
  readonly discarded: number
}

export interface OtlpReceiver {
  handle(request: Request): Promise<Response>
  stats(): OtlpReceiverStats
}

export interface OtlpReceiverOptions {
  readonly collector: Collector
  readonly log: Logger
  /** The most a body may take, compressed or not (the specification recommends 20 MiB). @default 20 MiB */
  readonly maxBodyBytes?: number | undefined
}

export const defaultMaxOtlpBodyBytes = 20 * 1024 * 1024

const signals = new Set(['/v1/traces', '/v1/metrics', '/v1/logs'])

class Refused extends Error {
  constructor(
    readonly reason: OtlpRefusal,
    readonly status: number,
    message: string,
  ) {
    super(message)
  }
}

function encodingOf(request: Request): OtlpEncoding | undefined {
  const mediaType = (request.headers.get('content-type') ?? '').split(';')[0]?.trim().toLowerCase()
  if (mediaType === otlpContentTypes.protobuf) return 'protobuf'
  if (mediaType === otlpContentTypes.json) return 'json'
  return undefined
}

/** The body, read no further than the limit allows. */
async function readBody(request: Request, max: number): Promise<Uint8Array> {
  const tooLarge = () => new Refused('too_large', 413, `the body is larger than ${max} bytes`)
  const declared = Number(request.headers.get('content-length') ?? Number.NaN)
  if (declared > max) throw tooLarge()
  let body: Uint8Array | undefined
  try {
    body = await readBounded(request.body, max)
  } catch {
    throw new Refused('bad_request', 400, 'the body could not be read to its end')
  }
  if (body === undefined) throw tooLarge()
  return body
}

/** A gzipped body, unpacked no further than the limit allows (the request's Content-Encoding is checked first). */
function gunzip(body: Uint8Array, max: number): Uint8Array {
  try {
    return gunzipSync(body, { maxOutputLength: max })
  } catch (error) {
    if (error instanceof RangeError || (error as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new Refused('too_large', 413, `the body is larger than ${max} bytes once decompressed`)
    }
    throw new Refused('bad_compression', 400, 'the body is not valid gzip')
  }
}

export function createOtlpReceiver(options: OtlpReceiverOptions): OtlpReceiver {
  const { collector, log } = options
  const max = options.maxBodyBytes ?? defaultMaxOtlpBodyBytes
  const counts = { requests: 0, accepted: 0, rejected: 0, discarded: 0 }
  const refused = Object.fromEntries(refusals.map((r) => [r, 0])) as Record<OtlpRefusal, number>
  let lastLog = 0
  const logLimited = (message: string, fields: Record<string, unknown>) => {
    if (Date.now() - lastLog < 10_000) return
    lastLog = Date.now()
    log.warn(message, fields)
  }

  const answer = (encoding: OtlpEncoding, status: number, body: Uint8Array, headers: Record<string, string> = {}) =>
    new Response(body, { status, headers: { 'content-type': otlpContentTypes[encoding], ...headers } })

  const handle = async (request: Request): Promise<Response> => {
    const path = new URL(request.url).pathname
    // Failures before the content type is known are answered in JSON, which a person can read.
    let encoding: OtlpEncoding = 'json'
    try {
      if (!signals.has(path)) throw new Refused('not_found', 404, `no such path ${path}: use /v1/traces`)
      if (request.method !== 'POST') throw new Refused('method_not_allowed', 405, 'only POST is allowed')
      const requested = encodingOf(request)
      if (requested === undefined) {
        throw new Refused(
          'unsupported_media_type',
          415,
          `Content-Type must be ${otlpContentTypes.protobuf} or ${otlpContentTypes.json}`,
        )
      }
      encoding = requested
      const contentEncoding = (request.headers.get('content-encoding') ?? '').trim().toLowerCase()
      if (contentEncoding !== '' && contentEncoding !== 'identity' && contentEncoding !== 'gzip') {
        throw new Refused(
          'unsupported_media_type',
          415,
          `Content-Encoding ${contentEncoding} is not supported: use gzip`,
        )
      }
      const read = await readBody(request, max)
      const body = contentEncoding === 'gzip' ? gunzip(read, max) : read
      if (path !== '/v1/traces') {
        counts.discarded++
        // An empty Export*ServiceResponse looks the same for every signal.
        return answer(encoding, 200, encodeTraceResponse({}, encoding))
      }
      const decoded = decodeTraceRequest(body, encoding)
      if (!decoded.ok) throw new Refused('bad_request', 400, decoded.problem)
      counts.requests++
      const translated = documentsFromOtlp(decoded.value)
      let accepted = 0
      for (const document of translated.documents) {
        collector.add(document, Buffer.byteLength(JSON.stringify(document)))
        accepted += countEntities(document)
      }
      counts.accepted += accepted
      counts.rejected += translated.rejected
      const response: ExportTraceServiceResponse = {}
      if (translated.rejected > 0) {
        const errorMessage = `rejected ${translated.rejected} span(s): ${translated.reasons.join('; ')}`
        response.partialSuccess = { rejectedSpans: String(translated.rejected), errorMessage }
        logLimited('rejected OTLP spans (counts in /api/stats)', {
          rejected: translated.rejected,
          reason: errorMessage,
        })
      }
      return answer(encoding, 200, encodeTraceResponse(response, encoding))
    } catch (error) {
      if (!(error instanceof Refused)) throw error
      refused[error.reason]++
      logLimited('refused an OTLP request (counts in /api/stats)', { path, reason: error.message })
      const headers: Record<string, string> = error.status === 405 ? { allow: 'POST' } : {}
      return answer(encoding, error.status, encodeStatus({ message: error.message }, encoding), headers)
    }
  }

  return {
    handle,
    stats: () => ({
      requests: counts.requests,
      spans: { accepted: counts.accepted, rejected: counts.rejected },
      refused: { ...refused },
      discarded: counts.discarded,
    }),
  }
}

function countEntities(entity: Entity): number {
  return 1 + (entity.subsegments ?? []).reduce((sum, child) => sum + countEntities(child), 0)
}
