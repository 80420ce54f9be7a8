import { lookup } from 'node:dns/promises'
import { isIP } from 'node:net'
import type { HostPort, Logger } from '../platform'

/** Documents larger than this are split into independent subsegments (a datagram holds 64 KiB at most). */
export const maxDatagramBytes = 63 * 1024

const header = '{"format":"json","version":1}\n'
// Documents go to the sender worker in batches: a full batch at once, else whatever waited this long. Each
// message wakes the worker (measured here ~80 us of CPU on this VM, more than the datagrams it carries), so at
// default sampling a 2 ms window cost ~4% of throughput; the daemon holds documents up to a second anyway.
const flushEveryMs = 50
const flushAtDocuments = 128

export interface EmitterStats {
  readonly sent: number
  readonly dropped: number
  readonly failed: number
}

/** Where finished documents go: the daemon over UDP, or (in tests) anything that takes datagrams. */
export interface SegmentSink {
  /** Queues one segment document (JSON text); never throws, never waits. */
  send(document: string): void
  stats(): EmitterStats
  close(): Promise<void>
}

export interface UdpEmitterOptions {
  readonly address: HostPort
  readonly log: Logger
  /** How often a DNS name is looked up again. @default 30000 */
  readonly resolveEveryMs?: number
  /** Documents waiting for the next flush at most; beyond that they are dropped and counted. @default 5000 */
  readonly maxQueued?: number
}

/**
 * The sender worker's module. In the compiled binary every module shares the bundle's URL
 * (file:///$bunfs/root/app) and the worker is embedded at its path from the repository root (scripts/build.ts
 * passes it as a second entry point).
 */
function workerUrl(): string {
  const here = import.meta.url
  return here.includes('/$bunfs/')
    ? new URL('./services/xray/udp-worker.ts', here).href
    : new URL('./udp-worker.ts', here).href
}

/**
 * Sends segment documents to the daemon, fire-and-forget. The UDP sends (a syscall per datagram: at 100%
 * sampling most of a traced request's cost when done on the request thread) happen in a Worker (udp-worker.ts)
 * on a socket connected to the resolved address. A daemon that is missing, refuses, or whose name does not
 * resolve costs a rate-limited log line and nothing else; memory is bounded on both sides.
 */
export function createUdpEmitter(options: UdpEmitterOptions): SegmentSink {
  const { address, log } = options
  const maxQueued = options.maxQueued ?? 5000
  const resolveEveryMs = options.resolveEveryMs ?? 30_000
  let ip: string | undefined = isIP(address.host) ? address.host : undefined
  let worker: Worker | undefined
  let workerIp: string | undefined
  let queue: string[] = []
  let timer: ReturnType<typeof setTimeout> | undefined
  let closed = false
  let posted = 0
  let dropped = 0
  let workerDropped = 0
  let failed = 0
  let lastWarning = 0

  const warn = (message: string, fields: Record<string, unknown>) => {
    const now = Date.now()
    if (now - lastWarning < 60_000) return
    lastWarning = now
    log.warn(message, { daemon: `${address.host}:${address.port}`, ...fields })
  }

  const resolve = async () => {
    try {
      ip = (await lookup(address.host, { family: 4 })).address
    } catch (error) {
      warn('cannot resolve the X-Ray daemon address; segments are dropped until it resolves', { error })
    }
  }
  const resolveTimer = isIP(address.host) ? undefined : setInterval(resolve, resolveEveryMs)
  resolveTimer?.unref()
  if (!isIP(address.host)) void resolve()

  const startWorker = (): Worker => {
    const started = new Worker(workerUrl())
    started.unref()
    started.onerror = (event) => {
      // Never leave documents going to a dead worker: the next flush starts a new one.
      warn('the X-Ray sender worker failed; starting a new one', { error: event.message })
      started.terminate()
      if (worker === started) {
        worker = undefined
        workerIp = undefined
      }
    }
    started.onmessage = (event: MessageEvent<{ failures: number; dropped: number }>) => {
      failed = event.data.failures
      workerDropped = event.data.dropped
      warn('cannot send to the X-Ray daemon', { failed, dropped: workerDropped })
    }
    return started
  }

  const flush = () => {
    clearTimeout(timer)
    timer = undefined
    if (queue.length === 0) return
    const batch = queue
    queue = []
    if (ip === undefined) {
      dropped += batch.length
      return
    }
    worker ??= startWorker()
    if (workerIp !== ip) {
      worker.postMessage({ host: ip, port: address.port })
      workerIp = ip
    }
    for (let i = 0; i < batch.length; i++) batch[i] = header + batch[i]
    worker.postMessage(batch)
    posted += batch.length
  }

  return {
    send(document) {
      if (closed) return
      if (queue.length >= maxQueued) {
        dropped++
        return
      }
      queue.push(document)
      if (queue.length >= flushAtDocuments) flush()
      else if (timer === undefined) {
        timer = setTimeout(flush, flushEveryMs)
      }
    },
    stats: () => ({ sent: posted - failed - workerDropped, dropped: dropped + workerDropped, failed }),
    async close() {
      closed = true
      clearInterval(resolveTimer)
      flush()
      if (worker) {
        // Let the worker drain what it was handed before it goes.
        await Bun.sleep(20)
        worker.terminate()
      }
    },
  }
}
