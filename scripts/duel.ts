// Duel: the cost of one setting against another, measured at the same moment. Two servers of one role share one
// CPU (the last), each loaded by its own wrk on the others, and the table gives each one's CPU time per request
// and their ratio, round by round, as bench.ts does for its whole table. Both live through the same machine-speed
// swings; a duel of two identical servers here reads 1.00 +- 0.04. Use it to decide whether a change is worth its
// code, or to compare two builds (--bin-a, --bin-b).
//
// Usage: bun scripts/duel.ts --a 'AWS_XRAY_SDK_ENABLED=false' --b '' [--role notification|usermgmt]
//          [--bin-a path --bin-b path] [--rounds 5] [--seconds 6] [--connections 50]
//   --a/--b: space-separated NAME=value settings for server A and B, on top of the image's (Dockerfile ENV).
//   Same binary on both sides where possible: two builds of nearly the same code can differ by a few percent
//   from code layout alone.
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import {
  buildApp,
  type CpuReading,
  cpuSplit,
  cpuUsed,
  createUsersDatabase,
  freePort,
  imageEnv,
  median,
  pinThisProcess,
  readCpu,
  startReceiver,
  usageFor,
  waitReady,
  wholeNumber,
} from './bench-kit'

// Annotated so that TypeScript knows a call does not return.
const usage: (message: string) => never = usageFor('duel')

const { values } = parseArgs({
  options: {
    a: { type: 'string', default: '' },
    b: { type: 'string', default: '' },
    role: { type: 'string', default: 'notification' },
    'bin-a': { type: 'string' },
    'bin-b': { type: 'string' },
    rounds: { type: 'string', default: '5' },
    seconds: { type: 'string', default: '6' },
    connections: { type: 'string', default: '50' },
  },
})
const role = values.role
if (role !== 'notification' && role !== 'usermgmt') usage('--role is notification or usermgmt')
const rounds = wholeNumber(values.rounds, 'rounds', usage)
const seconds = wholeNumber(values.seconds, 'seconds', usage)
const connections = wholeNumber(values.connections, 'connections', usage)

function settings(text: string, flag: string): Record<string, string> {
  const env: Record<string, string> = {}
  for (const pair of text.split(/\s+/).filter(Boolean)) {
    const match = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(pair)
    if (!match) usage(`${flag}: "${pair}" is not NAME=value`)
    env[match[1] as string] = match[2] as string
  }
  return env
}
const sides = [
  { label: 'A', env: settings(values.a, '--a'), binary: values['bin-a'] },
  { label: 'B', env: settings(values.b, '--b'), binary: values['bin-b'] },
]

for (const tool of ['wrk', 'taskset'])
  if (Bun.spawnSync(['which', tool]).exitCode !== 0) usage(`${tool} is needed (apt-get install wrk util-linux)`)
const split = cpuSplit()
if (!split) usage('a duel needs at least 2 CPUs')
const { server: serverCpu, others: otherCpus } = split
if (!pinThisProcess(otherCpus)) usage('could not pin this process with taskset')

const root = join(import.meta.dir, '..')
const built = join(root, 'app')
if (sides.some((side) => side.binary === undefined) && !buildApp(root)) {
  process.stderr.write('duel: build failed\n')
  process.exit(1)
}

const route =
  role === 'notification'
    ? { path: '/notification/xray', ready: '/notification/health-status' }
    : { path: '/usermgmt/users', ready: '/usermgmt/health/readiness' }
const database = role === 'usermgmt' ? await createUsersDatabase(built, `duel_${process.pid}`) : undefined
const roleEnv =
  database?.env ??
  ({
    AWS_MAIL_SERVER_HOST: '127.0.0.1',
    AWS_MAIL_SERVER_TLS: 'none',
    AWS_MAIL_SERVER_FROM_ADDRESS: 'duel@example.com',
  } as Record<string, string>)

const servers: { pid: number; url: string; stop(): Promise<void> }[] = []
try {
  for (const side of sides) {
    const receiver = await startReceiver()
    const port = freePort()
    const child = Bun.spawn(
      ['taskset', '-c', serverCpu, side.binary ?? built, 'serve', `--role=${role}`, '--port', String(port)],
      {
        env: {
          ...imageEnv(root),
          AWS_XRAY_DAEMON_ADDRESS: `127.0.0.1:${receiver.port}`,
          LOG_LEVEL: 'warn',
          PATH: process.env['PATH'] ?? '',
          ...roleEnv,
          ...side.env,
        },
        stdout: 'ignore',
        stderr: 'inherit',
      },
    )
    servers.push({
      pid: child.pid,
      url: `http://127.0.0.1:${port}${route.path}`,
      stop: async () => {
        child.kill('SIGTERM')
        await child.exited
        receiver.close()
      },
    })
    await waitReady(`http://127.0.0.1:${port}${route.ready}`, `server ${side.label}`)
  }

  /** Both servers loaded at once for this long: requests answered and CPU microseconds per request, each. */
  const bout = async (runSeconds: number) => {
    const before = servers.map((s) => readCpu(s.pid))
    const outputs = await Promise.all(
      servers.map(async (server) => {
        const wrk = Bun.spawn(
          ['taskset', '-c', otherCpus, 'wrk', '-t1', `-c${connections}`, `-d${runSeconds}s`, server.url],
          { stdout: 'pipe' },
        )
        const out = await new Response(wrk.stdout).text()
        await wrk.exited
        if (/Non-2xx/.test(out)) throw new Error(`${server.url}: non-2xx responses`)
        return Number(/(\d+) requests in/.exec(out)?.[1] ?? 0)
      }),
    )
    return outputs.map((requests, i) => ({
      requests,
      cpuMicros: (cpuUsed(before[i] as CpuReading, readCpu(servers[i]?.pid ?? 0)) * 1e6) / Math.max(requests, 1),
    }))
  }

  await bout(2)
  const lines = [
    `${role} ${route.path}, both servers on CPU ${serverCpu}, wrk -t1 -c${connections} on CPU ${otherCpus}, ${rounds} rounds of ${seconds} s`,
    `A: ${values.a || '(image defaults)'}${values['bin-a'] ? ` [${values['bin-a']}]` : ''}`,
    `B: ${values.b || '(image defaults)'}${values['bin-b'] ? ` [${values['bin-b']}]` : ''}`,
    '',
    '| round | A requests | A CPU per request | B requests | B CPU per request | B/A CPU per request |',
    '| ---: | ---: | ---: | ---: | ---: | ---: |',
  ]
  const ratios: number[] = []
  for (let round = 1; round <= rounds; round++) {
    const [a, b] = await bout(seconds)
    if (!a || !b) throw new Error('a server answered nothing')
    const ratio = b.cpuMicros / a.cpuMicros
    ratios.push(ratio)
    lines.push(
      `| ${round} | ${a.requests} | ${a.cpuMicros.toFixed(1)} us | ${b.requests} | ${b.cpuMicros.toFixed(1)} us | ${ratio.toFixed(3)} |`,
    )
  }
  lines.push(
    '',
    `B/A CPU per request: median ${median(ratios).toFixed(3)}, range ${Math.min(...ratios).toFixed(3)}-${Math.max(...ratios).toFixed(3)}`,
  )
  process.stdout.write(`${lines.join('\n')}\n`)
} finally {
  await Promise.all(servers.map((s) => s.stop()))
  await database?.drop()
}
process.exit(0)
