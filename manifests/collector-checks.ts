// Test support, imported only by the manifests checks: each collector's own configuration, read the way the
// collector reads it. The collector finds its file from its arguments (or, for the CloudWatch agent, its config
// directory), parses it, and refuses keys it does not know; so do these checks, with a strict schema of the part of
// each format that the manifests write. Then they say where the collector listens, for the checks of who sends
// to it, and name every field a collector needs that is missing or wrong.
import { parse as parseYaml } from 'yaml'
import { z } from 'zod'
import { describeIssue, messageOf } from '../services/platform'

/** The part of a container these checks read. */
export interface CollectorContainer {
  readonly name: string
  readonly args?: readonly string[]
  readonly env?: readonly { readonly name: string; readonly value?: string }[]
}

/** Where a collector listens, as host:port. */
export interface Listeners {
  readonly xrayUdp: string
  readonly xrayTcp: string
  readonly otlpGrpc: string | undefined
  readonly otlpHttp: string | undefined
}

export interface ExpectedCollectorConfig {
  readonly region: string
  /** 0.0.0.0 in a DaemonSet pod (for the Service), 127.0.0.1 as a sidecar (the pod alone). */
  readonly host: string
}

export type CollectorConfigCheck = { readonly problems: string[]; readonly listeners: Listeners | undefined }

const address = z.string().regex(/^(\d{1,3}\.){3}\d{1,3}:\d{1,5}$/, 'must be IPv4-address:port')
const region = z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'must be an AWS region')

// The X-Ray daemon's YAML (its cfg package, config version 2); the keys below are the ones it reads.
const xrayDaemonConfig = z.strictObject({
  TotalBufferSizeMB: z.number().int().positive(),
  Region: region,
  Socket: z.strictObject({ UDPAddress: address, TCPAddress: address }),
  Version: z.literal(2),
})

// The CloudWatch agent's JSON; its schema (amazon-cloudwatch-agent-schema.json in the agent's package) refuses
// keys it does not know in every traces section, and requires traces_collected.
const cloudwatchAgentConfig = z.strictObject({
  agent: z.strictObject({ region }),
  traces: z.strictObject({
    traces_collected: z.strictObject({
      xray: z.strictObject({ bind_address: address, tcp_proxy: z.strictObject({ bind_address: address }) }),
      otlp: z.strictObject({ grpc_endpoint: address, http_endpoint: address }),
    }),
    local_mode: z.boolean(),
  }),
})

// The ADOT collector's YAML: the collector fails to start on an unknown key of a component's config.
const endpoint = z.strictObject({ endpoint: address })
const componentList = z.array(z.string().min(1)).min(1)
const adotConfig = z.strictObject({
  extensions: z.strictObject({ health_check: endpoint }),
  receivers: z.strictObject({
    awsxray: z.strictObject({
      endpoint: address,
      transport: z.literal('udp'),
      proxy_server: z.strictObject({ endpoint: address, region, local_mode: z.boolean() }),
    }),
    otlp: z.strictObject({ protocols: z.strictObject({ grpc: endpoint, http: endpoint }) }),
  }),
  processors: z.strictObject({
    memory_limiter: z.strictObject({
      check_interval: z.string(),
      limit_percentage: z.number().int().min(1).max(100),
      spike_limit_percentage: z.number().int().min(1).max(100),
    }),
    'batch/traces': z.strictObject({ timeout: z.string(), send_batch_size: z.number().int().positive() }),
  }),
  exporters: z.strictObject({ awsxray: z.strictObject({ region, local_mode: z.boolean() }) }),
  service: z.strictObject({
    extensions: z.array(z.string()),
    pipelines: z.record(
      z.string(),
      z.strictObject({ receivers: componentList, processors: z.array(z.string()), exporters: componentList }),
    ),
  }),
})

function issues(error: z.ZodError): string[] {
  return error.issues.map((issue) => describeIssue(issue, '(top)'))
}

/** The value of `--flag=value` or `-f value` among a container's arguments. */
function argument(args: readonly string[], long: string, short?: string): string | undefined {
  for (const [index, arg] of args.entries()) {
    if (arg.startsWith(`${long}=`)) return arg.slice(long.length + 1)
    if (arg === long || (short !== undefined && arg === short)) return args[index + 1]
  }
  return undefined
}

