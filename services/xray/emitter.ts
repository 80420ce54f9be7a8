import { lookup } from 'node:dns/promises'
import { isIP } from 'node:net'
import type { HostPort, Logger } from '../platform'

/** Documents larger than this are split into independent subsegments (a datagram holds 64 KiB at most). */
export const maxDatagramBytes = 63 * 1024

const header = '{"format":"json","version":1}\n'
const burst = 1024

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
  /** Datagrams waiting for the next flush at most; beyond that they are dropped and counted. @default 2000 */
  readonly maxQueued?: number
}

interface ConnectedUdpSocket {
  sendMany(packets: readonly string[]): number
  close(): void
}

/**
 * Sends segment documents to the daemon, fire-and-forget: documents finished in one turn of the event loop
 * go out in one sendMany call. A daemon that is missing, refuses, or whose name does not resolve costs a
 * rate-limited log line and nothing else; memory is bounded by maxQueued.
 */
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

export function createUdpEmitter(options: UdpEmitterOptions): SegmentSink {
  const { address, log } = options
  const maxQueued = options.maxQueued ?? 2000
  const resolveEveryMs = options.resolveEveryMs ?? 30_000
  let ip: string | undefined = isIP(address.host) ? address.host : undefined
  let socket: ConnectedUdpSocket | undefined
  let socketIp: string | undefined
  let opening: Promise<void> | undefined
  const queue: string[] = []
  let scheduled = false
  let closed = false
  let sent = 0
  let dropped = 0
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

  // A connected socket: the address is parsed once, not per datagram (per-datagram addresses made sendMany
  // most of the cost of a traced request). Reconnected when the daemon's name resolves to another address.
  const open = (target: string) => {
    opening ??= Bun.udpSocket({
      connect: { hostname: target, port: address.port },
      socket: {
        error(error) {
          failed++
          warn('X-Ray daemon socket error', { error })
        },
      },
    })
      .then((created) => {
        socket?.close()
        socket = created
        socketIp = target
      })
      .catch((error: unknown) => warn('cannot open a socket to the X-Ray daemon', { error }))
      .finally(() => {
        opening = undefined
      })
    return opening
  }

  let worker: Worker | undefined
  let workerDropped = 0
  let workerIp: string | undefined

  const flush = async () => {
    scheduled = false
    if (queue.length === 0) return
    const batch = queue.splice(0, burst)
    if (queue.length > 0 && !scheduled) {
      scheduled = true
      setImmediate(() => void flush())
    }
    if (ip === undefined) {
      dropped += batch.length
      return
    }
    if (!worker) {
      worker = new Worker(workerUrl())
      worker.unref()
      worker.onerror = (event) => warn('the X-Ray sender worker failed', { error: event.message })
      worker.onmessage = (event: MessageEvent<{ failures: number; dropped: number }>) => {
        failed = event.data.failures
        workerDropped = event.data.dropped
        warn('cannot send to the X-Ray daemon', { failed, dropped: workerDropped })
      }
    }
    if (workerIp !== ip) {
      worker.postMessage({ host: ip, port: address.port })
      workerIp = ip
    }
    const packets: string[] = []
    for (const document of batch) packets.push(header + document)
    worker.postMessage(packets)
    sent += batch.length
  }

  return {
    send(document) {
      if (closed) return
      if (queue.length >= maxQueued) {
        dropped++
        return
      }
      queue.push(document)
      if (!scheduled) {
        scheduled = true
        setImmediate(() => void flush())
      }
    },
    stats: () => ({ sent: sent - failed - workerDropped, dropped: dropped + workerDropped, failed }),
    async close() {
      closed = true
      clearInterval(resolveTimer)
      await flush()
      socket?.close()
      worker?.terminate()
    },
  }
}
