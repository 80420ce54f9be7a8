// What status checks: what `./app manifests` recorded it deployed, or the defaults when there is no record, with
// the operator's flags on top.
import {
  type DeploymentRecord,
  defaultCollectorNamespace,
  deploymentRecord,
  deploymentRecordKey,
  deploymentRecordName,
  describeIssue,
  dnsLabelPattern,
  type KubernetesClient,
} from '../platform'
import { configMap, resources } from './objects'

export type Collector = DeploymentRecord['collector']
export const collectorNames = deploymentRecord.shape.collector.options

export interface Target {
  /** The app's namespace, where the record, the Deployments, their Services and the Ingress are. */
  readonly namespace: string
  readonly collector: Collector
  /** Where the collector's DaemonSet runs; null on Fargate, where it is a sidecar in each app pod. */
  readonly collectorNamespace: string | null
  readonly fargate: boolean
  readonly podIdentity: boolean
  /** The V2 notification track is deployed. */
  readonly canary: boolean
  /** HorizontalPodAutoscalers own the replica counts. */
  readonly autoscaling: boolean
}

/** What the operator said on the command line; each one given wins over the record. */
export interface Overrides {
  readonly collector?: Collector | undefined
  readonly collectorNamespace?: string | undefined
  readonly fargate?: boolean | undefined
  readonly podIdentity?: boolean | undefined
}

export type RecordLookup =
  | { readonly kind: 'found'; readonly record: DeploymentRecord }
  | { readonly kind: 'missing' }
  | { readonly kind: 'invalid'; readonly why: string }

/** A DNS label, as Kubernetes requires of a namespace name. */
export function isNamespaceName(name: string): boolean {
  return dnsLabelPattern.test(name)
}

/** The objects `./app manifests` makes for a collector (its manifests/wiring.ts; a test holds the two together). */
export interface CollectorObjects {
  /** The DaemonSet, and its container: the sidecar's name on Fargate. */
  readonly workload: string
  readonly serviceAccount: string
  /** The Service in front of the DaemonSet: the course's name whichever collector runs. */
  readonly service: string
}

const collectorObjectNames: Readonly<Record<Collector, string>> = {
  'xray-daemon': 'xray-daemon',
  'cloudwatch-agent': 'cloudwatch-agent',
  adot: 'adot-collector',
}

/** The X-Ray daemon keeps the course's names; the CloudWatch agent and the ADOT collector are named after themselves. */
export function collectorObjects(collector: Collector): CollectorObjects {
  const name = collectorObjectNames[collector]
  return { workload: name, serviceAccount: name, service: 'xray-service' }
}

/** Reads the record `./app manifests` keeps beside the app; a 404 is no record, anything unreadable says why. */
export async function readRecord(kube: KubernetesClient, namespace: string): Promise<RecordLookup> {
  const found = await kube.get({ ...resources.configMaps, namespace, name: deploymentRecordName }, configMap)
  if (found === undefined) return { kind: 'missing' }
  const text = found.data?.[deploymentRecordKey]
  if (text === undefined) return { kind: 'invalid', why: `it has no key ${deploymentRecordKey}` }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    return { kind: 'invalid', why: `${deploymentRecordKey} is not JSON` }
  }
  const version = json && typeof json === 'object' && 'version' in json ? json.version : undefined
  if (typeof version === 'number' && version > 1)
    return {
      kind: 'invalid',
      why: `it was written by a newer ./app (record version ${version}; this one reads version 1): update ./app`,
    }
  const parsed = deploymentRecord.safeParse(json)
  if (!parsed.success) return { kind: 'invalid', why: describeIssue(parsed.error.issues[0], 'record') }
  for (const [key, value] of [
    ['namespace', parsed.data.namespace],
    ['collectorNamespace', parsed.data.collectorNamespace],
  ] as const) {
    if (value !== null && !isNamespaceName(value))
      return { kind: 'invalid', why: `${key}: ${JSON.stringify(value)} is not a namespace name` }
  }
  return { kind: 'found', record: parsed.data }
}

/**
 * The record's answers (or the defaults `./app manifests` uses) with the flags on top. A flag that contradicts
 * the deployment it applies to is a problem to report, not a guess to make.
 */
export function resolveTarget(
  namespace: string,
  record: DeploymentRecord | undefined,
  overrides: Overrides,
): { readonly target: Target; readonly problems: readonly string[] } {
  const fargate = overrides.fargate === true || (record?.fargate ?? false)
  const podIdentity = overrides.podIdentity === true || (record?.podIdentity ?? false)
  const problems: string[] = []
  const fargateFlag = overrides.fargate === true
  const podIdentityFlag = overrides.podIdentity === true
  if (fargate && overrides.collectorNamespace !== undefined) {
    const who = fargateFlag ? 'with --fargate the collector runs' : 'the deployment record says this deployment runs'
    problems.push(`--collector-namespace: ${who} as a sidecar in each app pod on Fargate, in no namespace of its own`)
  }
  // A record that contradicts itself is checked as it is; only what the operator typed can be refused.
  if (fargate && podIdentity && podIdentityFlag)
    problems.push(
      `--pod-identity: EKS Pod Identity does not work on Fargate${fargateFlag ? '' : ', where the deployment record says this deployment runs'}`,
    )
  else if (fargate && podIdentity && fargateFlag)
    problems.push(
      '--fargate: the deployment record says this deployment uses EKS Pod Identity, which does not work on Fargate',
    )
  const target: Target = {
    namespace,
    collector: overrides.collector ?? record?.collector ?? 'xray-daemon',
    collectorNamespace: fargate
      ? null
      : (overrides.collectorNamespace ?? record?.collectorNamespace ?? defaultCollectorNamespace),
    fargate,
    podIdentity,
    canary: record?.canary ?? false,
    autoscaling: record?.autoscaling ?? false,
  }
  return { target, problems }
}

/** The deployment in a few words: `xray-daemon in xray-system, IRSA, canary, autoscaling`. */
export function describeTarget(target: Target): string {
  return [
    target.collectorNamespace === null
      ? `Fargate with ${target.collector} sidecars`
      : `${target.collector} in ${target.collectorNamespace}`,
    target.podIdentity ? 'EKS Pod Identity' : 'IRSA',
    ...(target.canary ? ['canary'] : []),
    ...(target.autoscaling ? ['autoscaling'] : []),
  ].join(', ')
}
