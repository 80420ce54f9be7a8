import { lookup } from 'node:dns/promises'
import { readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import type { HostPort, Logger } from '../platform'
import { datagramHeader } from './segment-document'
import { closedMessage, closeMessage, createDatagramPump } from './udp-pump'

export interface EmitterStats {
  readonly sent: number
  readonly dropped: number
  readonly failed: number
}

/** Where finished documents go: the daemon over UDP, or (in tests) anything that takes datagrams. */
export interface SegmentSink {
  /**
   * Takes a batch of segment documents (JSON text; the array is taken over); never throws, never waits. The
   * tracer batches (see tracer.ts): each hand-over to a sender worker wakes it, which costs more than the
   * datagrams it carries.
   */
  send(documents: string[]): void
  stats(): EmitterStats
  close(): Promise<void>
}

export interface UdpEmitterOptions {
  readonly address: HostPort
  readonly log: Logger
  /** How often a DNS name is looked up again. @default 30000 */
  readonly resolveEveryMs?: number
  /**
   * Where the UDP sends happen: in a Worker beside the request thread, or on the request thread itself.
   * @default 'worker' when the process may use more than one CPU, else 'inline' (see usableCpus)
   */
  readonly sender?: 'worker' | 'inline'
}

/** A CPU quota in CPUs, from a quota and a period in microseconds; undefined for none ('max', -1). */
function quotaCpus(quota: string | undefined, period: string | undefined): number | undefined {
  const q = Number(quota)
  const p = Number(period)
  return quota === undefined || quota === 'max' || !(q > 0) || !(p > 0) ? undefined : q / p
}

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim()
  } catch {
    return undefined
  }
}

/**
 * CPUs this process may run on: its affinity, and the container's CPU quota (what a pod's CPU limit becomes):
 * cgroup v2 `cpu.max` (Amazon Linux 2023 nodes), else cgroup v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us`
 * (Amazon Linux 2). With one CPU, a sender worker only adds hand-overs, so sending happens on the request thread
 * (docs/performance.md has the measurements).
 */
export function usableCpus(cgroupRoot = '/sys/fs/cgroup', affinity = availableParallelism()): number {
  const v2 = readText(join(cgroupRoot, 'cpu.max'))?.split(/\s+/)
  let quota = v2 ? quotaCpus(v2[0], v2[1]) : undefined
  if (v2 === undefined) {
    for (const dir of ['cpu', 'cpu,cpuacct']) {
      const v1 = quotaCpus(
        readText(join(cgroupRoot, dir, 'cpu.cfs_quota_us')),
        readText(join(cgroupRoot, dir, 'cpu.cfs_period_us')),
      )
      if (v1 !== undefined) {
        quota = v1
        break
      }
    }
  }
  return quota === undefined ? affinity : Math.min(affinity, Math.max(1, Math.floor(quota)))
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

/** Takes batches of datagrams for the daemon's resolved address and sends them; never throws. */
interface Transport {
  deliver(datagrams: string[], host: string): void
  /** Datagrams the kernel refused and datagrams dropped for want of room, so far. */
  counts(): { failed: number; dropped: number }
  close(): Promise<void>
}

type Warn = (message: string, fields: Record<string, unknown>) => void

/** Sends from the request thread. */
function inlineTransport(port: number, warn: Warn): Transport {
  const pump = createDatagramPump((error) =>
    warn('cannot send to the X-Ray daemon', { ...pump.counts(), ...(error === undefined ? {} : { error }) }),
  )
  return {
    deliver(datagrams, host) {
      if (host !== pump.host) void pump.target(host, port)
      pump.enqueue(datagrams)
    },
    counts: () => pump.counts(),
    close: () => pump.close(),
  }
}

const workerCloseDeadlineMs = 1000

/** Sends from a Worker (udp-worker.ts), so the syscalls run beside the request thread when a CPU is free. */
function workerTransport(port: number, warn: Warn): Transport {
  let worker: Worker | undefined
  let workerHost: string | undefined
  let failed = 0
  let dropped = 0
  let drained: (() => void) | undefined
  const start = (): Worker => {
    const started = new Worker(workerUrl())
    started.unref()
    started.onerror = (event) => {
      // Never leave documents going to a dead worker: the next delivery starts a new one.
      warn('the X-Ray sender worker failed; starting a new one', { error: event.message })
      started.terminate()
      if (worker === started) {
        worker = undefined
        workerHost = undefined
      }
    }
    started.onmessage = (event: MessageEvent<{ failed: number; dropped: number } | typeof closedMessage>) => {
      if (event.data === closedMessage) {
        drained?.()
        return
      }
      failed = event.data.failed
      dropped = event.data.dropped
      warn('cannot send to the X-Ray daemon', { failed, dropped })
    }
    return started
  }
  return {
    deliver(datagrams, host) {
      worker ??= start()
      if (workerHost !== host) {
        worker.postMessage({ host, port })
        workerHost = host
      }
      worker.postMessage(datagrams)
    },
    counts: () => ({ failed, dropped }),
    async close() {
      const closing = worker
      if (closing === undefined) return
      worker = undefined
      // The worker sends all it was handed (starting first, if it has not yet) and says so; a worker that cannot
      // is not waited for past the deadline.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, workerCloseDeadlineMs)
        drained = () => {
          clearTimeout(timer)
          resolve()
        }
        closing.postMessage(closeMessage)
      })
      closing.terminate()
    },
  }
}

