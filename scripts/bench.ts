// Benchmark: what a request costs against the runtime's limit and the peers, and what else a user pays. One run
// measures, in this order:
//   notification  GET /notification/xray on bare Bun.serve, bare Elysia, ./app untraced / default sampling /
//                 default sampling with LOG_LEVEL=info / 100% sampling (and the OTLP exporter at default and 100%
//                 when the binary has it), Bun + aws-xray-sdk-core and Node + Express 5 + aws-xray-sdk-express
//   users         GET /usermgmt/users (10 rows, MariaDB) on bare Bun.serve + mysql2 and the same ./app rows
//   start         cold start to the first 200, idle memory, binary and image size
//   console       the console's ingest rate: datagrams a second on one core with none lost
// then a verdict for each target. docs/performance.md explains the method, the rows and the targets.
//
// Why this way: this 2-core VM's speed drifts by 10-20% within a minute, more than many differences measured. So
// every server of a table runs at the same time on ONE CPU (the last), each loaded by its own wrk on the other
// CPU(s), where this process (the daemon and collector stand-ins) also runs; all live through the same swings.
// They are compared by CPU time per request (the server's CPU time from /proc over a round, divided by the
// requests wrk counted), which does not depend on how the CPU was shared; requests/s does. A ratio is taken within
// a round, against bare Bun.serve of the same round; the table gives the median over rounds and the range.
// Every server runs with the image's runtime settings (the Dockerfile's ENV lines), as deployed.
//
// Needs: wrk, taskset (util-linux), node (for the Express peer), MariaDB at 127.0.0.1:3306 as root with no
// password or TEST_DB_HOST/TEST_DB_PORT/TEST_DB_USER/TEST_DB_PASSWORD (a database bench_<pid> is created, seeded
// and dropped), 2 CPUs or more.
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import {
  type CpuReading,
  cpuSplit,
  cpuTicks,
  cpuUsed,
  createUsersDatabase,
  freePort,
  imageEnv,
  median,
  memoryMiB,
  pinThisProcess,
  readCpu,
  runWrk,
  startOtlpReceiver,
  startReceiver,
  type UsersDatabase,
  udpReceiveDrops,
  type WrkRun,
} from './bench-kit'

const usage = `Usage: bun scripts/bench.ts [options]

  --rounds N         measured rounds per table, 3 or more for a verdict   default 5
  --seconds N        length of a round                                    default 5
  --connections N    wrk connections per server                           default 50
  --starts N         cold starts per server                               default 20
  --only LIST        some of notification,users,start,console             default all
  --binary PATH      measure this build instead of building ./app
  -h, --help         this help`

const sectionNames = ['notification', 'users', 'start', 'console'] as const
type Section = (typeof sectionNames)[number]

function parseOptions() {
  const known = {
    rounds: { type: 'string', default: '5' },
    seconds: { type: 'string', default: '5' },
    connections: { type: 'string', default: '50' },
    starts: { type: 'string', default: '20' },
    only: { type: 'string', default: sectionNames.join(',') },
    binary: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  } as const
  const { values, tokens } = parseArgs({ options: known, strict: false, tokens: true })
  const problems: string[] = []
  for (const token of tokens) {
    if (token.kind === 'positional') problems.push(`unexpected argument ${JSON.stringify(token.value)}`)
    if (token.kind !== 'option') continue
    const option = (known as Record<string, { type: string }>)[token.name]
    if (!option) problems.push(`unknown option ${token.rawName}`)
    else if (option.type === 'string' && token.value === undefined) problems.push(`${token.rawName} needs a value`)
    else if (option.type === 'boolean' && token.value !== undefined) problems.push(`${token.rawName} takes no value`)
  }
  const whole = (name: 'rounds' | 'seconds' | 'connections' | 'starts') => {
    const text = values[name]
    // A flag given without its value is reported once, above.
    if (typeof text !== 'string') return 0
    const value = Number(text)
    if (!/^\d+$/.test(text) || value < 1)
      problems.push(`--${name} must be a whole number >= 1 (got ${JSON.stringify(text)})`)
    return value
  }
  const rounds = whole('rounds')
  const seconds = whole('seconds')
  const connections = whole('connections')
  const starts = whole('starts')
  const only = String(values.only)
    .split(',')
    .map((name) => name.trim())
  for (const name of only) {
    if (!(sectionNames as readonly string[]).includes(name))
      problems.push(`--only: ${JSON.stringify(name)} is not one of ${sectionNames.join(', ')}`)
  }
  const binary = typeof values.binary === 'string' ? resolve(values.binary) : undefined
  if (binary !== undefined && !statSync(binary, { throwIfNoEntry: false })?.isFile())
    problems.push(`--binary: ${JSON.stringify(binary)} is not a file`)
  return {
    help: values.help === true,
    rounds,
    seconds,
    connections,
    starts,
    only: new Set(only as Section[]),
    binary,
    problems,
  }
}

const options = parseOptions()
if (options.help) {
  process.stdout.write(`${usage}\n`)
  process.exit(0)
}
const needed = ['wrk', 'taskset', ...(options.only.has('notification') ? ['node'] : [])]
for (const tool of needed) {
  if (Bun.spawnSync(['which', tool]).exitCode !== 0) options.problems.push(`${tool} is needed and not on PATH`)
}
const split = cpuSplit()
if (!split) options.problems.push('the benchmark needs at least 2 CPUs: one for the servers, one for the load')
if (options.problems.length > 0 || !split) {
  for (const problem of options.problems) process.stderr.write(`bench: ${problem}\n`)
  process.exit(2)
}
if (!pinThisProcess(split.others)) {
  process.stderr.write('bench: taskset could not pin this process\n')
  process.exit(2)
}

