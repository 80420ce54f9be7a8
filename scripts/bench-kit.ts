// What the benchmark scripts share (bench.ts, duel.ts): the daemon and collector stand-ins, ports, per-process CPU
// time and memory, wrk, the image's runtime settings and the seeded users database. Nothing here runs at import.
import dgram from 'node:dgram'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createConnection } from 'mysql2/promise'

/** One line on stderr and exit code 2, as for any bad flag. */
export function usageFor(script: string): (message: string) => never {
  return (message) => {
    process.stderr.write(`${script}: ${message}\n`)
    process.exit(2)
  }
}

/** A flag that must be a whole number >= 1. */
export function wholeNumber(text: string, flag: string, usage: (message: string) => never): number {
  const value = Number(text)
  if (!Number.isInteger(value) || value < 1) usage(`--${flag} must be a whole number >= 1`)
  return value
}

/** The last CPU for the server under test, the others for wrk and this process; undefined with fewer than 2. */
export function cpuSplit(): { server: string; others: string } | undefined {
  const cpus = navigator.hardwareConcurrency
  if (cpus < 2) return undefined
  return { server: String(cpus - 1), others: cpus === 2 ? '0' : `0-${cpus - 2}` }
}

/** Pins this process, all its threads, to the given CPUs; false when taskset failed. */
export function pinThisProcess(cpus: string): boolean {
  return Bun.spawnSync(['taskset', '-a', '-cp', cpus, String(process.pid)], { stdout: 'ignore' }).exitCode === 0
}

/** Builds ./app; false when the build failed. */
export function buildApp(root: string): boolean {
  return Bun.spawnSync([process.execPath, join(root, 'scripts', 'build.ts')], { stdout: 'ignore' }).exitCode === 0
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

/** A daemon stand-in: counts datagrams. A 4 MiB receive buffer (the kernel's rmem_max here) rides out bursts. */
export async function startReceiver(): Promise<{ count: number; port: number; close(): void }> {
  const socket = dgram.createSocket({ type: 'udp4', recvBufferSize: 4 * 1024 * 1024 })
  const receiver = { count: 0, port: 0, close: () => socket.close() }
  socket.on('message', () => {
    receiver.count++
  })
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve))
  receiver.port = socket.address().port
  return receiver
}

/** An OTLP/HTTP collector stand-in: accepts POST /v1/traces (protobuf or JSON, gzip or not) and counts spans. */
export function startOtlpReceiver(): { spans: number; requests: number; url: string; close(): void } {
  const receiver = { spans: 0, requests: 0, url: '', close: () => server.stop(true) }
  const server = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    routes: {
      '/v1/traces': {
        POST: async (request) => {
          const raw = new Uint8Array(await request.arrayBuffer())
          const body = request.headers.get('content-encoding') === 'gzip' ? Bun.gunzipSync(raw) : raw
          const json = request.headers.get('content-type')?.startsWith('application/json') === true
          receiver.requests++
          receiver.spans += json ? countJsonSpans(body) : countProtobufSpans(body)
          // An empty ExportTraceServiceResponse: everything accepted.
          return json ? Response.json({}) : new Response(new Uint8Array(0), { headers: protobufType })
        },
      },
    },
    fetch: () => new Response('Not Found', { status: 404 }),
  })
  receiver.url = `http://127.0.0.1:${server.port}`
  return receiver
}

const protobufType = { 'content-type': 'application/x-protobuf' }

interface JsonTraces {
  resourceSpans?: { scopeSpans?: { spans?: unknown[] }[] }[]
}

function countJsonSpans(body: Uint8Array): number {
  const request = JSON.parse(new TextDecoder().decode(body)) as JsonTraces
  let spans = 0
  for (const resource of request.resourceSpans ?? [])
    for (const scope of resource.scopeSpans ?? []) spans += scope.spans?.length ?? 0
  return spans
}

