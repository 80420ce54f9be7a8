// Test support, imported only by the manifests tests: checks on generated objects that a schema cannot make.
// A schema says each object is well formed; these say the objects fit together (a Service selects pods that
// listen on its ports, a secret reference names a key that exists), that every pod meets the Pod Security
// Standard its namespace enforces, and what the kubernetes-models schemas say about each object alone.
// Every check returns one line per problem, so a test can show them all and a broken fixture can prove each.
import { DaemonSet, Deployment } from 'kubernetes-models/apps/v1'
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2'
import { type IIngress, type INetworkPolicy, Ingress, NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1'
import { type IPodDisruptionBudget, PodDisruptionBudget } from 'kubernetes-models/policy/v1'
import {
  ConfigMap,
  type IConfigMap,
  type IContainer,
  type IPodSpec,
  type IPodTemplateSpec,
  type ISecret,
  type IService,
  Namespace,
  Secret,
  Service,
  ServiceAccount,
} from 'kubernetes-models/v1'
import { parseAllDocuments } from 'yaml'
import { deploymentRecordName, messageOf, shutdownGraceMs } from '../services/platform'
import { collectorConfigProblems, type Listeners } from './collector-checks'

export interface K8sObject {
  readonly apiVersion: string
  readonly kind: string
  readonly metadata: {
    readonly name: string
    readonly namespace?: string
    readonly labels?: Readonly<Record<string, string>>
    readonly annotations?: Readonly<Record<string, string>>
  }
  readonly [key: string]: unknown
}

export function parseObjects(yaml: string): K8sObject[] {
  return parseAllDocuments(yaml).map((doc) => doc.toJS() as K8sObject)
}

const models: Record<string, new (data: never) => { validate(): void }> = {
  'v1/Namespace': Namespace,
  'v1/ServiceAccount': ServiceAccount,
  'v1/ConfigMap': ConfigMap,
  'v1/Service': Service,
  'v1/Secret': Secret,
  'apps/v1/DaemonSet': DaemonSet,
  'apps/v1/Deployment': Deployment,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'networking.k8s.io/v1/Ingress': Ingress,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
}

export const nameOf = (o: K8sObject) => `${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`

/** Each object against the Kubernetes OpenAPI schema of its kind (kubernetes-models). */
export function schemaProblems(objects: readonly K8sObject[]): string[] {
  const problems: string[] = []
  for (const object of objects) {
    const Model = models[`${object.apiVersion}/${object.kind}`]
    if (Model === undefined) {
      problems.push(`${nameOf(object)}: no schema for ${object.apiVersion} ${object.kind}`)
      continue
    }
    try {
      new Model(object as never).validate()
    } catch (error) {
      problems.push(`${nameOf(object)}: ${messageOf(error)}`)
    }
  }
  return problems
}

export interface Workload {
  readonly object: K8sObject
  readonly namespace: string
  readonly selector: Readonly<Record<string, string>>
  readonly template: IPodTemplateSpec & { spec: IPodSpec }
}

/** Deployments and DaemonSets, with their pod templates. */
export function workloads(objects: readonly K8sObject[]): Workload[] {
  return objects
    .filter((o) => o.kind === 'Deployment' || o.kind === 'DaemonSet')
    .map((object) => {
      const spec = object['spec'] as {
        selector: { matchLabels?: Record<string, string> }
        template: Workload['template']
      }
      return {
        object,
        namespace: object.metadata.namespace ?? '',
        selector: spec.selector.matchLabels ?? {},
        template: spec.template,
      }
    })
}

/** Every container of a pod: init (and sidecar) containers too, which Pod Security checks alike. */
export function allContainers(pod: IPodSpec): IContainer[] {
  return [...(pod.initContainers ?? []), ...pod.containers, ...((pod.ephemeralContainers ?? []) as IContainer[])]
}

const matches = (selector: Readonly<Record<string, string>>, labels: Readonly<Record<string, string>> = {}) =>
  Object.keys(selector).length > 0 && Object.entries(selector).every(([key, value]) => labels[key] === value)

function selected(all: readonly Workload[], namespace: string, selector: Readonly<Record<string, string>>) {
  return all.filter((w) => w.namespace === namespace && matches(selector, w.template.metadata?.labels))
}

const find = (objects: readonly K8sObject[], kind: string, namespace: string, name: string) =>
  objects.find((o) => o.kind === kind && o.metadata.namespace === namespace && o.metadata.name === name)

function portMatches(container: IContainer, port: number | string, protocol = 'TCP') {
  return (container.ports ?? []).some(
    (p) => (p.containerPort === port || p.name === port) && (p.protocol ?? 'TCP') === protocol,
  )
}

/** `$(VAR)` references: Kubernetes expands only variables defined earlier in the same container's env. */
function referenceProblems(where: string, container: IContainer): string[] {
  const problems: string[] = []
  const env = container.env ?? []
  const refs = (text: string | undefined) =>
    [...(text ?? '').replaceAll('$$', '').matchAll(/\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g)].map((m) => m[1] ?? '')
  env.forEach((variable, index) => {
    const earlier = new Set(env.slice(0, index).map((e) => e.name))
    for (const ref of refs(variable.value)) {
      if (!earlier.has(ref)) problems.push(`${where}: env ${variable.name} refers to $(${ref}), not defined before it`)
    }
  })
  const names = new Set(env.map((e) => e.name))
  for (const arg of [...(container.command ?? []), ...(container.args ?? [])]) {
    for (const ref of refs(arg)) {
      if (!names.has(ref)) problems.push(`${where}: command refers to $(${ref}), not in its env`)
    }
  }
  return problems
}

function containerProblems(
  objects: readonly K8sObject[],
  w: Workload,
  container: IContainer,
  externalSecrets: readonly string[],
): string[] {
  const where = `${nameOf(w.object)} container ${container.name}`
  const problems = referenceProblems(where, container)
  for (const variable of container.env ?? []) {
    const ref = variable.valueFrom?.secretKeyRef
    if (ref) {
      const secret = find(objects, 'Secret', w.namespace, ref.name ?? '') as (K8sObject & ISecret) | undefined
      if (secret === undefined) {
        if (!externalSecrets.includes(ref.name ?? '')) {
          problems.push(`${where}: env ${variable.name} reads Secret ${ref.name}, which is neither made nor given`)
        }
      } else if (!Object.hasOwn(secret.data ?? {}, ref.key)) {
        problems.push(`${where}: env ${variable.name} reads key ${ref.key}, which Secret ${ref.name} lacks`)
      }
    }
    const configRef = variable.valueFrom?.configMapKeyRef
    if (configRef) {
      const map = find(objects, 'ConfigMap', w.namespace, configRef.name ?? '') as (K8sObject & IConfigMap) | undefined
      if (!Object.hasOwn(map?.data ?? {}, configRef.key)) {
        problems.push(`${where}: env ${variable.name} reads ConfigMap ${configRef.name} key ${configRef.key}, not made`)
      }
    }
  }
  const volumes = new Set((w.template.spec.volumes ?? []).map((v) => v.name))
  for (const mount of container.volumeMounts ?? []) {
    if (!volumes.has(mount.name)) problems.push(`${where}: mounts volume ${mount.name}, which the pod lacks`)
  }
  for (const [kind, probe] of [
    ['startupProbe', container.startupProbe],
    ['readinessProbe', container.readinessProbe],
    ['livenessProbe', container.livenessProbe],
  ] as const) {
    const port = probe?.httpGet?.port ?? probe?.tcpSocket?.port
    if (port !== undefined && !portMatches(container, port)) {
      problems.push(`${where}: ${kind} port ${port} is not a port of the container`)
    }
  }
  return problems
}

/** Whether the objects fit together: selectors, ports, names, secret keys, volumes and `$(VAR)` order. */
export function wiringProblems(
  objects: readonly K8sObject[],
  context: { readonly externalSecrets: readonly string[] },
): string[] {
  const problems: string[] = []
  const all = workloads(objects)
  const namespaces = new Set(objects.filter((o) => o.kind === 'Namespace').map((o) => o.metadata.name))
  for (const object of objects) {
    const ns = object.metadata.namespace
    if (object.kind !== 'Namespace' && (ns === undefined || !namespaces.has(ns))) {
      problems.push(`${nameOf(object)}: its namespace is not among the objects`)
    }
  }
  for (const w of all) {
    if (!matches(w.selector, w.template.metadata?.labels)) {
      problems.push(`${nameOf(w.object)}: its selector does not match its own pod labels`)
    }
    const account = w.template.spec.serviceAccountName
    if (account === undefined || find(objects, 'ServiceAccount', w.namespace, account) === undefined) {
      problems.push(`${nameOf(w.object)}: service account ${account ?? '(default)'} is not among the objects`)
    }
    for (const volume of w.template.spec.volumes ?? []) {
      const map = volume.configMap
      if (map === undefined) continue
      const found = find(objects, 'ConfigMap', w.namespace, map.name ?? '') as (K8sObject & IConfigMap) | undefined
      if (found === undefined) problems.push(`${nameOf(w.object)}: volume ${volume.name} needs ConfigMap ${map.name}`)
      for (const item of map.items ?? []) {
        if (found && !Object.hasOwn(found.data ?? {}, item.key)) {
          problems.push(`${nameOf(w.object)}: volume ${volume.name} needs key ${item.key} of ConfigMap ${map.name}`)
        }
      }
    }
    for (const container of allContainers(w.template.spec)) {
      problems.push(...containerProblems(objects, w, container, context.externalSecrets))
    }
  }
  for (const service of objects.filter((o): o is K8sObject & IService => o.kind === 'Service')) {
    const selector = service.spec?.selector
    if (selector === undefined) continue
    const backing = selected(all, service.metadata.namespace ?? '', selector)
    if (backing.length === 0) problems.push(`${nameOf(service)}: selects no pods`)
    for (const port of service.spec?.ports ?? []) {
      const target = port.targetPort ?? port.port
      for (const w of backing) {
        if (!allContainers(w.template.spec).some((c) => portMatches(c, target, port.protocol ?? 'TCP'))) {
          problems.push(
            `${nameOf(service)}: port ${target}/${port.protocol ?? 'TCP'} is not a port of ${nameOf(w.object)}`,
          )
        }
      }
    }
  }
  for (const ingress of objects.filter((o): o is K8sObject & IIngress => o.kind === 'Ingress')) {
    for (const path of (ingress.spec?.rules ?? []).flatMap((r) => r.http?.paths ?? [])) {
      const backend = path.backend.service
      const service = find(objects, 'Service', ingress.metadata.namespace ?? '', backend?.name ?? '') as
        | (K8sObject & IService)
        | undefined
      if (!service?.spec?.ports?.some((p) => p.port === backend?.port?.number)) {
        problems.push(
          `${nameOf(ingress)}: ${path.path} goes to ${backend?.name}:${backend?.port?.number}, no such port`,
        )
      }
    }
  }
  for (const hpa of objects.filter((o) => o.kind === 'HorizontalPodAutoscaler')) {
    const target = (hpa['spec'] as { scaleTargetRef: { kind: string; name: string } }).scaleTargetRef
    if (find(objects, target.kind, hpa.metadata.namespace ?? '', target.name) === undefined) {
      problems.push(`${nameOf(hpa)}: scales ${target.kind} ${target.name}, which is not among the objects`)
    }
  }
  for (const pdb of objects.filter((o): o is K8sObject & IPodDisruptionBudget => o.kind === 'PodDisruptionBudget')) {
    if (selected(all, pdb.metadata.namespace ?? '', pdb.spec?.selector?.matchLabels ?? {}).length === 0) {
      problems.push(`${nameOf(pdb)}: selects no pods`)
    }
  }
  for (const policy of objects.filter((o): o is K8sObject & INetworkPolicy => o.kind === 'NetworkPolicy')) {
    const ns = policy.metadata.namespace ?? ''
    const guarded = selected(all, ns, policy.spec?.podSelector.matchLabels ?? {})
    if (guarded.length === 0) problems.push(`${nameOf(policy)}: selects no pods`)
    for (const rule of policy.spec?.ingress ?? []) {
      for (const peer of rule.from ?? []) {
        if (peer.podSelector && selected(all, ns, peer.podSelector.matchLabels ?? {}).length === 0) {
          problems.push(`${nameOf(policy)}: lets in pods that do not exist`)
        }
      }
      for (const port of rule.ports ?? []) {
        const number = port.port
        if (number === undefined) continue
        if (!guarded.every((w) => allContainers(w.template.spec).some((c) => portMatches(c, number, port.protocol)))) {
          problems.push(`${nameOf(policy)}: opens port ${number}, on which its pods do not listen`)
        }
      }
    }
  }
  return problems
}

// Pod Security Standards, from the published list of controls and allowed values:
// https://kubernetes.io/docs/concepts/security/pod-security-standards/ (policy version "latest", Kubernetes 1.33).
// No well-kept JavaScript library checks them, so this follows that page control by control.
export type PodSecurityLevel = 'privileged' | 'baseline' | 'restricted'

const baselineCapabilities = new Set([
  'AUDIT_WRITE',
  'CHOWN',
  'DAC_OVERRIDE',
  'FOWNER',
  'FSETID',
  'KILL',
  'MKNOD',
  'NET_BIND_SERVICE',
  'SETFCAP',
  'SETGID',
  'SETPCAP',
  'SETUID',
  'SYS_CHROOT',
])
const safeSysctls = new Set([
  'kernel.shm_rmid_forced',
  'net.ipv4.ip_local_port_range',
  'net.ipv4.ip_unprivileged_port_start',
  'net.ipv4.tcp_syncookies',
  'net.ipv4.ping_group_range',
  'net.ipv4.ip_local_reserved_ports',
  'net.ipv4.tcp_keepalive_time',
  'net.ipv4.tcp_fin_timeout',
  'net.ipv4.tcp_keepalive_intvl',
  'net.ipv4.tcp_keepalive_probes',
])
const seLinuxTypes = new Set(['', 'container_t', 'container_init_t', 'container_kvm_t', 'container_engine_t'])
const restrictedVolumeSources = new Set([
  'configMap',
  'csi',
  'downwardAPI',
  'emptyDir',
  'ephemeral',
  'persistentVolumeClaim',
  'projected',
  'secret',
])

function baselineProblems(pod: IPodSpec, annotations: Readonly<Record<string, string>>): string[] {
  const problems: string[] = []
  const psc = pod.securityContext ?? {}
  if (pod.hostNetwork || pod.hostPID || pod.hostIPC) problems.push('Host Namespaces: hostNetwork/hostPID/hostIPC')
  if (psc.windowsOptions?.hostProcess) problems.push('HostProcess: pod windowsOptions.hostProcess')
  if ((pod.volumes ?? []).some((v) => v.hostPath !== undefined)) problems.push('HostPath Volumes: a hostPath volume')
  if (psc.seccompProfile?.type === 'Unconfined') problems.push('Seccomp: pod profile Unconfined')
  const appArmor = (type: string | undefined) => type === undefined || type === 'RuntimeDefault' || type === 'Localhost'
  if (!appArmor(psc.appArmorProfile?.type)) problems.push('AppArmor: pod profile not RuntimeDefault or Localhost')
  for (const [key, value] of Object.entries(annotations)) {
    if (key.startsWith('container.apparmor.security.beta.kubernetes.io/')) {
      if (value !== 'runtime/default' && !value.startsWith('localhost/')) problems.push(`AppArmor: annotation ${key}`)
    }
  }
  const seLinux = (o: { type?: string; user?: string; role?: string } | undefined) =>
    o === undefined || (seLinuxTypes.has(o.type ?? '') && !o.user && !o.role)
  if (!seLinux(psc.seLinuxOptions)) problems.push('SELinux: pod seLinuxOptions')
  for (const sysctl of psc.sysctls ?? []) {
    if (!safeSysctls.has(sysctl.name)) problems.push(`Sysctls: ${sysctl.name}`)
  }
  for (const c of allContainers(pod)) {
    const sc = c.securityContext ?? {}
    const at = `container ${c.name}`
    if (sc.privileged) problems.push(`Privileged Containers: ${at}`)
    if (sc.windowsOptions?.hostProcess) problems.push(`HostProcess: ${at}`)
    for (const cap of sc.capabilities?.add ?? []) {
      if (!baselineCapabilities.has(cap)) problems.push(`Capabilities: ${at} adds ${cap}`)
    }
    if ((c.ports ?? []).some((p) => (p.hostPort ?? 0) !== 0)) problems.push(`Host Ports: ${at} uses a hostPort`)
    if (!appArmor(sc.appArmorProfile?.type)) problems.push(`AppArmor: ${at}`)
    if (!seLinux(sc.seLinuxOptions)) problems.push(`SELinux: ${at}`)
    if (sc.procMount !== undefined && sc.procMount !== 'Default') problems.push(`/proc Mount Type: ${at}`)
    if (sc.seccompProfile?.type === 'Unconfined') problems.push(`Seccomp: ${at} profile Unconfined`)
  }
  return problems
}

function restrictedOnlyProblems(pod: IPodSpec): string[] {
  const problems: string[] = []
  const psc = pod.securityContext ?? {}
  for (const volume of pod.volumes ?? []) {
    const sources = Object.keys(volume).filter((key) => key !== 'name')
    if (!sources.every((source) => restrictedVolumeSources.has(source))) {
      problems.push(`Volume Types: ${volume.name} is ${sources.join(', ')}`)
    }
  }
  if (psc.runAsUser === 0) problems.push('Running as Non-root user: pod runAsUser 0')
  const secure = (type: string | undefined) => type === 'RuntimeDefault' || type === 'Localhost'
  for (const c of allContainers(pod)) {
    const sc = c.securityContext ?? {}
    const at = `container ${c.name}`
    if (sc.allowPrivilegeEscalation !== false) problems.push(`Privilege Escalation: ${at} may escalate`)
    const nonRoot = sc.runAsNonRoot ?? psc.runAsNonRoot
    if (nonRoot !== true) problems.push(`Running as Non-root: ${at} is not runAsNonRoot`)
    if (sc.runAsUser === 0) problems.push(`Running as Non-root user: ${at} runAsUser 0`)
    if (!secure(sc.seccompProfile?.type ?? psc.seccompProfile?.type)) {
      problems.push(`Seccomp: ${at} has no RuntimeDefault or Localhost profile`)
    }
    if (!(sc.capabilities?.drop ?? []).includes('ALL')) problems.push(`Capabilities: ${at} does not drop ALL`)
    for (const cap of sc.capabilities?.add ?? []) {
      if (cap !== 'NET_BIND_SERVICE') problems.push(`Capabilities: ${at} adds ${cap}`)
    }
  }
  return problems
}

/** The controls of one Pod Security Standard level that a pod fails. */
export function podSecurityProblems(
  pod: IPodSpec,
  annotations: Readonly<Record<string, string>>,
  level: PodSecurityLevel,
): string[] {
  if (level === 'privileged') return []
  const baseline = baselineProblems(pod, annotations)
  return level === 'baseline' ? baseline : [...baseline, ...restrictedOnlyProblems(pod)]
}

const levels: readonly string[] = ['privileged', 'baseline', 'restricted']

/** Every pod template against the level its Namespace object enforces (privileged when unlabelled). */
export function namespaceSecurityProblems(objects: readonly K8sObject[]): string[] {
  const problems: string[] = []
  for (const w of workloads(objects)) {
    const namespace = objects.find((o) => o.kind === 'Namespace' && o.metadata.name === w.namespace)
    const label = namespace?.metadata.labels?.['pod-security.kubernetes.io/enforce'] ?? 'privileged'
    const level = levels.includes(label) ? (label as PodSecurityLevel) : 'privileged'
    for (const problem of podSecurityProblems(w.template.spec, w.template.metadata?.annotations ?? {}, level)) {
      problems.push(`${nameOf(w.object)} in a ${level} namespace: ${problem}`)
    }
  }
  return problems
}

/** The node-local trace collector a deployment must run. */
export interface ExpectedCollector {
  readonly kind: 'xray-daemon' | 'cloudwatch-agent' | 'adot'
  /** Its DaemonSet, container (the Fargate sidecar) and service account. */
  readonly name: string
  readonly image: string
  /** Receives OTLP beside X-Ray. */
  readonly otlp: boolean
}

/** What a deployment made from some options must look like, worked out by the test from those options. */
export interface ExpectedDeployment {
  readonly namespace: string
  readonly collector: ExpectedCollector
  /** OTEL_TRACES_EXPORTER of the roles. */
  readonly exporter: 'xray' | 'otlp' | 'xray,otlp'
  /** undefined on Fargate, where the collector is a sidecar in each pod. */
  readonly collectorNamespace: string | undefined
  readonly daemonAddress: 'node' | 'service' | 'sidecar'
  readonly region: string
  readonly smtpHost: string
  readonly dbHost: string
  readonly dbSslMode: string
  readonly auth:
    | { readonly mode: 'none' }
    | { readonly mode: 'jwt'; readonly issuer: string; readonly audience: string; readonly jwksUrl?: string }
  readonly tokenSecret: string
  /** Replicas of each Deployment, or 'hpa' where an autoscaler owns the count. */
  readonly replicas: Readonly<Record<string, number | 'hpa'>>
  /** The IRSA annotation of the collector's service account; undefined with Pod Identity. */
  readonly roleArn: string | undefined
  /** The deployment record, as JSON. */
  readonly record: Readonly<Record<string, unknown>>
}

/** The roles exit at the latest this long after SIGTERM (services/platform stopOnSignal). */
const appStopSeconds = Math.ceil(shutdownGraceMs / 1000)
const mebibytes = (quantity: string | number | undefined) => {
  const match = /^(\d+)(Mi|Gi)$/.exec(String(quantity ?? ''))
  return match ? Number(match[1]) * (match[2] === 'Gi' ? 1024 : 1) : 0
}

/** Each path a container sees from the ConfigMaps mounted into it, with the file's text. */
function mountedFiles(objects: readonly K8sObject[], w: Workload, container: IContainer): Map<string, string> {
  const files = new Map<string, string>()
  for (const mount of container.volumeMounts ?? []) {
    const source = (w.template.spec.volumes ?? []).find((v) => v.name === mount.name)?.configMap
    if (source === undefined) continue
    const map = find(objects, 'ConfigMap', w.namespace, source.name ?? '') as (K8sObject & IConfigMap) | undefined
    const data = map?.data ?? {}
    const items = source.items ?? Object.keys(data).map((key) => ({ key, path: key }))
    for (const item of items) {
      const text = data[item.key]
      if (text !== undefined) files.set(`${mount.mountPath.replace(/\/$/, '')}/${item.path}`, text)
    }
  }
  return files
}

interface RunningCollector {
  readonly where: string
  readonly container: IContainer
  readonly w: Workload
  readonly listeners: Listeners | undefined
}

/** Every collector container (DaemonSet pod or Fargate sidecar) with where its configuration says it listens. */
function runningCollectors(objects: readonly K8sObject[], e: ExpectedDeployment) {
  const found: RunningCollector[] = []
  const problems: string[] = []
  for (const w of workloads(objects)) {
    const pod = w.template.spec
    const candidates = w.object.kind === 'DaemonSet' ? pod.containers : (pod.initContainers ?? [])
    for (const container of candidates.filter((c) => c.name === e.collector.name)) {
      const where = `${nameOf(w.object)} container ${container.name}`
      const host = w.object.kind === 'DaemonSet' ? '0.0.0.0' : '127.0.0.1'
      const checked = collectorConfigProblems(e.collector.kind, container, mountedFiles(objects, w, container), {
        region: e.region,
        host,
      })
      problems.push(...checked.problems.map((p) => `${where}: ${e.collector.kind} config: ${p}`))
      found.push({ where, container, w, listeners: checked.listeners })
    }
  }
  return { found, problems }
}

function collectorProblems(objects: readonly K8sObject[], e: ExpectedDeployment): string[] {
  const c = e.collector
  const all = workloads(objects)
  const daemonSets = all.filter((w) => w.object.kind === 'DaemonSet')
  const services = objects.filter((o) => o.kind === 'Service' && o.metadata.name === 'xray-service')
  const { found, problems } = runningCollectors(objects, e)
  if (e.collectorNamespace === undefined) {
    if (daemonSets.length > 0) problems.push('Fargate: a DaemonSet, which Fargate never runs')
    if (services.length > 0) problems.push('Fargate: xray-service, which would select nothing')
    const others = objects.filter((o) => o.kind === 'Namespace' && o.metadata.name !== e.namespace)
    if (others.length > 0) problems.push(`Fargate: a collector namespace ${others.map((o) => o.metadata.name)}`)
    for (const w of all) {
      const sidecar = (w.template.spec.initContainers ?? []).find((x) => x.name === c.name)
      if (sidecar?.restartPolicy !== 'Always') {
        problems.push(`${nameOf(w.object)}: no native sidecar ${c.name} (an init container with restartPolicy Always)`)
      }
      const skipped = w.template.metadata?.annotations?.['eks.amazonaws.com/skip-containers']?.split(',') ?? []
      const apps = w.template.spec.containers.map((x) => x.name)
      if (!Bun.deepEquals([...skipped].sort(), [...apps].sort())) {
        problems.push(`${nameOf(w.object)}: eks.amazonaws.com/skip-containers is ${skipped}, not the app's ${apps}`)
      }
      if (w.template.spec.serviceAccountName !== c.name) {
        problems.push(`${nameOf(w.object)}: on Fargate the pod needs the collector's IRSA account ${c.name}`)
      }
    }
  } else {
    const inCollector = daemonSets.filter(
      (w) => w.namespace === e.collectorNamespace && w.object.metadata.name === c.name,
    )
    if (inCollector.length !== 1 || daemonSets.length !== 1) {
      problems.push(`no single DaemonSet ${c.name} in the collector namespace ${e.collectorNamespace}`)
    }
    for (const w of daemonSets) {
      const pod = w.template.spec
      if (!(pod.tolerations ?? []).some((t) => t.operator === 'Exists' && !t.key && !t.effect)) {
        problems.push(`${nameOf(w.object)}: does not tolerate every taint`)
      }
      if (pod.priorityClassName !== 'system-node-critical') {
        problems.push(`${nameOf(w.object)}: priority class is ${pod.priorityClassName}, not system-node-critical`)
      }
      if (pod.nodeSelector?.['kubernetes.io/os'] !== 'linux') problems.push(`${nameOf(w.object)}: not Linux only`)
      if (pod.serviceAccountName !== c.name) {
        problems.push(`${nameOf(w.object)}: runs as ${pod.serviceAccountName}, not the collector's account ${c.name}`)
      }
    }
    const service = services.find((s) => s.metadata.namespace === e.collectorNamespace) as
      | (K8sObject & IService)
      | undefined
    const ports = (service?.spec?.ports ?? []).map((p) => `${p.port}/${p.protocol ?? 'TCP'}`).sort()
    const wanted = ['2000/TCP', '2000/UDP', ...(c.otlp ? ['4317/TCP', '4318/TCP'] : [])].sort()
    if (!Bun.deepEquals(ports, wanted)) problems.push(`xray-service: ports ${ports}, not ${wanted}`)
    const policy = e.daemonAddress === 'node' ? 'Local' : 'Cluster'
    if (service?.spec?.internalTrafficPolicy !== policy) {
      problems.push(`xray-service: internalTrafficPolicy ${service?.spec?.internalTrafficPolicy}, not ${policy}`)
    }
  }
  for (const { where, container, w } of found) {
    if (container.image !== c.image) problems.push(`${where}: image ${container.image}, not ${c.image}`)
    const limit = mebibytes(container.resources?.limits?.['memory'])
    const request = mebibytes(container.resources?.requests?.['memory'])
    if (c.kind === 'xray-daemon') {
      const volume = (w.template.spec.volumes ?? []).find((v) => v.configMap !== undefined)
      const config = find(objects, 'ConfigMap', w.namespace, volume?.configMap?.name ?? '') as
        | (K8sObject & IConfigMap)
        | undefined
      const text = Object.values(config?.data ?? {}).join('\n')
      const buffer = Number(/TotalBufferSizeMB:\s*(\d+)/.exec(text)?.[1] ?? Number.NaN)
      // AWS's DaemonSet sample (aws-samples/aws-xray-kubernetes) gives its 24 MB buffer a 64Mi limit.
      if (!(limit >= buffer + 40)) problems.push(`${where}: daemon memory limit ${limit}Mi for a ${buffer} MB buffer`)
    } else if (!(limit > 0 && limit >= request)) {
      // The ADOT memory limiter works from the limit; any collector without one can starve the node.
      problems.push(`${where}: memory limit ${limit}Mi, below its request ${request}Mi or none`)
    }
  }
  return problems
}

const envOf = (container: IContainer | undefined, name: string) => container?.env?.find((v) => v.name === name)

function appPodProblems(objects: readonly K8sObject[], e: ExpectedDeployment): string[] {
  const problems: string[] = []
  const deployments = workloads(objects).filter((w) => w.object.kind === 'Deployment')
  const hpaTargets = new Set(
    objects
      .filter((o) => o.kind === 'HorizontalPodAutoscaler')
      .map((o) => (o['spec'] as { scaleTargetRef: { name: string } }).scaleTargetRef.name),
  )
  const names = deployments.map((w) => w.object.metadata.name).sort()
  if (!Bun.deepEquals(names, Object.keys(e.replicas).sort())) problems.push(`Deployments ${names}`)
  const accounts = new Map<string, string | undefined>()
  for (const w of deployments) {
    const where = nameOf(w.object)
    const pod = w.template.spec
    const name = w.object.metadata.name
    const wanted = e.replicas[name]
    const replicas = (w.object['spec'] as { replicas?: number }).replicas
    if (wanted === 'hpa') {
      if (!hpaTargets.has(name)) problems.push(`${where}: no HPA`)
      if (replicas !== undefined) problems.push(`${where}: sets spec.replicas beside its HPA (apply would reset it)`)
    } else if (replicas !== wanted || hpaTargets.has(name)) {
      problems.push(`${where}: ${replicas} replicas${hpaTargets.has(name) ? ' and an HPA' : ''}, not ${wanted}`)
    }
    if (
      (wanted === 'hpa' || (wanted ?? 0) > 1) &&
      !pod.topologySpreadConstraints?.some((c) => c.topologyKey === 'topology.kubernetes.io/zone')
    ) {
      problems.push(`${where}: more than one replica, not spread across zones`)
    }
    if (pod.automountServiceAccountToken !== false) problems.push(`${where}: mounts an API token`)
    accounts.set(name.includes('notification') ? 'notification' : 'usermgmt', pod.serviceAccountName)
    if (e.collectorNamespace !== undefined && pod.serviceAccountName === e.collector.name) {
      problems.push(`${where}: runs as the collector's service account`)
    }
    const collectorHost = e.collectorNamespace === undefined ? '127.0.0.1' : `xray-service.${e.collectorNamespace}`
    const daemonAddress = `${collectorHost}:2000`
    const otlp = e.exporter !== 'xray'
    const wantedEnv: Record<string, string | undefined> = {
      OTEL_TRACES_EXPORTER: e.exporter,
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: otlp ? `http://${collectorHost}:4318/v1/traces` : undefined,
      OTEL_EXPORTER_OTLP_PROTOCOL: otlp ? 'http/protobuf' : undefined,
      OTEL_RESOURCE_ATTRIBUTES: otlp ? `k8s.namespace.name=${e.namespace},k8s.deployment.name=${name}` : undefined,
    }
    for (const c of pod.containers) {
      const at = `${where} container ${c.name}`
      const preStop = c.lifecycle?.preStop
      const sleep = preStop?.sleep?.seconds ?? 0
      if (sleep < 1 || preStop?.exec !== undefined) problems.push(`${at}: no preStop sleep action`)
      if ((pod.terminationGracePeriodSeconds ?? 30) <= sleep + appStopSeconds) {
        problems.push(`${at}: grace period ${pod.terminationGracePeriodSeconds} s is not longer than preStop and drain`)
      }
      if (envOf(c, 'AWS_XRAY_DAEMON_ADDRESS')?.value !== daemonAddress) {
        problems.push(
          `${at}: AWS_XRAY_DAEMON_ADDRESS is ${envOf(c, 'AWS_XRAY_DAEMON_ADDRESS')?.value}, not ${daemonAddress}`,
        )
      }
      for (const [variable, value] of Object.entries(wantedEnv)) {
        if (envOf(c, variable)?.value !== value)
          problems.push(`${at}: ${variable} is ${envOf(c, variable)?.value}, not ${value}`)
      }
      const token = envOf(c, 'NOTIFICATION_AUTH_TOKEN')?.valueFrom?.secretKeyRef
      if (token?.name !== e.tokenSecret || token.key !== 'token') {
        problems.push(`${at}: NOTIFICATION_AUTH_TOKEN does not come from Secret ${e.tokenSecret} key token`)
      }
    }
  }
  if (e.collectorNamespace !== undefined && accounts.get('usermgmt') === accounts.get('notification')) {
    problems.push('usermgmt and notification share a service account')
  }
  return problems
}

function roleProblems(objects: readonly K8sObject[], e: ExpectedDeployment): string[] {
  const problems: string[] = []
  const deployments = workloads(objects).filter((w) => w.object.kind === 'Deployment')
  const user = deployments
    .find((w) => w.object.metadata.name === 'usermgmt-microservice')
    ?.template.spec.containers.find((c) => c.name === 'usermgmt-restapp')
  const probe = user?.readinessProbe
  if (probe?.httpGet?.path !== '/usermgmt/health/readiness')
    problems.push('usermgmt: readiness is not /usermgmt/health/readiness')
  if ((probe?.failureThreshold ?? 3) * (probe?.periodSeconds ?? 10) < 20) {
    problems.push('usermgmt: readiness fails within 20 s of a database blip')
  }
  for (const [kind, check] of [
    ['liveness', user?.livenessProbe],
    ['startup', user?.startupProbe],
  ] as const) {
    if (check?.httpGet?.path !== '/usermgmt/health/status')
      problems.push(`usermgmt: ${kind} is not /usermgmt/health/status`)
  }
  const value = (name: string) => envOf(user, name)?.value
  if (value('DB_SSL_MODE') !== e.dbSslMode)
    problems.push(`usermgmt: DB_SSL_MODE ${value('DB_SSL_MODE')}, not ${e.dbSslMode}`)
  const host = e.dbSslMode === 'VERIFY_IDENTITY' ? e.dbHost : 'mysql'
  if (value('DB_HOSTNAME') !== host) problems.push(`usermgmt: DB_HOSTNAME ${value('DB_HOSTNAME')}, not ${host}`)
  const ca = e.dbSslMode.startsWith('VERIFY_') ? 'rds' : undefined
  if (value('DB_SSL_CA') !== ca) problems.push(`usermgmt: DB_SSL_CA ${value('DB_SSL_CA')}, not ${ca}`)
  const mysql = objects.find((o) => o.kind === 'Service' && o.metadata.name === 'mysql') as
    | (K8sObject & IService)
    | undefined
  if (mysql?.spec?.externalName !== e.dbHost) problems.push(`mysql: points at ${mysql?.spec?.externalName}`)
  const auth = e.auth
  const wantedAuth: Record<string, string | undefined> =
    auth.mode === 'jwt'
      ? {
          AUTH_MODE: 'jwt',
          AUTH_JWT_ISSUER: auth.issuer,
          AUTH_JWT_AUDIENCE: auth.audience,
          AUTH_JWKS_URL: auth.jwksUrl,
        }
      : { AUTH_MODE: 'none', AUTH_JWT_ISSUER: undefined, AUTH_JWT_AUDIENCE: undefined, AUTH_JWKS_URL: undefined }
  for (const [name, wanted] of Object.entries(wantedAuth)) {
    if (value(name) !== wanted) problems.push(`usermgmt: ${name} is ${value(name)}, not ${wanted}`)
  }
  const smtp = objects.find((o) => o.kind === 'Service' && o.metadata.name === 'smtp-service') as
    | (K8sObject & IService)
    | undefined
  if (smtp?.spec?.externalName !== e.smtpHost)
    problems.push(`smtp-service: points at ${smtp?.spec?.externalName}, not ${e.smtpHost}`)
  for (const w of deployments.filter((d) => d.object.metadata.name.includes('notification'))) {
    const name = envOf(w.template.spec.containers[0], 'AWS_MAIL_SERVER_TLS_SERVERNAME')?.value
    if (name !== e.smtpHost) problems.push(`${nameOf(w.object)}: checks the SMTP certificate for ${name}`)
  }
  return problems
}

function exposureProblems(objects: readonly K8sObject[], e: ExpectedDeployment): string[] {
  const problems: string[] = []
  const ingresses = objects.filter((o): o is K8sObject & IIngress => o.kind === 'Ingress')
  if (ingresses.length !== 1) problems.push(`${ingresses.length} Ingresses`)
  for (const ingress of ingresses) {
    const type = ingress.metadata.annotations?.['alb.ingress.kubernetes.io/target-type']
    if (type !== 'ip') problems.push(`${nameOf(ingress)}: target-type ${type}, not ip`)
    if (ingress.spec?.ingressClassName !== 'alb') problems.push(`${nameOf(ingress)}: not for the ALB controller`)
    for (const path of (ingress.spec?.rules ?? []).flatMap((r) => r.http?.paths ?? [])) {
      const to = path.backend.service?.name
      if (!path.path?.startsWith('/usermgmt') || to !== 'usermgmt-restapp-nodeport-service') {
        problems.push(`${nameOf(ingress)}: routes ${path.path} to ${to}; only /usermgmt to usermgmt may be public`)
      }
    }
  }
  const labelled = (name: string | undefined) =>
    objects.find((o) => o.kind === 'Namespace' && o.metadata.name === name)?.metadata.labels?.[
      'pod-security.kubernetes.io/enforce'
    ]
  if (labelled(e.namespace) !== 'restricted') problems.push(`namespace ${e.namespace}: does not enforce restricted`)
  if (e.collectorNamespace !== undefined && labelled(e.collectorNamespace) !== 'restricted') {
    problems.push(`namespace ${e.collectorNamespace}: does not enforce restricted`)
  }
  const account = find(objects, 'ServiceAccount', e.collectorNamespace ?? e.namespace, e.collector.name)
  const arn = account?.metadata.annotations?.['eks.amazonaws.com/role-arn']
  if (account === undefined || arn !== e.roleArn)
    problems.push(`${e.collector.name} service account: role ${arn}, not ${e.roleArn}`)
  const record = find(objects, 'ConfigMap', e.namespace, deploymentRecordName)?.['data'] as
    | Record<string, string>
    | undefined
  const json = record?.['deployment.json']
  if (json === undefined || !Bun.deepEquals(JSON.parse(json), e.record)) problems.push(`deployment record ${json}`)
  return problems
}

/** The host:port a Service port on `host` leads to in the collector pods behind it, if any. */
function serviceTarget(objects: readonly K8sObject[], host: string, port: number) {
  const [serviceName = '', namespace = ''] = host.split('.')
  const service = find(objects, 'Service', namespace, serviceName) as (K8sObject & IService) | undefined
  const servicePort = service?.spec?.ports?.find((p) => p.port === port && (p.protocol ?? 'TCP') === 'TCP')
  const target = servicePort?.targetPort ?? servicePort?.port
  return service && typeof target === 'number'
    ? { namespace, selector: service.spec?.selector ?? {}, target }
    : undefined
}

/**
 * Whether what each role sends OTLP to is a collector listening for OTLP over HTTP there: its own sidecar on
 * loopback, or, through the Service, the collector pods behind it. A collector without an OTLP receiver (the X-Ray
 * daemon) answers nothing on 4318, and the roles' spans would be lost.
 */
function tracesRouteProblems(objects: readonly K8sObject[], e: ExpectedDeployment): string[] {
  const problems: string[] = []
  const { found } = runningCollectors(objects, e)
  for (const w of workloads(objects).filter((x) => x.object.kind === 'Deployment')) {
    for (const c of w.template.spec.containers) {
      const endpoint = envOf(c, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT')?.value
      if (endpoint === undefined) continue
      const at = `${nameOf(w.object)} container ${c.name}`
      const url = URL.parse(endpoint)
      if (url === null || url.protocol !== 'http:' || url.pathname !== '/v1/traces') {
        problems.push(`${at}: OTLP endpoint ${endpoint} is not http://host:port/v1/traces`)
        continue
      }
      const port = Number(url.port || 80)
      const listening = (r: RunningCollector, host: string, p: number) => r.listeners?.otlpHttp === `${host}:${p}`
      const reached =
        url.hostname === '127.0.0.1'
          ? found.some((r) => r.w.object === w.object && listening(r, '127.0.0.1', port))
          : (() => {
              const route = serviceTarget(objects, url.hostname, port)
              return (
                route !== undefined &&
                found.some(
                  (r) =>
                    r.w.namespace === route.namespace &&
                    Object.entries(route.selector).every(([k, v]) => r.w.template.metadata?.labels?.[k] === v) &&
                    listening(r, '0.0.0.0', route.target),
                )
              )
            })()
      if (!reached) problems.push(`${at}: sends OTLP to ${endpoint}, where no collector receives OTLP over HTTP`)
    }
  }
  return problems
}

/** The rules of an EKS deployment that works, against what the options asked for. */
export function deploymentRuleProblems(objects: readonly K8sObject[], e: ExpectedDeployment): string[] {
  return [
    ...exposureProblems(objects, e),
    ...collectorProblems(objects, e),
    ...tracesRouteProblems(objects, e),
    ...appPodProblems(objects, e),
    ...roleProblems(objects, e),
  ]
}

/** Each httpGet probe of each app container, for asking the real binary. */
export function httpProbes(objects: readonly K8sObject[]) {
  return workloads(objects)
    .filter((w) => w.object.kind === 'Deployment')
    .flatMap((w) =>
      w.template.spec.containers.flatMap((c) =>
        [c.startupProbe, c.readinessProbe, c.livenessProbe].flatMap((p) =>
          p?.httpGet
            ? [{ workload: w.object.metadata.name, container: c, path: p.httpGet.path ?? '/', port: p.httpGet.port }]
            : [],
        ),
      ),
    )
}
