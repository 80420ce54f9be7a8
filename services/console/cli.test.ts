// ./app console from the compiled binary: its flags, and a flood of datagrams it must survive with flat memory.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runApp, spawnApp, waitUntil } from '../testing'

const dir = mkdtempSync(join(tmpdir(), 'console-cli-'))
const rulesFile = join(dir, 'rules.json')
const badRulesFile = join(dir, 'bad-rules.json')
const saveFile = join(dir, 'traces.json')
beforeAll(() => {
  writeFileSync(
    rulesFile,
    JSON.stringify({
      version: 2,
      rules: [{ host: '*', http_method: '*', url_path: '/api/*', fixed_target: 2, rate: 0.5 }],
      default: { fixed_target: 1, rate: 0.01 },
    }),
  )
  writeFileSync(badRulesFile, JSON.stringify({ version: 2, default: { fixed_target: 1, rate: 7 } }))
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('./app console refuses a bad flag with one line on stderr and exit code 2', () => {
  const cases: [string, string[], string][] = [
    ['an address without a port', ['--udp', 'localhost'], 'app: --udp: must be host:port (got "localhost")'],
    ['a port out of range', ['--http', '127.0.0.1:70000'], 'app: --http: must be host:port (got "127.0.0.1:70000")'],
    ['port 0 to forward to', ['--forward', '127.0.0.1:0'], 'app: --forward: must be host:port (got "127.0.0.1:0")'],
    ['no traces kept', ['--max-traces', '0'], 'app: --max-traces: must be a whole number from 1 to 1000000 (got "0")'],
    [
      'a count that is not a number',
      ['--max-traces', 'lots'],
      'app: --max-traces: must be a whole number from 1 to 1000000 (got "lots")',
    ],
    [
      'a save file in a missing folder',
      ['--save', '/nonexistent-folder/traces.json'],
      'app: --save: must be a file in a folder that exists (got "/nonexistent-folder/traces.json")',
    ],
    [
      'a folder to save to',
      ['--save', tmpdir()],
      `app: --save: must be a file in a folder that exists (got "${tmpdir()}")`,
    ],
    ['an unknown flag', ['--port', '1'], 'app: unknown option --port for console; see app console --help'],
  ]
  for (const [what, args, line] of cases) {
    test(what, () => {
      expect(runApp(['console', ...args])).toEqual({ code: 2, stdout: '', stderr: `${line}\n` })
    })
  }
  test('a sampling rules file that is missing or invalid', () => {
    for (const file of [join(dir, 'missing.json'), badRulesFile]) {
      const result = runApp(['console', '--sampling-rules', file])
      expect(result.code).toBe(2)
      expect(result.stderr).toStartWith(`app: --sampling-rules: `)
      expect(result.stderr.trim().split('\n')).toHaveLength(1)
    }
  })
  test('a taken OTLP port is one line naming --otlp', () => {
    using held = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } })
    const result = runApp([
      'console',
      '--udp',
      '127.0.0.1:0',
      '--http',
      '127.0.0.1:0',
      '--otlp',
      `127.0.0.1:${held.port}`,
    ])
    expect(result).toEqual({
      code: 2,
      stdout: '',
      stderr: `app: --otlp: port ${held.port} is already in use; stop what holds it, or pass --otlp HOST:PORT (port 0 picks a free one)\n`,
    })
  })
  test('--help', () => {
    const result = runApp(['console', '--help'])
    expect(result.code).toBe(0)
    expect(result.stdout).toStartWith('Usage: app console [options]')
  })
})

test('counts every good, big and malformed datagram of a mixed stream, keeps within its bounds and saves what it keeps', async () => {
  await using app = spawnApp([
    'console',
    '--udp',
    '127.0.0.1:0',
    '--http',
    '127.0.0.1:0',
    '--otlp',
    '127.0.0.1:0',
    '--max-traces',
    '200',
    '--sampling-rules',
    rulesFile,
    '--save',
    saveFile,
  ])
  const ready = await app.waitForLog((line) => line['message'] === 'x-ray console listening')
  const url = String(ready['page'])
  const udpPort = Number(String(ready['udp']).split(':')[1])
  await waitUntil(() => expect(app.stderr()).toContain(`x-ray console  ${url}`))
  const page = await fetch(url)
  expect(page.headers.get('content-type')).toStartWith('text/html')
  expect(await page.text()).toContain('<title>Local X-Ray console</title>')
  const rules = (await (await fetch(`${url}/GetSamplingRules`, { method: 'POST', body: '{}' })).json()) as {
    SamplingRuleRecords: { SamplingRule: { RuleName: string; URLPath: string; FixedRate: number } }[]
  }
  expect(rules.SamplingRuleRecords.map((r) => r.SamplingRule)).toMatchObject([
    { RuleName: 'local-1', URLPath: '/api/*', FixedRate: 0.5 },
    { RuleName: 'Default', URLPath: '*', FixedRate: 0.01 },
  ])

  type Stats = {
    received: number
    accepted: number
    rejected: Record<string, number>
    traces: number
    bytes: number
    memory: { rss: number }
  }
  const stats = async () => (await (await fetch(`${url}/api/stats`)).json()) as Stats
  const header = '{"format":"json","version":1}\n'
  const malformed = [
    'no header',
    `${header}{"trace_id":`,
    `{"format":"json","version":9}\n{}`,
    `${header}{"trace_id":"1-6b000000-${'f'.repeat(24)}","id":"${'f'.repeat(16)}","name":7,"start_time":1,"end_time":2}`,
  ]
  const socket = await Bun.udpSocket({})
  let sent = 0
  let n = 0
  // Batches, each counted before the next is sent, so the kernel never has to drop anything: an outcome to check,
  // not a race. How fast the console ingests is measured by scripts/bench.ts, not here.
  for (let batch = 0; batch < 20; batch++) {
    const packets: (string | number)[] = []
    for (let i = 0; i < 100; i++, n++) {
      const doc =
        n % 10 === 9
          ? (malformed[Math.floor(n / 10) % malformed.length] ?? '')
          : header +
            JSON.stringify({
              trace_id: `1-6b000000-${n.toString(16).padStart(24, '0')}`,
              id: n.toString(16).padStart(16, '0'),
              name: 'Flood',
              start_time: 1,
              end_time: 2,
              metadata: { default: { pad: 'x'.repeat(n % 50 === 0 ? 30_000 : 1_500) } },
            })
      packets.push(doc, udpPort, '127.0.0.1')
    }
    sent += socket.sendMany(packets)
    await waitUntil(async () => expect((await stats()).received).toBe(sent))
  }
  socket.close()
  const last = await stats()
  expect(sent).toBe(2000)
  expect(last.received).toBe(2000)
  // Every tenth datagram was malformed, a quarter of them each way.
  expect(last.rejected).toEqual({ too_large: 0, bad_header: 100, bad_json: 50, bad_document: 50 })
  expect(last.accepted).toBe(1800)
  // --max-traces 200: the newest 200 traces stay, within the byte bound they imply.
  expect(last.traces).toBe(200)
  expect(last.bytes).toBeLessThan(200 * 31_000)

  const saved = (await (await fetch(`${url}/api/save`, { method: 'POST' })).json()) as { saved: number }
  expect(saved.saved).toBe(200)
  expect(JSON.parse(readFileSync(saveFile, 'utf8'))).toHaveLength(200)
  app.kill('SIGINT')
  expect(await app.exited).toBe(0)
})