/** Spans in a protobuf ExportTraceServiceRequest: resource_spans is field 1, their scope_spans 2, its spans 2. */
export function countProtobufSpans(bytes: Uint8Array): number {
  let spans = 0
  for (const [from, to] of messageFields(bytes, 0, bytes.length, 1))
    for (const [scopeFrom, scopeTo] of messageFields(bytes, from, to, 2))
      for (const _span of messageFields(bytes, scopeFrom, scopeTo, 2)) spans++
  return spans
}

/** Where each length-delimited field `wanted` of the message in bytes[start, end) lies; other fields are skipped. */
function* messageFields(bytes: Uint8Array, start: number, end: number, wanted: number): Generator<[number, number]> {
  let at = start
  const varint = () => {
    let value = 0
    for (let shift = 0; ; shift += 7) {
      const byte = bytes[at++]
      if (byte === undefined || at > end) throw new Error('truncated protobuf')
      value += (byte & 0x7f) * 2 ** shift
      if (byte < 0x80) return value
    }
  }
  while (at < end) {
    const key = varint()
    const wire = key % 8
    if (wire === 0) varint()
    else if (wire === 1) at += 8
    else if (wire === 5) at += 4
    else if (wire === 2) {
      const length = varint()
      if (Math.floor(key / 8) === wanted) yield [at, at + length]
      at += length
    } else throw new Error(`protobuf wire type ${wire} is not expected here`)
    if (at > end) throw new Error('truncated protobuf')
  }
}

export function freePort(): number {
  const probe = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } })
  const port = probe.port
  probe.stop(true)
  return port
}

/** CPU seconds a process has used, all its threads (the UDP sender worker included), in clock ticks. */
export function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []
  return (Number(fields[11]) + Number(fields[12])) / 100
}

/** A process's CPU time so far: utime+stime (clock ticks) and each live thread's run time (ns, schedstat). */
export interface CpuReading {
  readonly seconds: number
  readonly threads: ReadonlyMap<string, number>
}

export function readCpu(pid: number): CpuReading {
  const threads = new Map<string, number>()
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      threads.set(tid, Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]))
    } catch {
      // The thread ended while being listed; cpuUsed then falls back to utime+stime.
    }
  }
  return { seconds: cpuSeconds(pid), threads }
}

/**
 * CPU seconds used between two readings. utime+stime come in 10 ms ticks, too coarse for a round of a few seconds
 * on a shared CPU, so the threads' run times (the same clock, in ns) are summed instead, unless a thread ended in
 * between (its time would be missing): then utime+stime, which keep ended threads' time.
 */
export function cpuUsed(before: CpuReading, after: CpuReading): number {
  let ns = 0
  for (const [tid, start] of before.threads) {
    const end = after.threads.get(tid)
    if (end === undefined) return after.seconds - before.seconds
    ns += end - start
  }
  for (const [tid, end] of after.threads) if (!before.threads.has(tid)) ns += end
  return ns / 1e9
}

/** Resident memory and its peak, in MiB, from /proc. */
export function memoryMiB(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kib = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0)
  return { rss: kib('VmRSS') / 1024, peak: kib('VmHWM') / 1024 }
}

/** Busy and total time of one CPU so far, in clock ticks (/proc/stat). */
export function cpuTicks(cpu: string): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`cpu${cpu} `))
  const ticks = (line ?? '').trim().split(/\s+/).slice(1).map(Number)
  const total = ticks.reduce((sum, t) => sum + t, 0)
  // idle and iowait are the 4th and 5th numbers.
  return { busy: total - (ticks[3] ?? 0) - (ticks[4] ?? 0), total }
}

/** Datagrams the kernel dropped because a receiver's buffer was full (all UDP sockets on this machine). */
export function udpReceiveDrops(): number {
  const lines = readFileSync('/proc/net/snmp', 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('Udp:'))
  const names = lines[0]?.split(/\s+/) ?? []
  const numbers = lines[1]?.split(/\s+/) ?? []
  return Number(numbers[names.indexOf('RcvbufErrors')] ?? 0)
}

