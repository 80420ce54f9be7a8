// The daemon's centralized sampling endpoints, called as aws-xray-sdk-core calls them (xray-on-bun.md 2.3).
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { captureLog, isSampled, testXrayConfig, waitUntil } from '../testing'
import { createTracer, traceEverything } from '../xray'
import { type RunningConsole, startConsole } from '.'

let xray: RunningConsole
const rules = {
  version: 2 as const,
  rules: [{ host: '*', http_method: 'GET', url_path: '/yes/*', fixed_target: 3, rate: 1 }],
  default: { fixed_target: 0, rate: 0 },
}
beforeAll(async () => {
  xray = await startConsole({
    udp: { host: '127.0.0.1', port: 0 },
    http: { host: '127.0.0.1', port: 0 },
    samplingRules: rules,
    log: captureLog().log,
  })
})
afterAll(() => xray.stop())

const post = (path: string, body: string) =>
  fetch(`${xray.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })

test('the SDK takes its sampling decisions from the rules the console serves', async () => {
  const tracer = createTracer({
    config: testXrayConfig(xray.udpPort, {
      tracingName: 'Sampled-By-Console',
      daemonTcp: { host: '127.0.0.1', port: Number(new URL(xray.url).port) },
    }),
    log: captureLog().log,
    // Locally the SDK would sample everything: what is not sampled below was decided by the console's rules.
    samplingRules: traceEverything,
    centralizedSampling: true,
    centralizedSamplingDelayMs: 0,
  })
  await waitUntil(async () => expect(await isSampled(tracer, '/no')).toBe(false), 10_000, 50)
  for (let i = 0; i < 10; i++) expect(await isSampled(tracer, '/no')).toBe(false)
  for (let i = 0; i < 10; i++) expect(await isSampled(tracer, '/yes/please')).toBe(true)
  await tracer.close()
})

test('GetSamplingRules serves the rules file, then the default rule, in the shape the SDK accepts', async () => {
  const response = await post('/GetSamplingRules', '{}')
  expect(response.status).toBe(200)
  const body = (await response.json()) as { SamplingRuleRecords: { CreatedAt?: number }[] }
  const created = body.SamplingRuleRecords[0]?.CreatedAt
  expect(typeof created).toBe('number')
  const record = (name: string, priority: number, method: string, path: string, size: number, rate: number) => ({
    SamplingRule: {
      RuleName: name,
      RuleARN: `arn:aws:xray:local:000000000000:sampling-rule/${name}`,
      ResourceARN: '*',
      Priority: priority,
      FixedRate: rate,
      ReservoirSize: size,
      ServiceName: '*',
      ServiceType: '*',
      Host: '*',
      HTTPMethod: method,
      URLPath: path,
      Version: 1,
      Attributes: {},
    },
    CreatedAt: created,
    ModifiedAt: created,
  })
  expect(body).toEqual({
    SamplingRuleRecords: [record('local-1', 1, 'GET', '/yes/*', 3, 1), record('Default', 10000, '*', '*', 0, 0)],
  })
})

test('SamplingTargets splits a rule reservoir between the clients reporting on it', async () => {
  const statistics = (client: string, rule = 'local-1') => ({
    RuleName: rule,
    ClientID: client,
    RequestCount: 7,
    BorrowCount: 1,
    SampledCount: 3,
    Timestamp: Math.floor(Date.now() / 1000),
  })
  const targets = async (client: string) => {
    const response = await post(
      '/SamplingTargets',
      JSON.stringify({ SamplingStatisticsDocuments: [statistics(client), statistics(client, 'nonexistent')] }),
    )
    expect(response.status).toBe(200)
    return (await response.json()) as {
      SamplingTargetDocuments: { RuleName: string; FixedRate: number; ReservoirQuota: number; Interval: number }[]
      LastRuleModification: number
      UnprocessedStatistics: { RuleName: string; ErrorCode: string }[]
    }
  }
  const first = await targets('a'.repeat(24))
  expect(first.SamplingTargetDocuments).toMatchObject([
    { RuleName: 'local-1', FixedRate: 1, ReservoirQuota: 3, Interval: 10 },
  ])
  expect(first.UnprocessedStatistics).toMatchObject([{ RuleName: 'nonexistent', ErrorCode: '400' }])
  expect(typeof first.LastRuleModification).toBe('number')
  // A second replica: 3 a second between the two, not 3 each.
  const second = await targets('b'.repeat(24))
  const again = await targets('a'.repeat(24))
  expect(
    (second.SamplingTargetDocuments[0]?.ReservoirQuota ?? 0) + (again.SamplingTargetDocuments[0]?.ReservoirQuota ?? 0),
  ).toBe(3)
  expect((await post('/SamplingTargets', '{"SamplingStatisticsDocuments":"all"}')).status).toBe(400)
  expect((await post('/SamplingTargets', 'null')).status).toBe(400)
})
