// Benchmark: the cost of tracing, as the issue defines it. One invocation measures GET /notification/xray and
// GET /usermgmt/users (10 rows on MariaDB) with tracing off, at default sampling and at 100% sampling, with wrk on
// loopback and this process standing in for the X-Ray daemon (counting every datagram, so lost documents show).
// Usage: bun scripts/bench.ts [--duration 10] [--connections 50]   (needs wrk: apt-get install wrk)
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { createConnection } from 'mysql2/promise'

const { values } = parseArgs({
  options: { duration: { type: 'string', default: '10' }, connections: { type: 'string', default: '50' } },
})
const duration = Number(values.duration)
const connections = Number(values.connections)
const root = join(import.meta.dir, '..')
const binary = join(root, 'app')

if (Bun.spawnSync(['which', 'wrk']).exitCode !== 0) {
  process.stderr.write('bench: wrk is needed (apt-get install wrk)\n')
  process.exit(2)
}
if (Bun.spawnSync([process.execPath, join(root, 'scripts', 'build.ts')], { stdout: 'ignore' }).exitCode !== 0) {
  process.stderr.write('bench: build failed\n')
  process.exit(1)
}

// The daemon stand-in: counts datagrams per trace mode.
let received = 0
const receiver = await Bun.udpSocket({
  hostname: '127.0.0.1',
  port: 0,
  socket: {
    data() {
      received++
    },
  },
})
const daemonAddress = `127.0.0.1:${receiver.port}`

const dir = mkdtempSync(join(tmpdir(), 'bench-'))
const allRules = join(dir, 'all.json')
writeFileSync(allRules, JSON.stringify({ version: 2, rules: [], default: { fixed_target: 1, rate: 1 } }))

const db = {
  host: process.env['TEST_DB_HOST'] ?? '127.0.0.1',
  port: Number(process.env['TEST_DB_PORT'] ?? 3306),
  user: process.env['TEST_DB_USER'] ?? 'root',
  password: process.env['TEST_DB_PASSWORD'] ?? '',
}
const dbName = `bench_${process.pid}`
const admin = await createConnection(db)
await admin.query(`create database \`${dbName}\``)

type Mode = 'off' | 'default' | 'full'
const modes: Mode[] = ['off', 'default', 'full']

function modeEnv(mode: Mode): Record<string, string> {
  const common = { AWS_XRAY_DAEMON_ADDRESS: daemonAddress, LOG_LEVEL: 'warn', PATH: process.env['PATH'] ?? '' }
  if (mode === 'off') return { ...common, AWS_XRAY_SDK_ENABLED: 'false' }
  if (mode === 'full') return { ...common, AWS_XRAY_SAMPLING_RULES: allRules }
  return common
}

function freePort(): number {
  const probe = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } })
  const port = probe.port
  probe.stop(true)
  return port
}

/** Starts a role on a free port; with LOG_LEVEL=warn it prints nothing, so readiness is polled. */
async function startRole(args: string[], env: Record<string, string>, readyPath: string) {
  const port = freePort()
  const child = Bun.spawn([binary, ...args, '--port', String(port)], { env, stdout: 'ignore', stderr: 'inherit' })
  for (let i = 0; ; i++) {
    const ok = await fetch(`http://127.0.0.1:${port}${readyPath}`).then(
      (r) => r.status === 200,
      () => false,
    )
    if (ok) break
    if (i > 200) throw new Error(`${args.join(' ')} did not become ready`)
    await Bun.sleep(50)
  }
  return {
    port,
    pid: child.pid,
    stop: async () => {
      child.kill('SIGTERM')
      await child.exited
    },
  }
}

/** Datagrams the kernel dropped because a receiver's buffer was full (all UDP sockets on this machine). */
function udpReceiveDrops(): number {
  const lines = readFileSync('/proc/net/snmp', 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('Udp:'))
  const names = lines[0]?.split(/\s+/) ?? []
  const numbers = lines[1]?.split(/\s+/) ?? []
  return Number(numbers[names.indexOf('RcvbufErrors')] ?? 0)
}

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024
}

interface Result {
  route: string
  mode: Mode
  rps: number
  p50: string
  p99: string
  rssMiB: number
  requests: number
  documents: number
  kernelDrops: number
}

