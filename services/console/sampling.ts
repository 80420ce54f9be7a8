// The daemon's centralized sampling endpoints as the SDKs call them (xray-on-bun.md 2.3), answered from local
// rules: POST /GetSamplingRules and POST /SamplingTargets, with the shapes service_connector.js accepts.
import { z } from 'zod'
import type { SamplingRules } from '../xray'

const statisticsRequest = z.object({
  SamplingStatisticsDocuments: z
    .array(
      z.looseObject({
        RuleName: z.string().min(1).max(64),
        ClientID: z.string().min(1).max(64),
        RequestCount: z.number().int().nonnegative(),
        BorrowCount: z.number().int().nonnegative(),
        SampledCount: z.number().int().nonnegative(),
        Timestamp: z.number(),
      }),
    )
    .max(100),
})

/** How often the SDKs are told to report, and how long a quota holds (seconds). */
const interval = 10
/** A client that has not reported for this long no longer shares a rule's reservoir (ms). */
const clientTtl = 60_000
const maxClientsPerRule = 100

export interface SamplingService {
  getSamplingRules(): unknown
  /** The body SamplingTargets answers, or undefined when the request is not a statistics document. */
  samplingTargets(body: unknown): unknown
}

/**
 * Local rules as centralized ones, in file order, then the default. A rule's reservoir (fixed_target a second)
 * is split between the clients reporting on it, as X-Ray does, so N replicas together take fixed_target a second.
 */
export function createSamplingService(rules: SamplingRules, clock: () => number = Date.now): SamplingService {
  const created = Math.floor(clock() / 1000)
  const record = (
    name: string,
    priority: number,
    rule: { host?: string; http_method?: string; url_path?: string; fixed_target: number; rate: number },
  ) => ({
    SamplingRule: {
      RuleName: name,
      RuleARN: `arn:aws:xray:local:000000000000:sampling-rule/${name}`,
      ResourceARN: '*',
      Priority: priority,
      FixedRate: rule.rate,
      ReservoirSize: rule.fixed_target,
      ServiceName: '*',
      ServiceType: '*',
      Host: rule.host ?? '*',
      HTTPMethod: rule.http_method ?? '*',
      URLPath: rule.url_path ?? '*',
      Version: 1,
      Attributes: {},
    },
    CreatedAt: created,
    ModifiedAt: created,
  })
  const records = [
    ...(rules.rules ?? []).map((rule, i) => record(`local-${i + 1}`, i + 1, rule)),
    record('Default', 10000, rules.default),
  ]
  const byName = new Map(records.map((r) => [r.SamplingRule.RuleName, r.SamplingRule]))
  const clients = new Map<string, Map<string, number>>()

  return {
    getSamplingRules: () => ({ SamplingRuleRecords: records }),
    samplingTargets(body) {
      const parsed = statisticsRequest.safeParse(body)
      if (!parsed.success) return undefined
      const now = clock()
      const targets = []
      const unprocessed = []
      for (const statistics of parsed.data.SamplingStatisticsDocuments) {
        const rule = byName.get(statistics.RuleName)
        if (!rule) {
          unprocessed.push({ RuleName: statistics.RuleName, ErrorCode: '400', Message: 'no such sampling rule' })
          continue
        }
        let seen = clients.get(rule.RuleName)
        if (!seen) {
          seen = new Map()
          clients.set(rule.RuleName, seen)
        }
        seen.delete(statistics.ClientID)
        seen.set(statistics.ClientID, now)
        for (const [client, at] of seen) {
          if (seen.size <= maxClientsPerRule && now - at <= clientTtl) break
          seen.delete(client)
        }
        const active = [...seen.keys()].sort()
        const share = Math.floor(rule.ReservoirSize / active.length)
        const extra = active.indexOf(statistics.ClientID) < rule.ReservoirSize % active.length ? 1 : 0
        targets.push({
          RuleName: rule.RuleName,
          FixedRate: rule.FixedRate,
          ReservoirQuota: share + extra,
          ReservoirQuotaTTL: Math.floor(now / 1000) + interval,
          Interval: interval,
        })
      }
      return { SamplingTargetDocuments: targets, LastRuleModification: created, UnprocessedStatistics: unprocessed }
    },
  }
}