/** The feature gates `--feature-gates` turns on (a leading - turns one off, + or nothing on). */
function enabledGates(args: readonly string[]): Set<string> {
  const on = new Set<string>()
  for (const arg of args.filter((a) => a.startsWith('--feature-gates='))) {
    for (const gate of arg.slice('--feature-gates='.length).split(',')) {
      if (gate.startsWith('-')) on.delete(gate.slice(1))
      else on.add(gate.replace(/^\+/, ''))
    }
  }
  return on
}

function parseText(text: string, format: 'yaml' | 'json'): { ok: true; value: unknown } | { ok: false; why: string } {
  try {
    return { ok: true, value: format === 'json' ? JSON.parse(text) : parseYaml(text) }
  } catch (error) {
    return { ok: false, why: messageOf(error) }
  }
}

function listenerProblems(listeners: Listeners, e: ExpectedCollectorConfig, otlp: boolean): string[] {
  const problems: string[] = []
  const wanted: Record<keyof Listeners, string | undefined> = {
    xrayUdp: `${e.host}:2000`,
    xrayTcp: `${e.host}:2000`,
    otlpGrpc: otlp ? `${e.host}:4317` : undefined,
    otlpHttp: otlp ? `${e.host}:4318` : undefined,
  }
  for (const key of Object.keys(wanted) as (keyof Listeners)[]) {
    if (listeners[key] !== wanted[key]) problems.push(`${key} listens on ${listeners[key]}, not ${wanted[key]}`)
  }
  return problems
}

function checkXrayDaemon(
  c: CollectorContainer,
  files: ReadonlyMap<string, string>,
  e: ExpectedCollectorConfig,
): CollectorConfigCheck {
  const path = argument(c.args ?? [], '--config', '-c')
  const text = path === undefined ? undefined : files.get(path)
  if (text === undefined)
    return { problems: [`reads config ${path}, which no mounted ConfigMap holds`], listeners: undefined }
  const parsed = parseText(text, 'yaml')
  if (!parsed.ok) return { problems: [`${path} is not YAML: ${parsed.why}`], listeners: undefined }
  const config = xrayDaemonConfig.safeParse(parsed.value)
  if (!config.success) return { problems: issues(config.error).map((i) => `${path}: ${i}`), listeners: undefined }
  const listeners: Listeners = {
    xrayUdp: config.data.Socket.UDPAddress,
    xrayTcp: config.data.Socket.TCPAddress,
    otlpGrpc: undefined,
    otlpHttp: undefined,
  }
  const problems = listenerProblems(listeners, e, false)
  if (config.data.Region !== e.region) problems.push(`Region is ${config.data.Region}, not ${e.region}`)
  return { problems, listeners }
}

function checkCloudwatchAgent(
  c: CollectorContainer,
  files: ReadonlyMap<string, string>,
  e: ExpectedCollectorConfig,
): CollectorConfigCheck {
  // The container's entrypoint translates every JSON file in this directory.
  const json = [...files.keys()].filter((path) => /^\/etc\/cwagentconfig\/[^/]+\.json$/.test(path))
  const path = json[0]
  if (path === undefined || json.length !== 1) {
    return { problems: [`needs one JSON config in /etc/cwagentconfig, has ${json.length}`], listeners: undefined }
  }
  const parsed = parseText(files.get(path) ?? '', 'json')
  if (!parsed.ok) return { problems: [`${path} is not JSON: ${parsed.why}`], listeners: undefined }
  const config = cloudwatchAgentConfig.safeParse(parsed.value)
  if (!config.success) return { problems: issues(config.error).map((i) => `${path}: ${i}`), listeners: undefined }
  const { xray, otlp } = config.data.traces.traces_collected
  const listeners: Listeners = {
    xrayUdp: xray.bind_address,
    xrayTcp: xray.tcp_proxy.bind_address,
    otlpGrpc: otlp.grpc_endpoint,
    otlpHttp: otlp.http_endpoint,
  }
  const problems = listenerProblems(listeners, e, true)
  if (config.data.agent.region !== e.region)
    problems.push(`agent.region is ${config.data.agent.region}, not ${e.region}`)
  if (!config.data.traces.local_mode) problems.push('traces.local_mode is off: the agent would ask instance metadata')
  if (!c.env?.some((v) => v.name === 'RUN_WITH_IRSA' && v.value === 'True')) {
    problems.push('RUN_WITH_IRSA is not True: the agent would look for the node role instead of its service account')
  }
  return { problems, listeners }
}