// wrk runs as a child while this process keeps reading the daemon socket.
async function runWrk(
  url: string,
  seconds: number,
): Promise<{ rps: number; p50: string; p99: string; requests: number }> {
  const child = Bun.spawn(['wrk', '-t1', `-c${connections}`, `-d${seconds}s`, '--latency', url], { stdout: 'pipe' })
  const out = await new Response(child.stdout).text()
  await child.exited
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0)
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? 0)
  const distribution = out.slice(out.indexOf('Latency Distribution'))
  const p50 = /\n\s+50%\s+(\S+)/.exec(distribution)?.[1] ?? '?'
  const p99 = /\n\s+99%\s+(\S+)/.exec(distribution)?.[1] ?? '?'
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1]
  if (non2xx) throw new Error(`${url}: ${non2xx} non-2xx responses`)
  return { rps, p50, p99, requests }
}

async function measure(
  route: string,
  mode: Mode,
  start: () => Promise<{ url: string; pid: number; stop: () => Promise<void> }>,
): Promise<Result> {
  const target = await start()
  await runWrk(target.url, 2)
  await Bun.sleep(300)
  received = 0
  const dropsBefore = udpReceiveDrops()
  const run = await runWrk(target.url, duration)
  await Bun.sleep(1000)
  const documents = received
  const kernelDrops = udpReceiveDrops() - dropsBefore
  const rss = rssMiB(target.pid)
  await target.stop()
  return { route, mode, ...run, rssMiB: Math.round(rss), documents, kernelDrops }
}

const results: Result[] = []
try {
  for (const mode of modes) {
    results.push(
      await measure('GET /notification/xray', mode, async () => {
        const role = await startRole(
          ['serve', '--role=notification'],
          {
            ...modeEnv(mode),
            AWS_MAIL_SERVER_HOST: '127.0.0.1',
            AWS_MAIL_SERVER_TLS: 'none',
            AWS_MAIL_SERVER_FROM_ADDRESS: 'bench@example.com',
          },
          '/notification/health-status',
        )
        return { url: `http://127.0.0.1:${role.port}/notification/xray`, pid: role.pid, stop: role.stop }
      }),
    )
  }
  let seeded = false
  for (const mode of modes) {
    results.push(
      await measure('GET /usermgmt/users (10 rows)', mode, async () => {
        const role = await startRole(
          ['serve', '--role=usermgmt'],
          {
            ...modeEnv(mode),
            DB_HOSTNAME: db.host,
            DB_PORT: String(db.port),
            DB_USERNAME: db.user,
            DB_PASSWORD: db.password,
            DB_NAME: dbName,
          },
          '/usermgmt/health/readiness',
        )
        const url = `http://127.0.0.1:${role.port}/usermgmt`
        if (!seeded) {
          for (let i = 0; i < 10; i++) {
            const user = {
              username: `bench${i}`,
              email: `bench${i}@example.com`,
              role: 'ROLE_USER',
              enabled: true,
              firstname: 'Bench',
              lastname: String(i),
              password: 'Passw0rd!',
            }
            await fetch(`${url}/user`, { method: 'POST', body: JSON.stringify(user) })
          }
          seeded = true
        }
        return { url: `${url}/users`, pid: role.pid, stop: role.stop }
      }),
    )
  }
} finally {
  await admin.query(`drop database if exists \`${dbName}\``)
  await admin.end()
  receiver.close()
}

const lines = [
  `wrk -t1 -c${connections} -d${duration}s on loopback, ${Bun.version} ${process.arch}, LOG_LEVEL=warn`,
  '',
  '| route | tracing | requests/s | vs off | p50 | p99 | RSS MiB | documents received / requests | kernel UDP drops |',
  '| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: |',
]
for (const r of results) {
  const off = results.find((o) => o.route === r.route && o.mode === 'off')?.rps ?? r.rps
  const docs = r.mode === 'off' ? '-' : `${r.documents} / ${r.requests}`
  lines.push(
    `| ${r.route} | ${r.mode} | ${Math.round(r.rps)} | ${Math.round((r.rps / off) * 100)}% | ${r.p50} | ${r.p99} | ${r.rssMiB} | ${docs} | ${r.kernelDrops} |`,
  )
}
process.stdout.write(`${lines.join('\n')}\n`)
process.exit(0)