/**
 * The address to send to for a daemon's name: its IPv4 address where it has one (a dual-stack name such as
 * localhost may reach a daemon that listens on IPv4 only), else its IPv6 address, as on an IPv6 EKS cluster.
 */
async function daemonIp(host: string): Promise<string> {
  const found = await lookup(host, { all: true })
  const chosen = found.find((address) => address.family === 4) ?? found[0]
  if (chosen === undefined) throw new Error(`${host} has no address`)
  return chosen.address
}

/**
 * Sends segment documents to the daemon, fire-and-forget, in batches on a socket connected to the resolved
 * address: from a Worker when the process has a CPU to spare for it, else from the request thread. A daemon that
 * is missing, refuses, or whose name does not resolve costs a rate-limited log line and nothing else; a daemon
 * that comes back gets the documents again; memory is bounded.
 */
export function createUdpEmitter(options: UdpEmitterOptions): SegmentSink {
  const { address, log } = options
  const resolveEveryMs = options.resolveEveryMs ?? 30_000
  let ip: string | undefined = isIP(address.host) ? address.host : undefined
  let closed = false
  let handed = 0
  let dropped = 0
  let lastWarning = 0

  const warn: Warn = (message, fields) => {
    const now = Date.now()
    if (now - lastWarning < 60_000) return
    lastWarning = now
    log.warn(message, { daemon: `${address.host}:${address.port}`, ...fields })
  }
  const transport =
    (options.sender ?? (usableCpus() > 1 ? 'worker' : 'inline')) === 'worker'
      ? workerTransport(address.port, warn)
      : inlineTransport(address.port, warn)

  const resolve = async () => {
    try {
      ip = await daemonIp(address.host)
    } catch (error) {
      warn('cannot resolve the X-Ray daemon address; segments are dropped until it resolves', { error })
    }
  }
  const resolveTimer = isIP(address.host) ? undefined : setInterval(resolve, resolveEveryMs)
  resolveTimer?.unref()
  if (!isIP(address.host)) void resolve()

  return {
    send(batch) {
      if (closed || batch.length === 0) return
      if (ip === undefined) {
        dropped += batch.length
        return
      }
      for (let i = 0; i < batch.length; i++) batch[i] = datagramHeader + batch[i]
      transport.deliver(batch, ip)
      handed += batch.length
    },
    stats: () => {
      const counts = transport.counts()
      return { sent: handed - counts.failed - counts.dropped, dropped: dropped + counts.dropped, failed: counts.failed }
    },
    async close() {
      closed = true
      clearInterval(resolveTimer)
      await transport.close()
    },
  }
}
