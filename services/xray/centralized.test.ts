// Centralized sampling: the SDK's pollers ask the daemon's TCP endpoints for rules, as against a real daemon.
import { expect, test } from 'bun:test'
import { captureLog, isSampled, startFakeDaemon, testXrayConfig, waitUntil } from '../testing'
import { createTracer } from '.'

function rule(name: string, priority: number, urlPath: string, fixedRate: number) {
  return {
    SamplingRule: {
      RuleName: name,
      RuleARN: `arn:aws:xray:us-east-1:111122223333:sampling-rule/${name}`,
      ResourceARN: '*',
      Priority: priority,
      FixedRate: fixedRate,
      ReservoirSize: 0,
      ServiceName: '*',
      ServiceType: '*',
      Host: '*',
      HTTPMethod: '*',
      URLPath: urlPath,
      Version: 1,
      Attributes: {},
    },
    CreatedAt: 1_700_000_000,
    ModifiedAt: 1_700_000_000,
  }
}

test('uses the rules the daemon serves on GetSamplingRules, over the local ones', async () => {
  using udp = await startFakeDaemon()
  const calls: { path: string; body: string }[] = []
  using tcp = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    async fetch(request) {
      const path = new URL(request.url).pathname
      calls.push({ path, body: await request.text() })
      if (path === '/GetSamplingRules') {
        return Response.json({
          SamplingRuleRecords: [rule('central', 1, '/central/*', 1), rule('Default', 10000, '*', 0)],
        })
      }
      return Response.json({
        SamplingTargetDocuments: [],
        LastRuleModification: 1_700_000_000,
        UnprocessedStatistics: [],
      })
    },
  })
  const tracer = createTracer({
    config: testXrayConfig(udp.port, {
      tracingName: 'Central-Test',
      daemonTcp: { host: '127.0.0.1', port: tcp.port ?? 0 },
    }),
    log: captureLog().log,
    // Locally nothing would be sampled: whatever is sampled below was decided by the daemon's rules.
    samplingRules: { version: 2, rules: [], default: { fixed_target: 0, rate: 0 } },
    centralizedSampling: true,
    centralizedSamplingDelayMs: 0,
  })
  const sampled = (path: string) => isSampled(tracer, path)
  await waitUntil(async () => expect(await sampled('/central/a')).toBe(true), 10_000, 50)
  expect(calls[0]).toEqual({ path: '/GetSamplingRules', body: '{}' })
  for (let i = 0; i < 20; i++) expect(await sampled('/elsewhere')).toBe(false)
  for (let i = 0; i < 20; i++) expect(await sampled('/central/b')).toBe(true)
  await tracer.close()
})
