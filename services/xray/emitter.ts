import { lookup } from 'node:dns/promises'
import { isIP } from 'node:net'
import type { HostPort, Logger } from '../platform'

/** Documents larger than this are split into independent subsegments (a datagram holds 64 KiB at most). */
export const maxDatagramBytes = 63 * 1024

const header = '{"format":"json","version":1}\n'
const burst = 64

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

interface UdpSocket {
  sendMany(packets: readonly (string | number)[]): number
  close(): void
}

/**
 * Sends segment documents to the daemon, fire-and-forget: documents finished in one turn of the event loop
 * go out in one sendMany call. A daemon that is missing, refuses, or whose name does not resolve costs a
 * rate-limited log line and nothing else; memory is bounded by maxQueued.
 */
export function createUdpEmitter(options: UdpEmitterOptions): SegmentSink {
  const { address, log } = options
  const maxQueued = options.maxQueued ?? 2000
  const resolveEveryMs = options.resolveEveryMs ?? 30_000
  let ip: string | undefined = isIP(address.host) ? address.host : undefined
  let socket: UdpSocket | undefined
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

  const open = () => {
    opening ??= Bun.udpSocket({
      socket: {
        error(error) {
          failed++
          warn('X-Ray daemon socket error', { error })
        },
      },
    }).then((created) => {
      socket = created
    })
    return opening
  }

  const flush = async () => {
    scheduled = false
    if (queue.length === 0) return
    if (!socket) await open()
    // A burst larger than a receive buffer holds would be dropped by the kernel: send it over several turns.
    const batch = queue.splice(0, burst)
    if (queue.length > 0 && !scheduled) {
      scheduled = true
      setImmediate(() => void flush())
    }
    if (!socket || ip === undefined) {
      dropped += batch.length
      return
    }
    const packets: (string | number)[] = []
    for (const document of batch) packets.push(header + document, address.port, ip)
    try {
      socket.sendMany(packets)
      sent += batch.length
    } catch (error) {
      // Bun throws synchronously (ECONNREFUSED) when nothing listens on a local port.
      failed += batch.length
      warn('cannot send to the X-Ray daemon', { error })
    }
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
    stats: () => ({ sent, dropped, failed }),
    async close() {
      closed = true
      clearInterval(resolveTimer)
      await flush()
      socket?.close()
    },
  }
}
