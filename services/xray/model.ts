// Building segment documents (segment-document.ts defines them) as plain objects, serialized with one
// JSON.stringify: aws-xray-sdk-core's Segment class costs several times more to build and to format.
import type { Entity } from './segment-document'

/** A document or subsegment while the tracer builds it. */
export type EntityDocument = Entity

// Ids come from a pool of CSPRNG bytes, refilled 4 KiB at a time and hex-encoded in one native call: an id is
// then a slice of that string, far cheaper than building it two digits at a time.
const pool = new Uint8Array(4096)
let poolHex = ''
let poolAt = 0

function randomHex(digits: number): string {
  if (poolAt + digits > poolHex.length) {
    crypto.getRandomValues(pool)
    poolHex = Buffer.from(pool.buffer).toString('hex')
    poolAt = 0
  }
  const out = poolHex.slice(poolAt, poolAt + digits)
  poolAt += digits
  return out
}

/** 16 hex digits. */
export function newEntityId(): string {
  return randomHex(16)
}

let prefixSecond = -1
let prefix = ''

/** `1-<epoch seconds as 8 hex>-<96 random bits>`. */
export function newTraceId(): string {
  const second = Math.floor(Date.now() / 1000)
  if (second !== prefixSecond) {
    prefixSecond = second
    prefix = `1-${second.toString(16).padStart(8, '0')}-`
  }
  return prefix + randomHex(24)
}

const origin = performance.timeOrigin

/** Epoch seconds with microseconds, as X-Ray wants. */
export function now(): number {
  return Math.round((origin + performance.now()) * 1000) / 1_000_000
}

/** 'error' for 4xx (429 also 'throttle'), 'fault' for 5xx. */
export function flagStatus(entity: EntityDocument, status: number): void {
  if (status === 429) entity.throttle = true
  if (status >= 400 && status < 500) entity.error = true
  else if (status >= 500) entity.fault = true
}

const framePattern = /^\s*at (?:(.+?) \()?(.+?):(\d+):\d+\)?$/

/** The exception as a `cause`, with only frames that have a real line number (the schema wants integers). */
export function addCause(entity: EntityDocument, error: unknown, remote: boolean): void {
  entity.fault = true
  const err = error instanceof Error ? error : new Error(String(error))
  const stack: { path: string; line: number; label: string }[] = []
  for (const line of (err.stack ?? '').split('\n').slice(1, 11)) {
    const match = framePattern.exec(line)
    if (match?.[2] && match[3])
      stack.push({
        path: match[2].slice(0, 250),
        line: Number(match[3]),
        label: (match[1] ?? 'anonymous').slice(0, 250),
      })
  }
  entity.cause = {
    working_directory: process.cwd(),
    exceptions: [
      {
        id: newEntityId(),
        message: err.message.slice(0, 1000),
        type: err.name,
        ...(remote ? { remote: true } : {}),
        ...(stack.length > 0 ? { stack } : {}),
      },
    ],
  }
}

/**
 * One request's segment and the subsegments under it. The document is sent once, when the segment has
 * ended and every subsegment in it has ended too (as the SDK does), so a late subsegment is never lost.
 * Being sent only when ended, no document carries `in_progress`: it used to be set, then deleted, and a
 * delete turns a JSC object into a dictionary that costs more to build on and to serialize.
 */
export class SegmentTree {
  readonly document: EntityDocument
  #open = 0
  #ended = false
  readonly #send: (document: EntityDocument) => void

  constructor(document: EntityDocument, send: (document: EntityDocument) => void) {
    this.document = document
    this.#send = send
  }

  open(parent: EntityDocument, name: string): EntityDocument {
    const child: EntityDocument = { id: newEntityId(), name, start_time: now(), namespace: 'remote' }
    if (parent.subsegments) parent.subsegments.push(child)
    else parent.subsegments = [child]
    this.#open++
    return child
  }

  close(child: EntityDocument): void {
    child.end_time = now()
    this.#open--
    if (this.#ended && this.#open === 0) this.#send(this.document)
  }

  end(): void {
    this.document.end_time = now()
    this.#ended = true
    if (this.#open === 0) this.#send(this.document)
  }
}
