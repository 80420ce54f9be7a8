// What an operator checks by hand with kubectl after `./app manifests | kubectl apply -f -`, one line per finding.
import { deploymentRecordName, type KubernetesClient, KubernetesError, messageOf } from '../platform'
import {
  type Deployment,
  daemonSet,
  deployment,
  type EndpointSlice,
  type Event,
  endpointSlice,
  event,
  type HorizontalPodAutoscaler,
  horizontalPodAutoscaler,
  ingress,
  type Pod,
  pod,
  resources,
  service,
  serviceAccount,
} from './objects'
import { collectorObjects, describeTarget, type RecordLookup, type Target } from './target'

/** `warn` is worth reading but does not fail the deployment. */
export type Verdict = 'ok' | 'warn' | 'fail'

export interface Check {
  readonly name: string
  readonly verdict: Verdict
  readonly detail: string
}

const ok = (name: string, detail: string): Check => ({ name, verdict: 'ok', detail })
const warn = (name: string, detail: string): Check => ({ name, verdict: 'warn', detail })
const fail = (name: string, detail: string): Check => ({ name, verdict: 'fail', detail })

const appDeployments = ['usermgmt-microservice', 'v1-notification-microservice'] as const
const canaryDeployment = 'v2-notification-microservice'
const appServices = ['usermgmt-restapp-nodeport-service', 'notification-clusterip-service'] as const
const ingressName = 'eks-microservices-demo'

/**
 * Problems no other call can get past (no kubeconfig, API unreachable, credentials refused): said once, not once
 * per check.
 */
export function isFatal(error: unknown): error is KubernetesError {
  return (
    error instanceof KubernetesError &&
    (error.problem === 'no-kubeconfig' ||
      error.problem === 'config' ||
      error.problem === 'unreachable' ||
      error.problem === 'unauthorized')
  )
}