function checkAdot(
  c: CollectorContainer,
  files: ReadonlyMap<string, string>,
  e: ExpectedCollectorConfig,
): CollectorConfigCheck {
  const args = c.args ?? []
  const path = argument(args, '--config')
  const text = path === undefined ? undefined : files.get(path)
  if (text === undefined)
    return { problems: [`reads config ${path}, which no mounted ConfigMap holds`], listeners: undefined }
  const parsed = parseText(text, 'yaml')
  if (!parsed.ok) return { problems: [`${path} is not YAML: ${parsed.why}`], listeners: undefined }
  const config = adotConfig.safeParse(parsed.value)
  if (!config.success) return { problems: issues(config.error).map((i) => `${path}: ${i}`), listeners: undefined }
  const { receivers, exporters, service } = config.data
  const listeners: Listeners = {
    xrayUdp: receivers.awsxray.endpoint,
    xrayTcp: receivers.awsxray.proxy_server.endpoint,
    otlpGrpc: receivers.otlp.protocols.grpc.endpoint,
    otlpHttp: receivers.otlp.protocols.http.endpoint,
  }
  const problems = listenerProblems(listeners, e, true)
  for (const [where, value] of [
    ['exporters.awsxray.region', exporters.awsxray.region],
    ['receivers.awsxray.proxy_server.region', receivers.awsxray.proxy_server.region],
  ] as const) {
    if (value !== e.region) problems.push(`${where} is ${value}, not ${e.region}`)
  }
  // The collector refuses a pipeline that names a component the config does not define.
  const defined = {
    receivers: Object.keys(receivers),
    processors: Object.keys(config.data.processors),
    exporters: Object.keys(exporters),
  }
  for (const [name, pipeline] of Object.entries(service.pipelines)) {
    for (const kind of ['receivers', 'processors', 'exporters'] as const) {
      for (const id of pipeline[kind].filter((id) => !defined[kind].includes(id))) {
        problems.push(`pipeline ${name} names ${kind} ${id}, which is not defined`)
      }
    }
  }
  for (const id of service.extensions.filter((id) => !Object.keys(config.data.extensions).includes(id))) {
    problems.push(`service names extension ${id}, which is not defined`)
  }
  const traces = service.pipelines['traces']
  const missing = [
    ...['awsxray', 'otlp'].filter((id) => !traces?.receivers.includes(id)).map((id) => `receiver ${id}`),
    ...(traces?.exporters.includes('awsxray') ? [] : ['exporter awsxray']),
  ]
  if (missing.length > 0) problems.push(`the traces pipeline lacks ${missing.join(', ')}`)
  if (!enabledGates(args).has('exporter.awsxray.skiptimestampvalidation')) {
    problems.push('exporter.awsxray.skiptimestampvalidation is not on: traces started with random W3C ids are dropped')
  }
  return { problems, listeners }
}

/**
 * One collector's configuration, as its container reads it: `files` maps each path the container sees (from the
 * ConfigMaps mounted into it) to its text.
 */
export function collectorConfigProblems(
  kind: string,
  container: CollectorContainer,
  files: ReadonlyMap<string, string>,
  expected: ExpectedCollectorConfig,
): CollectorConfigCheck {
  switch (kind) {
    case 'xray-daemon':
      return checkXrayDaemon(container, files, expected)
    case 'cloudwatch-agent':
      return checkCloudwatchAgent(container, files, expected)
    case 'adot':
      return checkAdot(container, files, expected)
    default:
      return { problems: [`${kind} is no collector these checks know`], listeners: undefined }
  }
}