export interface WrkRun {
  /** Responses wrk counted. */
  readonly requests: number
  readonly rps: number
  /** Requests wrk gave up on (its --timeout) or could not send. */
  readonly socketErrors: number
}

/** One wrk run against url; throws on a non-2xx answer or when nothing was answered. */
export async function runWrk(command: readonly string[], url: string): Promise<WrkRun> {
  const child = Bun.spawn([...command, url], { stdout: 'pipe', stderr: 'pipe' })
  const out = await new Response(child.stdout).text()
  await child.exited
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1]
  if (non2xx) throw new Error(`${url}: ${non2xx} non-2xx responses`)
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? 0)
  if (requests === 0) throw new Error(`${url}: wrk got no answer:\n${out}${await new Response(child.stderr).text()}`)
  const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out)
  return {
    requests,
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0),
    socketErrors: errors ? errors.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0,
  }
}

/** The runtime settings the image ships (ENV lines of the Dockerfile's last stage), so the servers run as deployed. */
export function imageEnv(root: string): Record<string, string> {
  const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8')
  const lastStage = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '))
  const env: Record<string, string> = {}
  for (const match of lastStage.matchAll(/^ENV ([A-Z0-9_]+)=(\S+)$/gm)) env[match[1] as string] = match[2] as string
  return env
}

/** Polls a server's readiness path; returns how many requests that took (they count as served requests). */
export async function waitReady(url: string, what: string): Promise<number> {
  for (let polls = 1; polls <= 300; polls++) {
    const ok = await fetch(url).then(
      (r) => r.status === 200,
      () => false,
    )
    if (ok) return polls
    await Bun.sleep(50)
  }
  throw new Error(`${what} did not become ready`)
}

export interface UsersDatabase {
  /** DB_* variables for the usermgmt role. */
  readonly env: Record<string, string>
  drop(): Promise<void>
}

/**
 * A fresh MariaDB database (TEST_DB_* or 127.0.0.1:3306 root), migrated by the binary and seeded with 10 users
 * by SQL rather than POST /user, so no outbox deliveries (and their documents) run while measuring.
 */
export async function createUsersDatabase(binary: string, name: string): Promise<UsersDatabase> {
  const db = {
    host: process.env['TEST_DB_HOST'] ?? '127.0.0.1',
    port: Number(process.env['TEST_DB_PORT'] ?? 3306),
    user: process.env['TEST_DB_USER'] ?? 'root',
    password: process.env['TEST_DB_PASSWORD'] ?? '',
  }
  const admin = await createConnection(db)
  await admin.query(`create database \`${name}\``)
  const drop = async () => {
    await admin.query(`drop database if exists \`${name}\``)
    await admin.end()
  }
  const env = {
    DB_HOSTNAME: db.host,
    DB_PORT: String(db.port),
    DB_USERNAME: db.user,
    DB_PASSWORD: db.password,
    DB_NAME: name,
  }
  try {
    const migrate = Bun.spawnSync([binary, 'migrate'], { env: { ...env, PATH: process.env['PATH'] ?? '' } })
    if (migrate.exitCode !== 0) throw new Error(`migrate failed: ${migrate.stderr.toString()}`)
    const hash = await Bun.password.hash('Passw0rd!', { algorithm: 'bcrypt', cost: 4 })
    for (let i = 0; i < 10; i++) {
      await admin.query(
        `insert into \`${name}\`.users (username, password, enabled, role, email, firstname, lastname) values (?, ?, 1, 'ROLE_USER', ?, 'Bench', ?)`,
        [`bench${i}`, hash, `bench${i}@example.com`, String(i)],
      )
    }
  } catch (error) {
    await drop()
    throw error
  }
  return { env, drop }
}