const root = join(import.meta.dir, '..')
const bun = process.execPath
const progress = (line: string) => process.stderr.write(`bench: ${line}\n`)
const print = (lines: readonly string[]) => process.stdout.write(`${lines.join('\n')}\n`)
const shortRun = options.rounds < 3

function build(outfile: string, entry: string[], extra: string[] = []): void {
  const result = Bun.spawnSync([bun, 'build', '--compile', ...extra, ...entry, '--outfile', outfile], {
    cwd: root,
    stdout: 'ignore',
    stderr: 'pipe',
  })
  if (result.exitCode !== 0) throw new Error(`build of ${entry.join(' ')} failed: ${result.stderr.toString()}`)
}

let binary = options.binary
if (binary === undefined) {
  progress('building ./app')
  const built = Bun.spawnSync([bun, join(root, 'scripts', 'build.ts')], { cwd: root, stdout: 'ignore', stderr: 'pipe' })
  if (built.exitCode !== 0) {
    process.stderr.write(`bench: bun scripts/build.ts failed\n${built.stderr.toString()}`)
    process.exit(1)
  }
  binary = join(root, 'app')
}
const app = binary

const dir = mkdtempSync(join(tmpdir(), 'bench-'))
const allRules = join(dir, 'all.json')
writeFileSync(allRules, JSON.stringify({ version: 2, rules: [], default: { fixed_target: 1, rate: 1 } }))
const shippedEnv = imageEnv(root)
const mailEnv = {
  AWS_MAIL_SERVER_HOST: '127.0.0.1',
  AWS_MAIL_SERVER_TLS: 'none',
  AWS_MAIL_SERVER_FROM_ADDRESS: 'bench@example.com',
}

// ---------------------------------------------------------------------------------------------------------------
// Children: every process started here is tracked, so that an interrupted run leaves nothing behind.

interface Child {
  readonly pid: number
  /** Lines written to stdout so far (the access log at LOG_LEVEL=info). */
  lines(): number
  /** The end of stdout and stderr, for a server that failed. */
  tail(): string
  readonly exited: Promise<number>
  stop(): Promise<void>
}

const children = new Set<Child>()
let started = 0

/**
 * Starts a command on the servers' CPU with its output going to files, as a container runtime's does: writing
 * never waits for a reader (a pipe read on the busy load CPU made the LOG_LEVEL=info row's cost swing with it).
 */
function startChild(command: string[], env: Record<string, string>): Child {
  const out = join(dir, `${++started}.out`)
  const err = join(dir, `${started}.err`)
  const proc = Bun.spawn(['taskset', '-c', split?.server ?? '0', ...command], {
    cwd: root,
    env: { PATH: process.env['PATH'] ?? '', ...env },
    stdout: Bun.file(out),
    stderr: Bun.file(err),
  })
  const read = (file: string) => readFileSync(file, 'utf8')
  const child: Child = {
    pid: proc.pid,
    lines: () => read(out).split('\n').length - 1,
    tail: () => `${read(out).slice(-2000)}${read(err).slice(-2000)}`,
    exited: proc.exited,
    stop: async () => {
      proc.kill('SIGTERM')
      const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000)
      await proc.exited
      clearTimeout(timer)
      children.delete(child)
    },
  }
  children.add(child)
  return child
}

let database: UsersDatabase | undefined
async function cleanUp(): Promise<void> {
  await Promise.all([...children].map((c) => c.stop()))
  await database?.drop().catch(() => {})
  database = undefined
  rmSync(dir, { recursive: true, force: true })
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    void cleanUp().finally(() => process.exit(130))
  })
}

