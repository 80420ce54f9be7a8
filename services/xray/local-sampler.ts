import type { SamplingRules } from './sdk'

interface CompiledRule {
  readonly matches: (method: string, path: string, host: () => string) => boolean
  readonly fixedTarget: number
  readonly rate: number
  second: number
  used: number
}

/** The SDK's wildcards: `*` any run, `?` one character, case-insensitive. Undefined for `*`: anything matches. */
export function wildcard(pattern: string): ((text: string) => boolean) | undefined {
  if (pattern === '*') return undefined
  const source = pattern
    .split('')
    .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\/]/g, '\\$&')))
    .join('')
  const regex = new RegExp(`^${source}$`, 'i')
  return (text) => regex.test(text)
}

/**
 * Local sampling with aws-xray-sdk-core's semantics (local_sampler.js / local_reservoir.js): rules in order,
 * the first whose host, method and path match decides, else the default; each takes `fixed_target` requests a
 * second, then `rate` of the rest. The SDK's own local path lower-cases and re-scans every pattern on every request;
 * patterns compiled once cost a fraction of that.
 */
export function createLocalSampler(
  rules: SamplingRules,
): (method: string, path: string, host: () => string) => boolean {
  const compiled: CompiledRule[] = (rules.rules ?? []).map((rule) => {
    const host = wildcard(rule.host)
    const method = wildcard(rule.http_method)
    const path = wildcard(rule.url_path)
    return {
      // The host (the Host header) is looked up only by a rule that names one.
      matches: (m, p, h) =>
        (path === undefined || path(p)) && (method === undefined || method(m)) && (host === undefined || host(h())),
      fixedTarget: rule.fixed_target,
      rate: rule.rate,
      second: 0,
      used: 0,
    }
  })
  compiled.push({
    matches: () => true,
    fixedTarget: rules.default.fixed_target,
    rate: rules.default.rate,
    second: 0,
    used: 0,
  })
  return (method, path, host) => {
    let rule = compiled[compiled.length - 1] as CompiledRule
    for (const candidate of compiled) {
      if (candidate.matches(method, path, host)) {
        rule = candidate
        break
      }
    }
    const second = Math.round(Date.now() / 1000)
    if (second !== rule.second) {
      rule.second = second
      rule.used = 0
    }
    if (rule.used < rule.fixedTarget) {
      rule.used++
      return true
    }
    return Math.random() < rule.rate
  }
}