/** Runs one check; a call it could not make fails that check alone, unless no call can succeed. */
async function guarded(name: string, run: () => Promise<readonly Check[]>): Promise<readonly Check[]> {
  try {
    return await run()
  } catch (error) {
    if (isFatal(error)) throw error
    return [fail(name, messageOf(error))]
  }
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`
const oneLine = (text: string) => text.replace(/\s+/g, ' ').trim()

/** The deployment record's line: what is checked, and whether `./app manifests` said so or the defaults do. */
export function recordCheck(lookup: RecordLookup, target: Target, flagsGiven: boolean): Check {
  const name = 'deployment record'
  const checking = `checking ${describeTarget(target)} (the defaults${flagsGiven ? ' and flags' : ''})`
  switch (lookup.kind) {
    case 'found':
      return ok(
        name,
        `${describeTarget(target)}${flagsGiven ? ' (with flags on top)' : ''}; image ${lookup.record.image}`,
      )
    case 'missing':
      return warn(name, `no configmap ${deploymentRecordName} in namespace ${target.namespace}; ${checking}`)
    case 'invalid':
      return fail(
        name,
        `configmap ${deploymentRecordName} in namespace ${target.namespace} is unreadable: ${lookup.why}; ${checking}`,
      )
    default:
      return lookup satisfies never
  }
}

function selectorOf(matchLabels: Readonly<Record<string, string>> | undefined): string | undefined {
  const pairs = Object.entries(matchLabels ?? {})
  return pairs.length === 0 ? undefined : pairs.map(([key, value]) => `${key}=${value}`).join(',')
}

const stuckWaiting = new Set([
  'CrashLoopBackOff',
  'ImagePullBackOff',
  'ErrImagePull',
  'InvalidImageName',
  'CreateContainerConfigError',
  'CreateContainerError',
  'RunContainerError',
])

/** Containers that crash, were OOM-killed, cannot start or restarted, in each live pod of one workload. */
function podChecks(workload: string, namespace: string, pods: readonly Pod[]): Check[] {
  const live = pods.filter((p) => p.metadata.deletionTimestamp === undefined)
  if (live.length === 0) return [fail(`pods ${workload}`, 'no pods')]
  const found: Check[] = []
  for (const p of live) {
    const name = `pod ${namespace}/${p.metadata.name}`
    const scheduled = p.status?.conditions?.find((c) => c.type === 'PodScheduled')
    if (scheduled?.status === 'False')
      found.push(fail(name, oneLine(`not scheduled: ${scheduled.reason ?? ''}: ${scheduled.message ?? ''}`)))
    const specs = [...(p.spec.initContainers ?? []), ...p.spec.containers]
    for (const status of [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])]) {
      const container = `container ${status.name}`
      const restarts = status.restartCount ?? 0
      const restarted = restarts > 0 ? `, restarted ${plural(restarts, 'time')}` : ''
      const last = status.lastState?.terminated
      const lastAt = last?.finishedAt ? ` at ${last.finishedAt}` : ''
      const lastText = last
        ? `last ${last.reason ?? 'terminated'} (exit code ${last.exitCode ?? '?'})${lastAt}`
        : undefined
      const waiting = status.state?.waiting
      if (waiting?.reason && stuckWaiting.has(waiting.reason)) {
        // CrashLoopBackOff's message only repeats the back-off; the last termination says why.
        const said = waiting.reason !== 'CrashLoopBackOff' && waiting.message ? `: ${oneLine(waiting.message)}` : ''
        found.push(fail(name, `${container} ${waiting.reason}${said}${restarted}${lastText ? `, ${lastText}` : ''}`))
      } else if (last?.reason === 'OOMKilled') {
        const limit = specs.find((c) => c.name === status.name)?.resources?.limits?.['memory']
        const withLimit = limit === undefined ? '' : ` (memory limit ${limit})`
        found.push(fail(name, `${container} OOMKilled${withLimit}${restarted}, last${lastAt}`))
      } else if (restarts > 0) {
        found.push(warn(name, `${container}${restarted}${lastText ? `, ${lastText}` : ''}`))
      }
    }
  }
  return found.length > 0 ? found : [ok(`pods ${workload}`, `${plural(live.length, 'pod')}, no restarts`)]
}

/** Why a pod's collector sidecar is not running, if it is not. */
function sidecarProblem(p: Pod, name: string): string | undefined {
  const spec = p.spec.initContainers?.find((c) => c.name === name)
  if (spec === undefined) return 'none'
  if (spec.restartPolicy !== 'Always') return 'an init container without restartPolicy Always'
  const state = p.status?.initContainerStatuses?.find((c) => c.name === name)?.state
  if (state?.running !== undefined) return undefined
  return state?.waiting?.reason ?? (state?.terminated ? 'terminated' : 'not started')
}

function rolloutCheck(name: string, d: Deployment): Check {
  const desired = d.spec.replicas ?? 1
  const s = d.status ?? {}
  const updated = s.updatedReplicas ?? 0
  const available = s.availableReplicas ?? 0
  const counts = `${available}/${desired} available, ${updated}/${desired} updated`
  const replicaFailure = s.conditions?.find((c) => c.type === 'ReplicaFailure')
  // Pods the API refuses to create (Pod Security, quota) never appear, so nothing else would say why.
  if (replicaFailure?.status === 'True')
    return fail(
      name,
      oneLine(
        `cannot create pods (${replicaFailure.reason ?? 'ReplicaFailure'}: ${replicaFailure.message ?? ''}); ${counts}`,
      ),
    )
  const progressing = s.conditions?.find((c) => c.type === 'Progressing')
  if (progressing?.status === 'False' || progressing?.reason === 'ProgressDeadlineExceeded')
    return fail(
      name,
      oneLine(`rollout stuck (${progressing.reason ?? 'Progressing false'}: ${progressing.message ?? ''}); ${counts}`),
    )
  if ((s.observedGeneration ?? 0) < (d.metadata.generation ?? 0))
    return fail(name, `the controller has not yet seen the latest change; ${counts}`)
  if (desired === 0) return fail(name, 'scaled to 0 replicas')
  const old = (s.replicas ?? 0) - updated
  if (updated < desired) return fail(name, `rollout in progress; ${counts}`)
  if (old > 0) return fail(name, `rollout in progress, ${plural(old, 'old replica')} still running; ${counts}`)
  return available < desired ? fail(name, counts) : ok(name, counts)
}

function autoscalerCheck(name: string, target: string, hpas: readonly HorizontalPodAutoscaler[]): Check {
  const hpa = hpas.find((h) => h.spec.scaleTargetRef.kind === 'Deployment' && h.spec.scaleTargetRef.name === target)
  if (hpa === undefined) return fail(name, 'no HorizontalPodAutoscaler targets this Deployment')
  const condition = (type: string) => hpa.status?.conditions?.find((c) => c.type === type)
  for (const type of ['AbleToScale', 'ScalingActive']) {
    const c = condition(type)
    if (c?.status === 'False') return fail(name, oneLine(`cannot scale (${c.reason ?? type}: ${c.message ?? ''})`))
  }
  const range = `min ${hpa.spec.minReplicas ?? 1}, max ${hpa.spec.maxReplicas}`
  const current = hpa.status?.currentReplicas ?? 0
  const wanted = hpa.status?.desiredReplicas ?? current
  if (wanted >= hpa.spec.maxReplicas && condition('ScalingLimited')?.status === 'True')
    return warn(name, `at its maximum: ${current} replicas, wants ${wanted} (${range})`)
  return ok(name, `${current} replicas, wants ${wanted} (${range})`)
}

/** Ready endpoints across a Service's EndpointSlices, each counted once (dual-stack gives one slice per family). */
function countEndpoints(slices: readonly EndpointSlice[]) {
  const ready = new Set<string>()
  const notReady = new Set<string>()
  for (const slice of slices) {
    for (const endpoint of slice.endpoints ?? []) {
      const key = endpoint.targetRef?.uid ?? endpoint.targetRef?.name ?? endpoint.addresses.join(',')
      // The API says a missing ready condition means unknown, to be read as ready.
      if (endpoint.conditions?.ready === false) notReady.add(key)
      else ready.add(key)
    }
  }
  for (const key of ready) notReady.delete(key)
  return { ready: ready.size, notReady: notReady.size }
}

const eventTime = (e: Event) =>
  e.lastTimestamp ?? e.series?.lastObservedTime ?? e.eventTime ?? e.metadata.creationTimestamp ?? ''

/**
 * The Ingress's Warning events newer than its last Normal one: the Load Balancer Controller says
 * SuccessfullyReconciled once a later attempt worked, and its earlier warnings no longer apply.
 */
function currentWarnings(events: readonly Event[]): Event[] {
  const time = (e: Event) => Date.parse(eventTime(e)) || 0
  const lastNormal = Math.max(0, ...events.filter((e) => e.type === 'Normal').map(time))
  return events.filter((e) => e.type === 'Warning' && time(e) > lastNormal).sort((a, b) => time(a) - time(b))
}

/** Every check of one deployment, in a fixed order; calls run concurrently. Throws only when no call can succeed. */
export async function checkDeployment(kube: KubernetesClient, target: Target): Promise<Check[]> {
  const ns = target.namespace
  const collector = collectorObjects(target.collector)
  const deploymentNames = [...appDeployments, ...(target.canary ? [canaryDeployment] : [])]

  const cache = new Map<string, Promise<unknown>>()
  const once = <T>(key: string, load: () => Promise<T>): Promise<T> => {
    let found = cache.get(key) as Promise<T> | undefined
    if (found === undefined) {
      found = load()
      // Awaited by every check that needs it; this only keeps an early abort from leaving it unhandled.
      found.catch(() => {})
      cache.set(key, found)
    }
    return found
  }
  const getDeployment = (name: string) =>
    once(`deployment ${name}`, () => kube.get({ ...resources.deployments, namespace: ns, name }, deployment))
  const listPods = (namespace: string, matchLabels: Record<string, string> | undefined) => {
    const labelSelector = selectorOf(matchLabels)
    if (labelSelector === undefined) return Promise.resolve([])
    return once(`pods ${namespace} ${labelSelector}`, () =>
      kube.list({ ...resources.pods, namespace }, pod, { labelSelector }),
    )
  }
  const listAutoscalers = () =>
    once('hpas', () => kube.list({ ...resources.horizontalPodAutoscalers, namespace: ns }, horizontalPodAutoscaler))

  const serviceAccountCheck = (namespace: string) => {
    const name = `serviceaccount ${namespace}/${collector.serviceAccount}`
    return guarded(name, async () => {
      const found = await kube.get(
        { ...resources.serviceAccounts, namespace, name: collector.serviceAccount },
        serviceAccount,
      )
      if (found === undefined) return [fail(name, 'not found')]
      if (target.podIdentity)
        return [ok(name, 'present (EKS Pod Identity: its role is an association, not an annotation)')]
      const arn = found.metadata.annotations?.['eks.amazonaws.com/role-arn']
      if (arn === undefined)
        return [fail(name, 'no eks.amazonaws.com/role-arn annotation (IRSA): the collector has no AWS credentials')]
      if (!/^arn:aws[a-z-]*:iam::\d{12}:role\/\S+$/.test(arn))
        return [fail(name, `eks.amazonaws.com/role-arn is not an IAM role ARN (${JSON.stringify(arn)})`)]
      return [ok(name, `role ${arn}`)]
    })
  }

  const daemonSetChecks = (namespace: string) => {
    const workload = `${namespace}/${collector.workload}`
    const name = `daemonset ${workload}`
    return guarded(name, async () => {
      const ds = await kube.get({ ...resources.daemonSets, namespace, name: collector.workload }, daemonSet)
      if (ds === undefined) return [fail(name, 'not found')]
      const s = ds.status ?? {}
      const desired = s.desiredNumberScheduled ?? 0
      const ready = s.numberReady ?? 0
      const updated = s.updatedNumberScheduled ?? 0
      const counts = `${ready}/${desired} ready, ${updated}/${desired} updated`
      let rollout: Check
      if (desired === 0) rollout = fail(name, 'on no node: no node matches its node selector and tolerations')
      else if ((s.observedGeneration ?? 0) < (ds.metadata.generation ?? 0))
        rollout = fail(name, `the controller has not yet seen the latest change; ${counts}`)
      else if (updated < desired) rollout = fail(name, `rollout in progress; ${counts}`)
      else rollout = ready < desired ? fail(name, counts) : ok(name, counts)
      if (desired === 0) return [rollout]
      const pods = await guarded(`pods ${workload}`, async () =>
        podChecks(workload, namespace, await listPods(namespace, ds.spec.selector.matchLabels)),
      )
      return [rollout, ...pods]
    })
  }

  const sidecarCheck = () => {
    const name = `sidecar ${collector.workload}`
    return guarded(name, async () => {
      const missing: string[] = []
      let total = 0
      for (const deploymentName of deploymentNames) {
        const d = await getDeployment(deploymentName)
        if (d === undefined) continue
        for (const p of await listPods(ns, d.spec.selector.matchLabels)) {
          if (p.metadata.deletionTimestamp !== undefined) continue
          total++
          const problem = sidecarProblem(p, collector.workload)
          if (problem !== undefined) missing.push(`${p.metadata.name} (${problem})`)
        }
      }
      if (total === 0) return [fail(name, 'no app pods to run in')]
      if (missing.length > 0)
        return [fail(name, `not running in ${missing.length} of ${plural(total, 'app pod')}: ${missing.join(', ')}`)]
      return [ok(name, `running in ${total}/${plural(total, 'app pod')}`)]
    })
  }

  const deploymentChecks = (deploymentName: string) => {
    const workload = `${ns}/${deploymentName}`
    const name = `deployment ${workload}`
    return guarded(name, async () => {
      const d = await getDeployment(deploymentName)
      if (d === undefined) return [fail(name, 'not found')]
      const [autoscaler, pods] = await Promise.all([
        target.autoscaling
          ? guarded(`hpa ${workload}`, async () => [
              autoscalerCheck(`hpa ${workload}`, deploymentName, await listAutoscalers()),
            ])
          : [],
        guarded(`pods ${workload}`, async () =>
          podChecks(workload, ns, await listPods(ns, d.spec.selector.matchLabels)),
        ),
      ])
      return [rolloutCheck(name, d), ...autoscaler, ...pods]
    })
  }

  const serviceCheck = (namespace: string, serviceName: string) => {
    const name = `service ${namespace}/${serviceName}`
    return guarded(name, async () => {
      const [found, slices] = await Promise.all([
        kube.get({ ...resources.services, namespace, name: serviceName }, service),
        kube.list({ ...resources.endpointSlices, namespace }, endpointSlice, {
          labelSelector: `kubernetes.io/service-name=${serviceName}`,
        }),
      ])
      if (found === undefined) return [fail(name, 'not found')]
      const { ready, notReady } = countEndpoints(slices)
      const others = notReady > 0 ? `, ${notReady} not ready` : ''
      return [
        ready > 0 ? ok(name, `${plural(ready, 'ready endpoint')}${others}`) : fail(name, `no ready endpoints${others}`),
      ]
    })
  }

  const ingressChecks = () => {
    const name = `ingress ${ns}/${ingressName}`
    return guarded(name, async () => {
      const [found, events] = await Promise.all([
        kube.get({ ...resources.ingresses, namespace: ns, name: ingressName }, ingress),
        kube
          .list({ ...resources.events, namespace: ns }, event, {
            fieldSelector: `involvedObject.kind=Ingress,involvedObject.name=${ingressName}`,
          })
          .catch((error: unknown) => {
            if (isFatal(error)) throw error
            return messageOf(error)
          }),
      ])
      if (found === undefined) return [fail(name, 'not found')]
      const entry = found.status?.loadBalancer?.ingress?.[0]
      const address = entry?.hostname ?? entry?.ip
      if (typeof events === 'string')
        return [
          address ? ok(name, `address ${address}`) : fail(name, 'no load balancer address yet'),
          warn(name, `cannot read its events: ${events}`),
        ]
      const checks = [
        address
          ? ok(name, `address ${address}`)
          : fail(
              name,
              events.length > 0
                ? 'no load balancer address yet'
                : 'no load balancer address yet, and no event from a controller: is the AWS Load Balancer Controller installed and running?',
            ),
      ]
      for (const e of currentWarnings(events)) {
        const count = e.series?.count ?? e.count ?? 1
        const when = count > 1 ? `${count} times, last at ${eventTime(e)}` : `at ${eventTime(e)}`
        checks.push(fail(name, oneLine(`${e.reason ?? 'Warning'}: ${e.message ?? ''} (${when})`)))
      }
      return checks
    })
  }

  const runs: Promise<readonly Check[]>[] = []
  if (target.collectorNamespace === null) runs.push(serviceAccountCheck(ns), sidecarCheck())
  else
    runs.push(
      daemonSetChecks(target.collectorNamespace),
      serviceAccountCheck(target.collectorNamespace),
      serviceCheck(target.collectorNamespace, collector.service),
    )
  runs.push(...deploymentNames.map(deploymentChecks))
  runs.push(...appServices.map((s) => serviceCheck(ns, s)))
  runs.push(ingressChecks())
  return (await Promise.all(runs)).flat()
}

const labels: Record<Verdict, string> = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL' }

export function formatChecks(checks: readonly Check[]): string {
  return checks.map((c) => `${labels[c.verdict]}  ${c.name}: ${c.detail}`).join('\n')
}