/** Polls url until a 200 while child lives; returns how many requests the server answered on the way. */
async function waitFor200(url: string, child: Child, what: string, deadlineMs = 30_000): Promise<number> {
  let exited = false
  void child.exited.then(() => {
    exited = true
  })
  const start = performance.now()
  for (let answered = 0; ; ) {
    const status = await fetch(url).then(
      (r) => r.arrayBuffer().then(() => r.status),
      () => 0,
    )
    if (status !== 0) answered++
    if (status === 200) return answered
    if (exited) throw new Error(`${what} exited before answering:\n${child.tail()}`)
    if (performance.now() - start > deadlineMs) throw new Error(`${what} did not answer 200 within ${deadlineMs} ms`)
    await Bun.sleep(20)
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Load tables.

type Exporter = 'none' | 'xray' | 'otlp'

interface Spec {
  /** What the verdicts call it. */
  readonly id: string
  readonly label: string
  readonly command: (port: number) => string[]
  readonly env: Record<string, string>
  /** Polled until 200 before loading; the route itself unless the server has a readiness path. */
  readonly readyPath?: string
  readonly exporter: Exporter
  /** Samples every request, so every request must reach the stand-in. */
  readonly everyRequest: boolean
}

interface Server {
  readonly spec: Spec
  readonly child: Child
  readonly url: string
  readonly udp: Awaited<ReturnType<typeof startReceiver>>
  readonly otlp: ReturnType<typeof startOtlpReceiver>
  /** Requests on the measured route that wrk did not count (readiness polls, the body check, the warm-up). */
  uncounted: number
  idleMiB: number
}

interface Row {
  readonly spec: Spec
  /** Per measured round: CPU microseconds per request, requests/s, socket errors. */
  readonly cpuMicros: number[]
  readonly rps: number[]
  readonly socketErrors: number
  readonly requests: number
  readonly idleMiB: number
  readonly loaded: { rss: number; peak: number }
  /** X-Ray documents or OTLP spans received, or undefined for an untraced server. */
  readonly sent: number | undefined
  readonly logLines: number
}

interface Table {
  readonly title: string
  readonly route: string
  readonly rows: Row[]
  readonly baseline: string
  /** Of the servers' CPU, per round: how busy it was (all processes on it). */
  readonly cpuBusy: number[]
  /** Of the servers' CPU, per round: how much these servers used. */
  readonly ours: number[]
  readonly kernelDrops: number
}

const appEnv = (exporter: Exporter, full: boolean, extra: Record<string, string> = {}) => ({
  LOG_LEVEL: 'warn',
  ...(exporter === 'none' ? { AWS_XRAY_SDK_ENABLED: 'false' } : {}),
  ...(full ? { AWS_XRAY_SAMPLING_RULES: allRules } : {}),
  ...(exporter === 'otlp' ? { OTEL_TRACES_EXPORTER: 'otlp' } : {}),
  ...extra,
})

function appSpecs(role: 'notification' | 'usermgmt', roleEnv: Record<string, string>, otlp: boolean): Spec[] {
  const readyPath = role === 'notification' ? '/notification/health-status' : '/usermgmt/health/readiness'
  const spec = (id: string, label: string, exporter: Exporter, full: boolean, extra?: Record<string, string>) => ({
    id,
    label,
    command: (port: number) => [app, 'serve', `--role=${role}`, '--port', String(port)],
    env: { ...roleEnv, ...appEnv(exporter, full, extra) },
    readyPath,
    exporter,
    everyRequest: full,
  })
  return [
    spec('off', './app, tracing off', 'none', false),
    spec('default', './app, default sampling', 'xray', false),
    spec('info', './app, default sampling, LOG_LEVEL=info', 'xray', false, { LOG_LEVEL: 'info' }),
    spec('full', './app, 100% sampling', 'xray', true),
    ...(otlp
      ? [
          spec('otlp-default', './app, OTLP exporter, default sampling', 'otlp', false),
          spec('otlp-full', './app, OTLP exporter, 100% sampling', 'otlp', true),
        ]
      : []),
  ]
}

const fixture = (name: string) => (port: number) => [bun, join(root, 'scripts', name), String(port)]

async function startServer(spec: Spec, path: string): Promise<Server> {
  const udp = await startReceiver()
  const otlp = startOtlpReceiver()
  const port = freePort()
  const child = startChild(spec.command(port), {
    ...shippedEnv,
    ...(database?.env ?? {}),
    AWS_XRAY_DAEMON_ADDRESS: `127.0.0.1:${udp.port}`,
    OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
    ...spec.env,
  })
  const base = `http://127.0.0.1:${port}`
  const polls = await waitFor200(`${base}${spec.readyPath ?? path}`, child, spec.label)
  return { spec, child, url: `${base}${path}`, udp, otlp, uncounted: spec.readyPath ? 0 : polls, idleMiB: 0 }
}

const sentBy = (server: Server) =>
  server.spec.exporter === 'none' ? undefined : server.spec.exporter === 'otlp' ? server.otlp.spans : server.udp.count

/**
 * Waits until every server has gone quiet (under 2% of a CPU for 200 ms): the requests still queued when wrk
 * stopped are answered between rounds, not counted in the next round's CPU time without their responses.
 */
async function settle(servers: readonly Server[]): Promise<void> {
  for (let waited = 0; waited < 10_000; waited += 200) {
    const before = servers.map((s) => readCpu(s.child.pid))
    await Bun.sleep(200)
    if (servers.every((s, i) => cpuUsed(before[i] as CpuReading, readCpu(s.child.pid)) < 0.004)) return
  }
}

/** All servers started at once, checked to answer the same body, then loaded at once, round after round. */
async function measure(title: string, path: string, specs: Spec[]): Promise<Table> {
  progress(`${title}: starting ${specs.length} servers`)
  const servers: Server[] = []
  try {
    const started = await Promise.allSettled(specs.map((spec) => startServer(spec, path)))
    for (const result of started) if (result.status === 'fulfilled') servers.push(result.value)
    const failed = started.find((r) => r.status === 'rejected')
    if (failed) throw failed.reason
    const bodies = await Promise.all(servers.map((s) => fetch(s.url).then((r) => r.json())))
    for (const [i, server] of servers.entries()) {
      server.uncounted++
      if (!Bun.deepEquals(bodies[i], bodies[0]))
        throw new Error(`${server.spec.label} answers ${JSON.stringify(bodies[i])}, not ${JSON.stringify(bodies[0])}`)
    }
    // Idle: started, answered, then left alone for a moment.
    await Bun.sleep(2000)
    for (const server of servers) server.idleMiB = memoryMiB(server.child.pid).rss
    const wrk = (seconds: number) => ['wrk', '-t1', `-c${options.connections}`, `-d${seconds}s`, '--timeout', '10s']
    const round = async (seconds: number) => {
      const cpuBefore = servers.map((s) => readCpu(s.child.pid))
      const ticksBefore = cpuTicks(split?.server ?? '0')
      const started = performance.now()
      const runs = await Promise.all(servers.map((s) => runWrk(wrk(seconds), s.url)))
      const took = (performance.now() - started) / 1000
      const ticksAfter = cpuTicks(split?.server ?? '0')
      const cpu = servers.map((s, i) => cpuUsed(cpuBefore[i] as CpuReading, readCpu(s.child.pid)))
      await settle(servers)
      return {
        runs,
        cpu,
        busy: (ticksAfter.busy - ticksBefore.busy) / Math.max(1, ticksAfter.total - ticksBefore.total),
        ours: cpu.reduce((sum, c) => sum + c, 0) / took,
      }
    }
    const dropsBefore = udpReceiveDrops()
    progress(`${title}: warming up`)
    const warm = await round(2)
    for (const [i, server] of servers.entries()) server.uncounted += warm.runs[i]?.requests ?? 0
    const measured: Awaited<ReturnType<typeof round>>[] = []
    for (let r = 1; r <= options.rounds; r++) {
      progress(`${title}: round ${r} of ${options.rounds}`)
      measured.push(await round(options.seconds))
    }
    const loaded = servers.map((s) => memoryMiB(s.child.pid))
    // SIGTERM: each server sends what it still holds; then the last datagrams and POSTs land.
    await Promise.all(servers.map((s) => s.child.stop()))
    await Bun.sleep(500)
    const rows = servers.map((server, i): Row => {
      const runs = measured.map((m) => m.runs[i] as WrkRun)
      const wrkRequests = runs.reduce((sum, run) => sum + run.requests, 0)
      return {
        spec: server.spec,
        cpuMicros: measured.map((m) => ((m.cpu[i] ?? 0) * 1e6) / (m.runs[i]?.requests ?? 1)),
        rps: runs.map((run) => run.rps),
        socketErrors: runs.reduce((sum, run) => sum + run.socketErrors, 0),
        requests: wrkRequests + server.uncounted,
        idleMiB: server.idleMiB,
        loaded: loaded[i] ?? { rss: 0, peak: 0 },
        sent: sentBy(server),
        logLines: server.child.lines(),
      }
    })
    return {
      title,
      route: path,
      rows,
      baseline: specs[0]?.label ?? '',
      cpuBusy: measured.map((m) => m.busy),
      ours: measured.map((m) => m.ours),
      kernelDrops: udpReceiveDrops() - dropsBefore,
    }
  } finally {
    await Promise.all(servers.map((s) => s.child.stop()))
    for (const server of servers) {
      server.udp.close()
      server.otlp.close()
    }
  }
}

/** Per round, this row's CPU per request over another's; median and range. */
function ratios(row: Row, other: Row): { median: number; min: number; max: number } {
  const each = row.cpuMicros.map((us, i) => us / (other.cpuMicros[i] ?? Number.NaN))
  return { median: median(each), min: Math.min(...each), max: Math.max(...each) }
}

const fixed = (n: number, digits = 2) => n.toFixed(digits)

function tableLines(table: Table): string[] {
  const base = table.rows[0] as Row
  const lines = [
    `### ${table.title}`,
    '',
    `| server | CPU per request | vs ${base.spec.label} | range over rounds | requests/s | RSS idle / loaded (peak), MiB | sent / requests |`,
    '| --- | ---: | ---: | ---: | ---: | ---: | --- |',
  ]
  for (const row of table.rows) {
    const r = ratios(row, base)
    const sent =
      row.sent === undefined
        ? '-'
        : `${row.sent} ${row.spec.exporter === 'otlp' ? 'spans' : 'documents'} / ${row.requests}`
    const log = row.spec.env['LOG_LEVEL'] === 'info' ? `; ${row.logLines} log lines` : ''
    lines.push(
      `| ${row.spec.label} | ${fixed(median(row.cpuMicros), 1)} us | ${fixed(r.median)} | ${fixed(r.min)}-${fixed(r.max)} | ${Math.round(median(row.rps))} | ${Math.round(row.idleMiB)} / ${Math.round(row.loaded.rss)} (${Math.round(row.loaded.peak)}) | ${sent}${log} |`,
    )
  }
  const errors = table.rows.filter((r) => r.socketErrors > 0)
  lines.push(
    '',
    `CPU ${split?.server} per round, busy / used by these servers: ${table.cpuBusy.map((b, i) => `${Math.round(b * 100)}% / ${Math.round((table.ours[i] ?? 0) * 100)}%`).join(', ')}. UDP datagrams the kernel dropped meanwhile (any socket on this machine): ${table.kernelDrops}.${errors.length > 0 ? ` wrk socket errors: ${errors.map((r) => `${r.spec.label} ${r.socketErrors}`).join(', ')}.` : ''}`,
  )
  return lines
}

// ---------------------------------------------------------------------------------------------------------------
// OTLP: measured when this binary exports it (OTEL_TRACES_EXPORTER=otlp).

async function otlpSupport(): Promise<string | undefined> {
  const udp = await startReceiver()
  const otlp = startOtlpReceiver()
  const port = freePort()
  const child = startChild([app, 'serve', '--role=notification', '--port', String(port)], {
    ...shippedEnv,
    ...mailEnv,
    ...appEnv('otlp', true),
    AWS_XRAY_DAEMON_ADDRESS: `127.0.0.1:${udp.port}`,
    OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
    // The probe only: export within 100 ms rather than the specification's 5 s.
    OTEL_BSP_SCHEDULE_DELAY: '100',
  })
  try {
    await waitFor200(`http://127.0.0.1:${port}/notification/xray`, child, 'the OTLP probe', 15_000)
    for (let waited = 0; otlp.spans === 0 && waited < 2000; waited += 100) await Bun.sleep(100)
    await child.stop()
    await Bun.sleep(300)
    return otlp.spans > 0
      ? undefined
      : `no span reached the OTLP stand-in (X-Ray documents received: ${udp.count}); rows left out`
  } catch (error) {
    const line = (error instanceof Error ? error.message : String(error)).split('\n').slice(0, 2).join(' ')
    return `the binary refused OTEL_TRACES_EXPORTER=otlp (${line.slice(0, 200)}); rows left out`
  } finally {
    await child.stop()
    udp.close()
    otlp.close()
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Cold start and memory.

interface StartRow {
  readonly label: string
  readonly id: string
  readonly ms: number[]
  /** CPU time the process had used when it answered (its threads' run time). */
  readonly cpuMs: number[]
  readonly idleMiB: number
}

const noCpu: CpuReading = { seconds: 0, threads: new Map() }

async function coldStarts(
  label: string,
  id: string,
  command: (port: number) => string[],
  env: Record<string, string>,
  path: string,
): Promise<StartRow> {
  progress(`start: ${label}`)
  const once = async (idle: boolean) => {
    const port = freePort()
    const url = `http://127.0.0.1:${port}${path}`
    const started = performance.now()
    const child = startChild(command(port), env)
    try {
      // Polled without pause: the poller runs on the other CPU, so it does not slow the start it times.
      for (;;) {
        const status = await fetch(url).then(
          (r) => r.arrayBuffer().then(() => r.status),
          () => 0,
        )
        if (status === 200) break
        if (performance.now() - started > 30_000) throw new Error(`${label}: no 200 within 30 s:\n${child.tail()}`)
      }
      const ms = performance.now() - started
      const cpuMs = cpuUsed(noCpu, readCpu(child.pid)) * 1000
      if (!idle) return { ms, cpuMs, rss: 0 }
      await Bun.sleep(3000)
      return { ms, cpuMs, rss: memoryMiB(child.pid).rss }
    } finally {
      await child.stop()
    }
  }
  await once(false) // the binary's pages into the page cache; not counted
  const ms: number[] = []
  const cpuMs: number[] = []
  for (let i = 0; i < options.starts; i++) {
    const start = await once(false)
    ms.push(start.ms)
    cpuMs.push(start.cpuMs)
  }
  const idle = await once(true)
  return { label, id, ms, cpuMs, idleMiB: idle.rss }
}

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number
}

const mib = (bytes: number) => bytes / 1024 / 1024

/** The image's size: from buildah when the image-check image is there, else docs/image.md's last check. */
function imageSize(): string {
  // Bun.which first: spawning a program that is not installed throws instead of failing.
  const listed = Bun.which('buildah')
    ? Bun.spawnSync(['buildah', 'images', '--format', '{{.Size}}', 'localhost/xray-eks-app:check'], {
        stderr: 'ignore',
      })
    : undefined
  const size = listed?.exitCode === 0 ? listed.stdout.toString().trim() : ''
  if (size) return `${size} uncompressed (buildah images localhost/xray-eks-app:check, as last built)`
  const doc = readFileSync(join(root, 'docs', 'image.md'), 'utf8')
  const line = /^ok\s+image size\s+(.+)$/m.exec(doc)?.[1]
  if (!line) return 'unknown (no image here, none in docs/image.md)'
  const rest = Number(/everything else is ([\d.]+) MB/.exec(doc)?.[1])
  const estimate = Number.isFinite(rest)
    ? `; with this binary about ${Math.round(statSync(app).size / 1e6 + rest)} MB uncompressed (the binary plus the image's other ${rest} MB)`
    : ''
  return `${line} (docs/image.md, the last image check, with the binary of then)${estimate}`
}

// ---------------------------------------------------------------------------------------------------------------
// The console's ingest rate.

interface IngestTrial {
  readonly rate: number
  readonly sent: number
  readonly received: number
  readonly seconds: number
  readonly cpuMicros: number
  readonly kernelDrops: number
}

/** A notification segment as ./app sends it, its trace id and id made unique by n. */
function segmentDatagram(n: number): string {
  const hex = n.toString(16).padStart(24, '0')
  return `{"format":"json","version":1}\n{"trace_id":"1-6b0ec40b-${hex}","id":"${hex.slice(8)}","name":"V1-Notification-Microservice","start_time":1796129803.320157,"end_time":1796129803.320412,"aws":{"xray":{"sdk":"app X-Ray layer for Bun","sdk_version":"0.1.0"}},"service":{"name":"app","version":"0.1.0","runtime":"bun","runtime_version":"1.4.5"},"http":{"request":{"method":"GET","url":"http://notification:8096/notification/xray","client_ip":"10.0.1.17","user_agent":"Java-http-client/17"},"response":{"status":200,"content_length":94}},"origin":"AWS::EKS::Container"}`
}

/**
 * The rate a clean trial proves: the rate asked when the sender kept to it. The pacer sends what is due each
 * millisecond and the trial's clock runs on through its last sleep, so a sender that kept up reads a little under
 * the rate asked; a sender more than 1% short proves only what it sent.
 */
function ingestRate(trial: IngestTrial): { rate: number; text: string } {
  const sent = Math.round(trial.sent / trial.seconds)
  return sent >= 0.99 * trial.rate
    ? { rate: trial.rate, text: `${trial.rate} datagrams/s (sent ${sent}/s)` }
    : { rate: sent, text: `${sent} datagrams/s` }
}

async function ingest(): Promise<{ trials: IngestTrial[]; best: IngestTrial | undefined; senderLimit: boolean }> {
  progress('console: starting ./app console')
  const child = startChild([app, 'console', '--udp', '127.0.0.1:0', '--http', '127.0.0.1:0'], {
    ...shippedEnv,
    LOG_LEVEL: 'info',
  })
  try {
    let ready: { page: string; udp: string } | undefined
    for (let waited = 0; !ready && waited < 15_000; waited += 50) {
      const line = child
        .tail()
        .split('\n')
        .find((l) => l.includes('"x-ray console listening"'))
      if (line) ready = JSON.parse(line) as { page: string; udp: string }
      else await Bun.sleep(50)
    }
    if (!ready) throw new Error(`./app console did not start:\n${child.tail()}`)
    const stats = async () => ((await (await fetch(`${ready.page}/api/stats`)).json()) as { received: number }).received
    const socket = await Bun.udpSocket({
      connect: { hostname: '127.0.0.1', port: Number(ready.udp.split(':').pop()) },
    })
    let n = 0
    const trial = async (rate: number, seconds: number): Promise<IngestTrial> => {
      const before = await stats()
      const cpuBefore = readCpu(child.pid)
      const dropsBefore = udpReceiveDrops()
      const start = performance.now()
      let sent = 0
      for (let elapsed = 0; elapsed < seconds * 1000; elapsed = performance.now() - start) {
        const due = Math.floor((rate * elapsed) / 1000)
        while (sent < due) {
          const batch: string[] = []
          for (let i = 0; i < Math.min(256, due - sent); i++) batch.push(segmentDatagram(n++))
          sent += socket.sendMany(batch)
        }
        await Bun.sleep(1)
      }
      const took = (performance.now() - start) / 1000
      // Until the console has taken in everything the kernel holds for it.
      let received = (await stats()) - before
      for (let still = 0; still < 3; ) {
        await Bun.sleep(100)
        const now = (await stats()) - before
        still = now === received ? still + 1 : 0
        received = now
      }
      const cpu = cpuUsed(cpuBefore, readCpu(child.pid))
      return {
        rate,
        sent,
        received,
        seconds: took,
        cpuMicros: (cpu * 1e6) / Math.max(received, 1),
        kernelDrops: udpReceiveDrops() - dropsBefore,
      }
    }
    await trial(20_000, 1) // warm-up
    const trials: IngestTrial[] = []
    const run = async (rate: number) => {
      progress(`console: ${rate} datagrams a second`)
      const t = await trial(rate, 3)
      trials.push(t)
      return t
    }
    const clean = (t: IngestTrial) => t.received === t.sent
    const reached = (t: IngestTrial) => t.sent / t.seconds >= 0.95 * t.rate
    let good: IngestTrial | undefined
    let bad: IngestTrial | undefined
    let senderLimit = false
    // Doubling from 25,000 while nothing is lost, or halving while something is, to the step where losses begin.
    for (let rate = 25_000; rate >= 1_000 && rate <= 1_600_000 && !(good && bad); ) {
      const t = await run(rate)
      if (!reached(t)) {
        senderLimit = true
        if (clean(t)) good = t
        break
      }
      if (clean(t)) good = t
      else bad = t
      rate = clean(t) ? rate * 2 : rate / 2
    }
    // Narrow the step where losses began, to within an eighth of it.
    for (let i = 0; i < 3 && good && bad; i++) {
      const t = await run(Math.round((good.rate + bad.rate) / 2 / 1000) * 1000)
      if (clean(t)) good = t
      else bad = t
    }
    socket.close()
    return { trials, best: good, senderLimit }
  } finally {
    await child.stop()
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The run.

/** The first line a command prints (a compiled ./app acts as bun itself with BUN_BE_BUN=1). */
function firstLine(command: string[], env: Record<string, string> = {}): string {
  const result = Bun.spawnSync(command, { env: { ...process.env, ...env }, stdout: 'pipe', stderr: 'pipe' })
  return `${result.stdout.toString()}${result.stderr.toString()}`.trim().split('\n')[0] ?? '?'
}
const cpuModel = /model name\s*:\s*(.+)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? '?'
const loadAverage = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')
const wrkVersion = firstLine(['wrk', '-v']).split(' ').slice(0, 2).join(' ')

print([
  `# bench ${new Date().toISOString()}${shortRun ? `  SHORT RUN (${options.rounds} round${options.rounds === 1 ? '' : 's'} of ${options.seconds} s): not enough rounds for a verdict` : ''}`,
  '',
  `machine: ${cpuModel}, ${navigator.hardwareConcurrency} CPUs, Linux ${firstLine(['uname', '-r'])}; load average at start ${loadAverage()}`,
  `runtimes: Bun ${Bun.version} (fixtures; ./app reports Bun ${firstLine([app, '--version'], { BUN_BE_BUN: '1' })}), Node ${options.only.has('notification') ? firstLine(['node', '--version']) : '(not used)'}, ${wrkVersion}`,
  `binary: ${app}${options.binary ? '' : ' (built by scripts/build.ts)'}, ${fixed(mib(statSync(app).size), 1)} MiB`,
  `CPUs: every server on CPU ${split.server}; wrk, the daemon and collector stand-ins and this script on CPU ${split.others}`,
  `load: each server its own wrk -t1 -c${options.connections} --timeout 10s, all at once; a 2 s warm-up, then ${options.rounds} rounds of ${options.seconds} s`,
  `env of every server: ${Object.entries(shippedEnv)
    .map(([k, v]) => `${k}=${v}`)
    .join(
      ' ',
    )} (the image's ENV lines); ./app: LOG_LEVEL=warn unless the row says info, default sampling = the built-in rules (the stand-in answers no sampling calls: 1 a second, then 5%), 100% = AWS_XRAY_SAMPLING_RULES with rate 1; the peers sample 100%`,
  '',
])

const tables: Table[] = []
let starts: StartRow[] = []
let console_: Awaited<ReturnType<typeof ingest>> | undefined
let otlpNote: string | undefined
try {
  if (options.only.has('notification') || options.only.has('users')) {
    progress('checking whether this binary exports OTLP')
    otlpNote = await otlpSupport()
    print([`OTLP exporter: ${otlpNote ?? 'present (OTEL_TRACES_EXPORTER=otlp); its rows are measured'}`, ''])
  }
  if (options.only.has('notification')) {
    const specs: Spec[] = [
      {
        id: 'bun',
        label: 'bare Bun.serve',
        command: fixture('bench-bun-fixture.ts'),
        env: {},
        exporter: 'none',
        everyRequest: false,
      },
      {
        id: 'elysia',
        label: 'bare Elysia .listen()',
        command: fixture('bench-elysia-fixture.ts'),
        env: {},
        exporter: 'none',
        everyRequest: false,
      },
      ...appSpecs('notification', mailEnv, otlpNote === undefined),
      {
        id: 'xray-sdk',
        label: 'Bun + aws-xray-sdk-core, 100%',
        command: fixture('bench-xray-sdk-fixture.ts'),
        env: {},
        exporter: 'xray',
        everyRequest: true,
      },
      {
        id: 'express',
        label: 'Node + Express 5 + aws-xray-sdk-express, 100%',
        command: (port) => ['node', join(root, 'scripts', 'bench-express-fixture.cjs'), String(port)],
        env: {},
        exporter: 'xray',
        everyRequest: true,
      },
    ]
    const table = await measure('GET /notification/xray', '/notification/xray', specs)
    tables.push(table)
    print([...tableLines(table), ''])
  }
  if (options.only.has('users') || options.only.has('start')) {
    progress('creating and seeding the users database')
    database = await createUsersDatabase(app, `bench_${process.pid}`)
  }
  if (options.only.has('users')) {
    const specs: Spec[] = [
      {
        id: 'bun',
        label: 'bare Bun.serve + mysql2',
        command: fixture('bench-mysql2-fixture.ts'),
        env: {},
        exporter: 'none',
        everyRequest: false,
      },
      ...appSpecs('usermgmt', {}, otlpNote === undefined),
    ]
    const table = await measure('GET /usermgmt/users (10 rows)', '/usermgmt/users', specs)
    tables.push(table)
    print([...tableLines(table), ''])
  }
  if (options.only.has('start')) {
    const bare = join(dir, 'bare-bun')
    build(bare, ['scripts/bench-bun-fixture.ts'], ['--minify-syntax'])
    const udp = await startReceiver()
    const common = { ...shippedEnv, AWS_XRAY_DAEMON_ADDRESS: `127.0.0.1:${udp.port}` }
    starts = [
      await coldStarts('bare Bun.serve, compiled', 'bun', (p) => [bare, String(p)], common, '/notification/xray'),
      await coldStarts(
        './app serve --role=notification',
        'notification',
        (p) => [app, 'serve', '--role=notification', '--port', String(p)],
        { ...common, ...mailEnv },
        '/notification/xray',
      ),
      await coldStarts(
        './app serve --role=usermgmt',
        'usermgmt',
        (p) => [app, 'serve', '--role=usermgmt', '--port', String(p)],
        { ...common, ...(database?.env ?? {}) },
        '/usermgmt/health-status',
      ),
    ]
    udp.close()
    const lines = [
      '### Cold start (process start to the first 200) and idle memory',
      '',
      `| server | median | p90 | min | max | CPU used by then (median) | RSS idle, MiB | binary |`,
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ]
    for (const row of starts) {
      const size = row.id === 'bun' ? statSync(bare).size : statSync(app).size
      lines.push(
        `| ${row.label} | ${fixed(median(row.ms), 1)} ms | ${fixed(percentile(row.ms, 90), 1)} ms | ${fixed(Math.min(...row.ms), 1)} ms | ${fixed(Math.max(...row.ms), 1)} ms | ${fixed(median(row.cpuMs), 1)} ms | ${Math.round(row.idleMiB)} | ${fixed(mib(size), 1)} MiB |`,
      )
    }
    lines.push(
      '',
      `${options.starts} starts each after one not counted (the binary in the page cache), started through taskset on CPU ${split.server}, polled without pause from CPU ${split.others}; shipped settings (LOG_LEVEL=info, default sampling); usermgmt answers health-status before its database connection is made. RSS idle: 3 s after the first 200.`,
      `Image: ${imageSize()}.`,
      '',
    )
    print(lines)
  }
  if (options.only.has('console')) {
    console_ = await ingest()
    const lines = [
      '### Console ingest (./app console on one CPU)',
      '',
      '| datagrams/s asked | sent/s | received / sent | lost | console CPU per datagram | kernel drops |',
      '| ---: | ---: | ---: | ---: | ---: | ---: |',
    ]
    for (const t of console_.trials) {
      lines.push(
        `| ${t.rate} | ${Math.round(t.sent / t.seconds)} | ${t.received} / ${t.sent} | ${t.sent - t.received} | ${fixed(t.cpuMicros)} us | ${t.kernelDrops} |`,
      )
    }
    lines.push(
      '',
      `3 s per rate of ~560-byte segment documents, each a new trace; from 25,000 a second, doubling while none is lost (halving while some are), then halving the step 3 times. Highest rate with none lost: ${console_.best ? ingestRate(console_.best).text : 'none of the rates tried'}${console_.senderLimit ? ' (the sender, on one CPU, could go no faster: the console may take more)' : ''}.`,
      '',
    )
    print(lines)
  }
} catch (error) {
  process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`)
  process.exitCode = 1
} finally {
  await cleanUp()
}
if (process.exitCode === 1) process.exit(1)

// ---------------------------------------------------------------------------------------------------------------
// Verdicts.

const verdicts: string[] = []
const verdict = (what: string, value: string, ok: boolean) =>
  verdicts.push(`- ${what}: ${value}: ${ok ? 'met' : 'NOT met'}`)
const row = (title: string, id: string) =>
  tables.find((t) => t.title.startsWith(title))?.rows.find((r) => r.spec.id === id)
const atMost = (title: string, id: string, base: string, limit: number, what: string) => {
  const a = row(title, id)
  const b = row(title, base)
  if (!a || !b) return
  const r = ratios(a, b)
  verdict(`${what} <= ${limit}`, `${fixed(r.median)} (rounds ${fixed(r.min)}-${fixed(r.max)})`, r.median <= limit)
}
const timesLess = (title: string, id: string, peer: string, factor: number, what: string) => {
  const a = row(title, id)
  const b = row(title, peer)
  if (!a || !b) return
  const r = ratios(b, a)
  verdict(
    `${what} >= ${factor}x`,
    `${fixed(r.median, 1)}x (rounds ${fixed(r.min, 1)}-${fixed(r.max, 1)})`,
    r.median >= factor,
  )
}
atMost('GET /notification', 'off', 'bun', 1.15, '/notification/xray untraced, vs bare Bun.serve')
atMost('GET /notification', 'default', 'bun', 1.3, '/notification/xray default sampling, vs bare Bun.serve')
atMost('GET /notification', 'full', 'bun', 2.0, '/notification/xray 100% sampling, vs bare Bun.serve')
atMost(
  'GET /notification',
  'info',
  'bun',
  1.45,
  '/notification/xray LOG_LEVEL=info at default sampling, vs bare Bun.serve',
)
atMost('GET /usermgmt', 'default', 'bun', 1.1, '/usermgmt/users default sampling, vs bare Bun.serve + mysql2')
atMost('GET /usermgmt', 'full', 'bun', 1.3, '/usermgmt/users 100% sampling, vs bare Bun.serve + mysql2')
timesLess('GET /notification', 'full', 'xray-sdk', 2, 'less CPU per request than Bun + aws-xray-sdk-core, both 100%')
timesLess(
  'GET /notification',
  'full',
  'express',
  20,
  'less CPU per request than Express + aws-xray-sdk-express, both 100%',
)
// Ours only: the peers' documents are in the table, and not ours to promise.
for (const table of tables) {
  for (const r of table.rows.filter((r) => r.spec.everyRequest && r.spec.label.startsWith('./app'))) {
    const what = r.spec.exporter === 'otlp' ? 'span' : 'document'
    verdict(
      `${table.route}, ${r.spec.label}: a ${what} for every request`,
      `${r.sent} / ${r.requests}`,
      (r.sent ?? 0) >= r.requests,
    )
  }
}
for (const s of starts.filter((s) => s.id !== 'bun')) {
  verdict(`cold start of ${s.label} < 50 ms (median)`, `${fixed(median(s.ms), 1)} ms`, median(s.ms) < 50)
  verdict(`idle RSS of ${s.label} < 60 MiB`, `${fixed(s.idleMiB, 1)} MiB`, s.idleMiB < 60)
}
if (console_) {
  const best = console_.best ? ingestRate(console_.best) : { rate: 0, text: 'none' }
  verdict('console ingest >= 100,000 datagrams/s, none lost', best.text, best.rate >= 100_000)
}
// Reported beside the targets: the OTLP exporter should cost no more than the X-Ray one.
for (const title of ['GET /notification', 'GET /usermgmt']) {
  const route = tables.find((t) => t.title.startsWith(title))?.route
  for (const [otlp, xray] of [
    ['otlp-default', 'default'],
    ['otlp-full', 'full'],
  ] as const) {
    atMost(
      title,
      otlp,
      xray,
      1.0,
      `${route} OTLP exporter vs X-Ray exporter, ${xray === 'full' ? '100%' : 'default'} sampling`,
    )
  }
}
print([
  `## Targets${shortRun ? ' (SHORT RUN: indicative only)' : ''}`,
  '',
  ...verdicts,
  ...(otlpNote ? [`- OTLP rows: ${otlpNote}`] : []),
  '',
  `load average at the end: ${loadAverage()}`,
])
process.exit(0)
