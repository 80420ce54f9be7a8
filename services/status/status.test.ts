// ./app status from the compiled binary against a local HTTPS Kubernetes API with its own CA, named in a
// kubeconfig. The fake API serves what a real one would for each mode of `./app manifests`: GET by name, and
// lists filtered by label and field selectors.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseAllDocuments } from 'yaml'
import { runApp, spawnApp, testCertificate, waitUntil } from '../testing'

type Json = Record<string, unknown>
interface KubeObject extends Json {
  readonly apiVersion: string
  readonly kind: string
  readonly metadata: { readonly name: string; readonly namespace: string; readonly labels?: Record<string, string> }
}

const plurals: Record<string, string> = {
  ConfigMap: 'configmaps',
  ServiceAccount: 'serviceaccounts',
  Service: 'services',
  Pod: 'pods',
  Event: 'events',
  Deployment: 'deployments',
  DaemonSet: 'daemonsets',
  HorizontalPodAutoscaler: 'horizontalpodautoscalers',
  EndpointSlice: 'endpointslices',
  Ingress: 'ingresses',
}

const image = '180789647333.dkr.ecr.us-east-1.amazonaws.com/xray-eks-app:0.1.0'
const roleArn = 'arn:aws:iam::180789647333:role/eksdemo1-xray-daemon'
const albHost = 'k8s-default-eksmicro-1234567890.us-east-1.elb.amazonaws.com'
const t0 = '2026-12-01T10:00:00Z'

type CollectorKind = 'xray-daemon' | 'cloudwatch-agent' | 'adot'

/** What docs/status.md says each collector's objects are called: the DaemonSet, its container and its account. */
const collectorName: Record<CollectorKind, string> = {
  'xray-daemon': 'xray-daemon',
  'cloudwatch-agent': 'cloudwatch-agent',
  adot: 'adot-collector',
}

interface Mode {
  /** @default xray-daemon */
  readonly collector?: CollectorKind
  /** The collector's objects by another name than collectorName gives (for the names ./app manifests uses). */
  readonly names?: {
    readonly workload: string
    readonly serviceAccount: string
    readonly sidecar: string
    readonly service: string
  }
  readonly fargate?: boolean
  readonly podIdentity?: boolean
  readonly canary?: boolean
  readonly autoscaling?: boolean
  /** Keep the deployment record. @default true */
  readonly record?: boolean
}

function object(apiVersion: string, kind: string, namespace: string, name: string, rest: Json): KubeObject {
  const { metadata, ...others } = rest as { metadata?: Json }
  return { apiVersion, kind, metadata: { name, namespace, ...metadata }, ...others }
}

function runningContainer(name: string): Json {
  return { name, ready: true, started: true, restartCount: 0, state: { running: { startedAt: t0 } }, lastState: {} }
}

/** What `./app manifests` deploys in each mode, healthy, as the API server reports it once settled. */
function healthyCluster(mode: Mode = {}): KubeObject[] {
  const ns = 'default'
  const cns = 'xray-system'
  const collector = mode.collector ?? 'xray-daemon'
  const names = mode.names ?? {
    workload: collectorName[collector],
    serviceAccount: collectorName[collector],
    sidecar: collectorName[collector],
    service: 'xray-service',
  }
  const objects: KubeObject[] = []
  if (mode.record ?? true) {
    const record = {
      version: 1,
      image,
      namespace: ns,
      collector,
      collectorNamespace: mode.fargate ? null : cns,
      fargate: mode.fargate ?? false,
      podIdentity: mode.podIdentity ?? false,
      canary: mode.canary ?? false,
      autoscaling: mode.autoscaling ?? false,
      auth: 'none',
    }
    objects.push(object('v1', 'ConfigMap', ns, 'xray-eks-app', { data: { 'deployment.json': JSON.stringify(record) } }))
  }
  const daemonNamespace = mode.fargate ? ns : cns
  objects.push(
    object('v1', 'ServiceAccount', daemonNamespace, names.serviceAccount, {
      metadata: mode.podIdentity ? {} : { annotations: { 'eks.amazonaws.com/role-arn': roleArn } },
    }),
  )
  if (!mode.fargate) {
    const labels = { app: names.workload }
    objects.push(
      object('apps/v1', 'DaemonSet', cns, names.workload, {
        metadata: { generation: 2 },
        spec: { selector: { matchLabels: labels } },
        status: {
          observedGeneration: 2,
          desiredNumberScheduled: 3,
          currentNumberScheduled: 3,
          numberReady: 3,
          updatedNumberScheduled: 3,
          numberAvailable: 3,
        },
      }),
      object('v1', 'Service', cns, names.service, { spec: { type: 'ClusterIP' } }),
    )
    const ips: string[] = []
    for (const suffix of ['4kx2p', '9mz7q', 'b2c8r']) {
      objects.push(
        object('v1', 'Pod', cns, `${names.workload}-${suffix}`, {
          metadata: { labels, uid: `uid-xray-${suffix}` },
          spec: { containers: [{ name: names.workload, resources: { limits: { memory: '64Mi' } } }] },
          status: { phase: 'Running', containerStatuses: [runningContainer(names.workload)] },
        }),
      )
      ips.push(`192.168.${ips.length + 1}.10`)
    }
    objects.push(endpointSlice(cns, names.service, ips))
  }

  const workloads = [
    { name: 'usermgmt-microservice', labels: { app: 'usermgmt-restapp' }, container: 'usermgmt-restapp', replicas: 2 },
    {
      name: 'v1-notification-microservice',
      labels: { app: 'notification-restapp', track: 'stable' },
      container: 'notification-service',
      replicas: 1,
    },
    ...(mode.canary
      ? [
          {
            name: 'v2-notification-microservice',
            labels: { app: 'notification-restapp', track: 'canary' },
            container: 'notification-service',
            replicas: 1,
          },
        ]
      : []),
  ]
  for (const w of workloads) {
    objects.push(
      object('apps/v1', 'Deployment', ns, w.name, {
        metadata: { generation: 4, labels: w.labels },
        spec: { replicas: w.replicas, selector: { matchLabels: w.labels } },
        status: {
          observedGeneration: 4,
          replicas: w.replicas,
          updatedReplicas: w.replicas,
          readyReplicas: w.replicas,
          availableReplicas: w.replicas,
          conditions: [
            { type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable' },
            { type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable' },
          ],
        },
      }),
    )
    if (mode.autoscaling)
      objects.push(
        object('autoscaling/v2', 'HorizontalPodAutoscaler', ns, w.name, {
          spec: {
            scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: w.name },
            minReplicas: w.replicas,
            maxReplicas: 6,
          },
          status: {
            currentReplicas: w.replicas,
            desiredReplicas: w.replicas,
            conditions: [
              { type: 'AbleToScale', status: 'True', reason: 'ReadyForNewScale' },
              { type: 'ScalingActive', status: 'True', reason: 'ValidMetricFound' },
              { type: 'ScalingLimited', status: 'False', reason: 'DesiredWithinRange' },
            ],
          },
        }),
      )
    for (let i = 0; i < w.replicas; i++) {
      const sidecar = { name: names.sidecar, restartPolicy: 'Always', resources: { limits: { memory: '64Mi' } } }
      objects.push(
        object('v1', 'Pod', ns, `${w.name}-7d9f8c6b5-${'abcdef'[i]}x${i}`, {
          metadata: { labels: { ...w.labels, 'pod-template-hash': '7d9f8c6b5' } },
          spec: {
            ...(mode.fargate ? { initContainers: [sidecar] } : {}),
            containers: [{ name: w.container, resources: { limits: { memory: '128Mi' } } }],
          },
          status: {
            phase: 'Running',
            conditions: [{ type: 'PodScheduled', status: 'True' }],
            ...(mode.fargate ? { initContainerStatuses: [runningContainer(names.sidecar)] } : {}),
            containerStatuses: [runningContainer(w.container)],
          },
        }),
      )
    }
  }
  objects.push(
    object('v1', 'Service', ns, 'usermgmt-restapp-nodeport-service', { spec: { type: 'ClusterIP' } }),
    endpointSlice(ns, 'usermgmt-restapp-nodeport-service', ['192.168.1.21', '192.168.2.22']),
    object('v1', 'Service', ns, 'notification-clusterip-service', { spec: { type: 'ClusterIP' } }),
    endpointSlice(
      ns,
      'notification-clusterip-service',
      mode.canary ? ['192.168.1.31', '192.168.3.32'] : ['192.168.1.31'],
    ),
    object('networking.k8s.io/v1', 'Ingress', ns, 'eks-microservices-demo', {
      status: { loadBalancer: { ingress: [{ hostname: albHost }] } },
    }),
    ingressEvent(
      'successfully-reconciled',
      'Normal',
      'SuccessfullyReconciled',
      'Successfully reconciled',
      '2026-12-01T10:05:00Z',
    ),
  )
  return objects
}

function endpointSlice(namespace: string, service: string, ips: string[], ready = ips.map(() => true)): KubeObject {
  return object('discovery.k8s.io/v1', 'EndpointSlice', namespace, `${service}-x7k2q`, {
    metadata: { labels: { 'kubernetes.io/service-name': service } },
    addressType: 'IPv4',
    endpoints: ips.map((ip, i) => ({
      addresses: [ip],
      conditions: { ready: ready[i], serving: ready[i], terminating: false },
      targetRef: { kind: 'Pod', name: `pod-${ip}`, uid: `uid-${ip}` },
    })),
  })
}

function ingressEvent(id: string, type: string, reason: string, message: string, last: string, count = 1): KubeObject {
  return object('v1', 'Event', 'default', `eks-microservices-demo.${id}`, {
    involvedObject: {
      kind: 'Ingress',
      namespace: 'default',
      name: 'eks-microservices-demo',
      apiVersion: 'networking.k8s.io/v1',
    },
    type,
    reason,
    message,
    count,
    firstTimestamp: t0,
    lastTimestamp: last,
    source: { component: 'ingress' },
  })
}

/** The cluster with one object changed (merged one level deep into its top-level fields) or removed. */
function changed(objects: KubeObject[], kind: string, name: string, change: Json | undefined): KubeObject[] {
  const index = objects.findIndex((o) => o.kind === kind && o.metadata.name === name)
  if (index < 0) throw new Error(`no ${kind} ${name} in the fixture`)
  const copy = [...objects]
  const current = objects[index] as KubeObject
  if (change === undefined) copy.splice(index, 1)
  else {
    const merged: Json = { ...current }
    for (const [key, value] of Object.entries(change)) {
      const before = current[key]
      merged[key] =
        value && typeof value === 'object' && !Array.isArray(value) && before && typeof before === 'object'
          ? { ...before, ...value }
          : value
    }
    copy[index] = merged as KubeObject
  }
  return copy
}

function podOf(objects: KubeObject[], prefix: string): KubeObject {
  const found = objects.find((o) => o.kind === 'Pod' && o.metadata.name.startsWith(prefix))
  if (!found) throw new Error(`no pod ${prefix}`)
  return found
}

function field(value: unknown, path: string): unknown {
  let current = value
  for (const key of path.split('.'))
    current = current && typeof current === 'object' ? (current as Json)[key] : undefined
  return current
}

const selectorPairs = (selector: string | null) =>
  (selector ?? '')
    .split(',')
    .filter((pair) => pair !== '')
    .map((pair) => pair.split('=') as [string, string])

let cluster: KubeObject[] = []
let denied = new Set<string>()
let requests = 0
let tokens = new Set<string | null>()
let server: ReturnType<typeof Bun.serve>
let dir = ''
let kubeconfig = ''

function writeKubeconfig(name: string, server: string, token = 'test-token'): string {
  const file = join(dir, name)
  writeFileSync(
    file,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: eksdemo1',
      '  cluster:',
      `    server: ${server}`,
      `    certificate-authority-data: ${Buffer.from(testCertificate().cert).toString('base64')}`,
      'users:',
      '- name: admin',
      '  user:',
      `    token: ${token}`,
      'contexts:',
      '- name: eksdemo1',
      '  context: { cluster: eksdemo1, user: admin }',
      'current-context: eksdemo1',
      '',
    ].join('\n'),
  )
  return file
}

beforeAll(() => {
  const { key, cert } = testCertificate()
  server = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    tls: { key, cert },
    fetch(request) {
      requests++
      const authorization = request.headers.get('authorization')
      tokens.add(authorization)
      const status = (code: number, message: string) =>
        Response.json({ kind: 'Status', code, message }, { status: code })
      if (authorization !== 'Bearer test-token') return status(401, 'Unauthorized')
      const url = new URL(request.url)
      const match = /^\/(api\/v1|apis\/[^/]+\/[^/]+)\/namespaces\/([^/]+)\/([^/]+)(?:\/([^/]+))?$/.exec(url.pathname)
      if (!match) return status(404, 'the server could not find the requested resource')
      const [, root = '', namespace = '', resource = '', name] = match
      const apiVersion = root.replace(/^apis?\//, '')
      if (denied.has(resource))
        return status(
          403,
          `${resource} is forbidden: User "dev" cannot ${name ? 'get' : 'list'} resource "${resource}" in the namespace "${namespace}"`,
        )
      const inCollection = cluster.filter(
        (o) => o.apiVersion === apiVersion && plurals[o.kind] === resource && o.metadata.namespace === namespace,
      )
      if (name !== undefined) {
        const found = inCollection.find((o) => o.metadata.name === name)
        return found ? Response.json(found) : status(404, `${resource} "${name}" not found`)
      }
      const labels = selectorPairs(url.searchParams.get('labelSelector'))
      const fields = selectorPairs(url.searchParams.get('fieldSelector'))
      const items = inCollection.filter(
        (o) =>
          labels.every(([k, v]) => o.metadata.labels?.[k] === v) && fields.every(([path, v]) => field(o, path) === v),
      )
      return Response.json({ kind: 'List', apiVersion, metadata: { resourceVersion: '1' }, items })
    },
  })
  dir = mkdtempSync(join(tmpdir(), 'kube-'))
  kubeconfig = writeKubeconfig('config', `https://localhost:${server.port}`)
})
afterAll(() => server.stop(true))

/** The fake API lives in this process, so the binary must run without blocking the event loop (no spawnSync). */
async function status(objects: KubeObject[], args: string[] = []) {
  cluster = objects
  const app = spawnApp(['status', '--kubeconfig', kubeconfig, ...args])
  const code = await app.exited
  return { code, lines: app.stdout().trim().split('\n'), stderr: app.stderr() }
}

const failures = (lines: string[]) => lines.filter((l) => l.startsWith('FAIL'))

const appLines = (canary = false) => [
  'ok    deployment default/usermgmt-microservice: 2/2 available, 2/2 updated',
  'ok    pods default/usermgmt-microservice: 2 pods, no restarts',
  'ok    deployment default/v1-notification-microservice: 1/1 available, 1/1 updated',
  'ok    pods default/v1-notification-microservice: 1 pod, no restarts',
  ...(canary
    ? [
        'ok    deployment default/v2-notification-microservice: 1/1 available, 1/1 updated',
        'ok    pods default/v2-notification-microservice: 1 pod, no restarts',
      ]
    : []),
  'ok    service default/usermgmt-restapp-nodeport-service: 2 ready endpoints',
  `ok    service default/notification-clusterip-service: ${canary ? '2 ready endpoints' : '1 ready endpoint'}`,
  `ok    ingress default/eks-microservices-demo: address ${albHost}`,
]

const daemonLines = [
  'ok    daemonset xray-system/xray-daemon: 3/3 ready, 3/3 updated',
  'ok    pods xray-system/xray-daemon: 3 pods, no restarts',
  `ok    serviceaccount xray-system/xray-daemon: role ${roleArn}`,
  'ok    service xray-system/xray-service: 3 ready endpoints',
]

describe('./app status on a healthy deployment', () => {
  test('checks the X-Ray daemon, both tracks, the Services and the Ingress, and exits 0, over TLS with the kubeconfig CA and token', async () => {
    tokens = new Set()
    const result = await status(healthyCluster())
    expect(result.lines).toEqual([
      `ok    deployment record: xray-daemon in xray-system, IRSA; image ${image}`,
      ...daemonLines,
      ...appLines(),
    ])
    expect(result.code).toBe(0)
    expect([...tokens]).toEqual(['Bearer test-token'])
  })

  test('on Fargate checks the daemon sidecar in every app pod and its service account in the app namespace', async () => {
    const result = await status(healthyCluster({ fargate: true }))
    expect(result.lines).toEqual([
      `ok    deployment record: Fargate with xray-daemon sidecars, IRSA; image ${image}`,
      `ok    serviceaccount default/xray-daemon: role ${roleArn}`,
      'ok    sidecar xray-daemon: running in 3/3 app pods',
      ...appLines(),
    ])
    expect(result.code).toBe(0)
  })

  test('with canary and autoscaling checks the V2 track and each Deployment autoscaler', async () => {
    const result = await status(healthyCluster({ canary: true, autoscaling: true }))
    const [usermgmt, usermgmtPods, v1, v1Pods, v2, v2Pods, ...rest] = appLines(true)
    expect(result.lines).toEqual([
      `ok    deployment record: xray-daemon in xray-system, IRSA, canary, autoscaling; image ${image}`,
      ...daemonLines,
      usermgmt,
      'ok    hpa default/usermgmt-microservice: 2 replicas, wants 2 (min 2, max 6)',
      usermgmtPods,
      v1,
      'ok    hpa default/v1-notification-microservice: 1 replicas, wants 1 (min 1, max 6)',
      v1Pods,
      v2,
      'ok    hpa default/v2-notification-microservice: 1 replicas, wants 1 (min 1, max 6)',
      v2Pods,
      ...rest,
    ] as string[])
    expect(result.code).toBe(0)
  })

  test('with EKS Pod Identity expects no role annotation on the service account', async () => {
    const result = await status(healthyCluster({ podIdentity: true }))
    expect(result.lines).toContain(
      'ok    serviceaccount xray-system/xray-daemon: present (EKS Pod Identity: its role is an association, not an annotation)',
    )
    expect(failures(result.lines)).toEqual([])
    expect(result.code).toBe(0)
  })

  test('without a deployment record says so in one line and checks the defaults', async () => {
    const defaults = await status(healthyCluster({ record: false }))
    expect(defaults.lines).toEqual([
      'WARN  deployment record: no configmap xray-eks-app in namespace default; checking xray-daemon in xray-system, IRSA (the defaults)',
      ...daemonLines,
      ...appLines(),
    ])
    expect(defaults.code).toBe(0)
  })

  test('without a deployment record checks what the flags say', async () => {
    const fargate = await status(healthyCluster({ fargate: true, record: false }), ['--fargate'])
    expect(fargate.lines[0]).toBe(
      'WARN  deployment record: no configmap xray-eks-app in namespace default; checking Fargate with xray-daemon sidecars, IRSA (the defaults and flags)',
    )
    expect(failures(fargate.lines)).toEqual([])
    expect(fargate.code).toBe(0)
  })

  test('an old restart that completed is a warning, not a failure', async () => {
    const objects = healthyCluster()
    const pod = podOf(objects, 'usermgmt-microservice-')
    const result = await status(
      changed(objects, 'Pod', pod.metadata.name, {
        status: {
          phase: 'Running',
          containerStatuses: [
            {
              ...runningContainer('usermgmt-restapp'),
              restartCount: 1,
              lastState: { terminated: { reason: 'Completed', exitCode: 0, finishedAt: '2026-12-01T09:00:00Z' } },
            },
          ],
        },
      }),
    )
    expect(result.lines).toContain(
      `WARN  pod default/${pod.metadata.name}: container usermgmt-restapp, restarted 1 time, last Completed (exit code 0) at 2026-12-01T09:00:00Z`,
    )
    expect(failures(result.lines)).toEqual([])
    expect(result.code).toBe(0)
  })
})

const collectorLines = (kind: CollectorKind) => [
  `ok    daemonset xray-system/${collectorName[kind]}: 3/3 ready, 3/3 updated`,
  `ok    pods xray-system/${collectorName[kind]}: 3 pods, no restarts`,
  `ok    serviceaccount xray-system/${collectorName[kind]}: role ${roleArn}`,
  'ok    service xray-system/xray-service: 3 ready endpoints',
]

/** Just the objects `./app manifests` makes, as the compiled binary prints them for these flags. */
function manifestObjects(args: readonly string[]): KubeObject[] {
  const result = runApp(
    [
      'manifests',
      ...['--image', image, '--auth', 'none', '--xray-role-arn', roleArn],
      ...['--certificate-arn', 'arn:aws:acm:us-east-1:180789647333:certificate/9f042b5d-86fd-4fad-96d0-c81c5abc71e1'],
      ...['--host', 'xraydemo.kubeoncloud.com', '--from-address', 'mail@kubeoncloud.com'],
      ...['--db-host', 'usermgmtdb.cxojydmxwly6.us-east-1.rds.amazonaws.com', ...args],
    ],
    {
      DB_PASSWORD: 'dbpassword11',
      AWS_MAIL_SERVER_USERNAME: 'AKIASESUSER',
      AWS_MAIL_SERVER_PASSWORD: 'ses-smtp-password',
      NOTIFICATION_AUTH_TOKEN: 'c2f1e0d9b8a7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1',
    },
  )
  if (result.code !== 0) throw new Error(result.stderr)
  // The binary's own output, checked against the Kubernetes schemas by the manifests tests.
  return parseAllDocuments(result.stdout).map((doc) => doc.toJS() as KubeObject)
}

describe('./app status checks whichever collector the deployment record names', () => {
  test.each(['cloudwatch-agent', 'adot'] as const)(
    'checks the %s DaemonSet, its pods, its role and xray-service, and exits 0',
    async (collector) => {
      const result = await status(healthyCluster({ collector }))
      expect(result.lines).toEqual([
        `ok    deployment record: ${collector} in xray-system, IRSA; image ${image}`,
        ...collectorLines(collector),
        ...appLines(),
      ])
      expect(result.code).toBe(0)
    },
  )

  test.each(['cloudwatch-agent', 'adot'] as const)(
    'on Fargate checks the %s sidecar in every app pod and its role in the app namespace',
    async (collector) => {
      const result = await status(healthyCluster({ collector, fargate: true }))
      expect(result.lines).toEqual([
        `ok    deployment record: Fargate with ${collector} sidecars, IRSA; image ${image}`,
        `ok    serviceaccount default/${collectorName[collector]}: role ${roleArn}`,
        `ok    sidecar ${collectorName[collector]}: running in 3/3 app pods`,
        ...appLines(),
      ])
      expect(result.code).toBe(0)
    },
  )

  test.each([
    ['cloudwatch-agent', false, ['--collector', 'cloudwatch-agent']],
    ['cloudwatch-agent', true, ['--collector', 'cloudwatch-agent', '--fargate']],
    ['adot', false, ['--collector', 'adot', '--exporter', 'xray,otlp']],
    ['adot', true, ['--collector', 'adot', '--exporter', 'otlp', '--fargate']],
    ['xray-daemon', false, []],
    ['xray-daemon', true, ['--fargate']],
  ] as const)(
    'finds the %s objects exactly as ./app manifests names them (Fargate: %p)',
    async (collector, fargate, args) => {
      const made = manifestObjects(args)
      const named = (kind: string) => made.filter((o) => o.kind === kind).map((o) => o.metadata.name)
      const template = (kind: string) =>
        made.find((o) => o.kind === kind)?.['spec'] as
          | {
              template: {
                spec: {
                  serviceAccountName: string
                  containers: { name: string }[]
                  initContainers?: { name: string }[]
                }
              }
            }
          | undefined
      const pod = template(fargate ? 'Deployment' : 'DaemonSet')?.template.spec
      const names = {
        workload: named('DaemonSet')[0] ?? '',
        serviceAccount: pod?.serviceAccountName ?? '',
        sidecar: pod?.initContainers?.[0]?.name ?? '',
        service: named('Service').find((name) => name.startsWith('xray')) ?? '',
      }
      const record = made.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'xray-eks-app')
      if (record === undefined) throw new Error('no deployment record in the manifests')
      const result = await status([...healthyCluster({ collector, fargate, names, record: false }), record])
      expect(result.lines.filter((line) => !line.startsWith('ok'))).toEqual([])
      expect(result.lines[0]).toContain(
        `deployment record: ${fargate ? `Fargate with ${collector} sidecars` : collector}`,
      )
      expect(result.code).toBe(0)
    },
  )

  test('a record naming the ADOT collector fails while its DaemonSet is missing (only the X-Ray daemon runs)', async () => {
    const midway = changed(healthyCluster({ collector: 'adot' }), 'DaemonSet', 'adot-collector', undefined)
    const result = await status([...midway, ...healthyCluster().filter((o) => o.kind === 'DaemonSet')])
    expect(failures(result.lines)).toEqual(['FAIL  daemonset xray-system/adot-collector: not found'])
    expect(result.code).toBe(1)
  })

  test("the CloudWatch agent's account without a role fails: the agent has no credentials", async () => {
    const result = await status(
      changed(healthyCluster({ collector: 'cloudwatch-agent' }), 'ServiceAccount', 'cloudwatch-agent', {
        metadata: { name: 'cloudwatch-agent', namespace: 'xray-system', annotations: {} },
      }),
    )
    expect(failures(result.lines)).toEqual([
      'FAIL  serviceaccount xray-system/cloudwatch-agent: no eks.amazonaws.com/role-arn annotation (IRSA): the collector has no AWS credentials',
    ])
  })

  test('xray-service without ready CloudWatch agents fails', async () => {
    const result = await status(
      changed(
        healthyCluster({ collector: 'cloudwatch-agent' }),
        'EndpointSlice',
        'xray-service-x7k2q',
        endpointSlice('xray-system', 'xray-service', ['192.168.1.10'], [false]),
      ),
    )
    expect(failures(result.lines)).toEqual(['FAIL  service xray-system/xray-service: no ready endpoints, 1 not ready'])
  })

  test('on Fargate an ADOT sidecar that keeps crashing fails the sidecar check and its pod', async () => {
    const objects = healthyCluster({ collector: 'adot', fargate: true })
    const pod = podOf(objects, 'usermgmt-microservice-')
    const result = await status(
      changed(objects, 'Pod', pod.metadata.name, {
        status: {
          phase: 'Running',
          initContainerStatuses: [
            {
              name: 'adot-collector',
              ready: false,
              restartCount: 5,
              state: { waiting: { reason: 'CrashLoopBackOff' } },
              lastState: { terminated: { reason: 'Error', exitCode: 1, finishedAt: '2026-12-01T10:23:00Z' } },
            },
          ],
          containerStatuses: [runningContainer('usermgmt-restapp')],
        },
      }),
    )
    expect(failures(result.lines)).toEqual([
      `FAIL  sidecar adot-collector: not running in 1 of 3 app pods: ${pod.metadata.name} (CrashLoopBackOff)`,
      `FAIL  pod default/${pod.metadata.name}: container adot-collector CrashLoopBackOff, restarted 5 times, last Error (exit code 1) at 2026-12-01T10:23:00Z`,
    ])
    expect(result.code).toBe(1)
  })

  test('without a record, --collector says which collector to check', async () => {
    const result = await status(healthyCluster({ collector: 'adot', record: false }), ['--collector', 'adot'])
    expect(result.lines).toEqual([
      'WARN  deployment record: no configmap xray-eks-app in namespace default; checking adot in xray-system, IRSA (the defaults and flags)',
      ...collectorLines('adot'),
      ...appLines(),
    ])
    expect(result.code).toBe(0)
  })

  test('a collector it does not know is refused with exit 2, before asking the cluster', () => {
    requests = 0
    expect(runApp(['status', '--kubeconfig', kubeconfig, '--collector', 'otelcol'])).toEqual({
      code: 2,
      stdout: '',
      stderr: 'app: --collector: must be one of xray-daemon, cloudwatch-agent, adot (got "otelcol")\n',
    })
    expect(requests).toBe(0)
  })
})

describe('./app status reports what breaks, and exits 1', () => {
  test('a stuck rollout (Progressing false, ProgressDeadlineExceeded, 1 of 2 updated) fails even with 2 of 2 available', async () => {
    const result = await status(
      changed(healthyCluster(), 'Deployment', 'usermgmt-microservice', {
        status: {
          observedGeneration: 4,
          replicas: 3,
          updatedReplicas: 1,
          readyReplicas: 2,
          availableReplicas: 2,
          unavailableReplicas: 1,
          conditions: [
            { type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable' },
            {
              type: 'Progressing',
              status: 'False',
              reason: 'ProgressDeadlineExceeded',
              message: 'ReplicaSet "usermgmt-microservice-5d8b9c7f6" has timed out progressing.',
            },
          ],
        },
      }),
    )
    expect(failures(result.lines)).toEqual([
      'FAIL  deployment default/usermgmt-microservice: rollout stuck (ProgressDeadlineExceeded: ReplicaSet "usermgmt-microservice-5d8b9c7f6" has timed out progressing.); 2/2 available, 1/2 updated',
    ])
    expect(result.code).toBe(1)
  })

  test('an OOM-killed container fails with its memory limit', async () => {
    const objects = healthyCluster()
    const pod = podOf(objects, 'xray-daemon-')
    const result = await status(
      changed(objects, 'Pod', pod.metadata.name, {
        status: {
          phase: 'Running',
          containerStatuses: [
            {
              ...runningContainer('xray-daemon'),
              restartCount: 3,
              lastState: { terminated: { reason: 'OOMKilled', exitCode: 137, finishedAt: '2026-12-01T10:20:00Z' } },
            },
          ],
        },
      }),
    )
    expect(failures(result.lines)).toEqual([
      `FAIL  pod xray-system/${pod.metadata.name}: container xray-daemon OOMKilled (memory limit 64Mi), restarted 3 times, last at 2026-12-01T10:20:00Z`,
    ])
    expect(result.code).toBe(1)
  })

  test('a container in CrashLoopBackOff fails with the reason it last stopped', async () => {
    const objects = healthyCluster({ canary: true })
    const pod = podOf(objects, 'v2-notification-microservice-')
    const result = await status(
      changed(objects, 'Pod', pod.metadata.name, {
        status: {
          phase: 'Running',
          containerStatuses: [
            {
              name: 'notification-service',
              ready: false,
              started: false,
              restartCount: 4,
              state: {
                waiting: {
                  reason: 'CrashLoopBackOff',
                  message: `back-off 1m20s restarting failed container=notification-service pod=${pod.metadata.name}`,
                },
              },
              lastState: { terminated: { reason: 'Error', exitCode: 2, finishedAt: '2026-12-01T10:21:00Z' } },
            },
          ],
        },
      }),
    )
    expect(failures(result.lines)).toEqual([
      `FAIL  pod default/${pod.metadata.name}: container notification-service CrashLoopBackOff, restarted 4 times, last Error (exit code 2) at 2026-12-01T10:21:00Z`,
    ])
    expect(result.code).toBe(1)
  })

  test('an image that cannot be pulled fails with the kubelet message', async () => {
    const objects = healthyCluster()
    const pod = podOf(objects, 'usermgmt-microservice-')
    const result = await status(
      changed(objects, 'Pod', pod.metadata.name, {
        status: {
          phase: 'Pending',
          containerStatuses: [
            {
              name: 'usermgmt-restapp',
              ready: false,
              restartCount: 0,
              state: {
                waiting: { reason: 'ImagePullBackOff', message: 'Back-off pulling image "xray-eks-app:latest"' },
              },
            },
          ],
        },
      }),
    )
    expect(failures(result.lines)).toEqual([
      `FAIL  pod default/${pod.metadata.name}: container usermgmt-restapp ImagePullBackOff: Back-off pulling image "xray-eks-app:latest"`,
    ])
  })

  test("the load balancer controller's warning fails the Ingress with its message even without an address", async () => {
    const message =
      "Failed deploy model due to operation error Elastic Load Balancing v2: CreateListener, https response error StatusCode: 400, RequestID: 5f0c, CertificateNotFound: Certificate 'arn:aws:acm:us-east-1:180789647333:certificate/0bad' not found"
    const broken = [
      ...changed(
        changed(healthyCluster(), 'Ingress', 'eks-microservices-demo', { status: { loadBalancer: {} } }),
        'Event',
        'eks-microservices-demo.successfully-reconciled',
        undefined,
      ),
      ingressEvent('failed-deploy', 'Warning', 'FailedDeployModel', message, '2026-12-01T10:30:00Z', 5),
    ]
    const result = await status(broken)
    expect(failures(result.lines)).toEqual([
      'FAIL  ingress default/eks-microservices-demo: no load balancer address yet',
      `FAIL  ingress default/eks-microservices-demo: FailedDeployModel: ${message} (5 times, last at 2026-12-01T10:30:00Z)`,
    ])
    expect(result.code).toBe(1)
  })

  test('an Ingress no controller ever spoke of asks whether the load balancer controller runs', async () => {
    const silent = changed(
      changed(healthyCluster(), 'Ingress', 'eks-microservices-demo', { status: { loadBalancer: {} } }),
      'Event',
      'eks-microservices-demo.successfully-reconciled',
      undefined,
    )
    const result = await status(silent)
    expect(failures(result.lines)).toEqual([
      'FAIL  ingress default/eks-microservices-demo: no load balancer address yet, and no event from a controller: is the AWS Load Balancer Controller installed and running?',
    ])
  })

  test('a warning before the last successful reconcile is history', async () => {
    const stale = ingressEvent(
      'failed-build',
      'Warning',
      'FailedBuildModel',
      'Failed build model',
      '2026-12-01T09:59:00Z',
    )
    const result = await status([...healthyCluster(), stale])
    expect(failures(result.lines)).toEqual([])
    expect(result.code).toBe(0)
  })

  test('a warning after the last successful reconcile fails the Ingress even with an address', async () => {
    const fresh = ingressEvent(
      'failed-build',
      'Warning',
      'FailedBuildModel',
      "Failed build model due to couldn't auto-discover subnets",
      '2026-12-01T10:06:00Z',
    )
    const result = await status([...healthyCluster(), fresh])
    expect(failures(result.lines)).toEqual([
      "FAIL  ingress default/eks-microservices-demo: FailedBuildModel: Failed build model due to couldn't auto-discover subnets (at 2026-12-01T10:06:00Z)",
    ])
    expect(result.code).toBe(1)
  })

  test('on Fargate a pod whose daemon sidecar is missing or down fails the sidecar check', async () => {
    const objects = healthyCluster({ fargate: true })
    const pod = podOf(objects, 'v1-notification-microservice-')
    const result = await status(
      changed(objects, 'Pod', pod.metadata.name, {
        status: {
          phase: 'Running',
          initContainerStatuses: [
            {
              name: 'xray-daemon',
              ready: false,
              restartCount: 2,
              state: { waiting: { reason: 'CrashLoopBackOff' } },
              lastState: { terminated: { reason: 'OOMKilled', exitCode: 137, finishedAt: '2026-12-01T10:22:00Z' } },
            },
          ],
          containerStatuses: [runningContainer('notification-service')],
        },
      }),
    )
    expect(failures(result.lines)).toEqual([
      `FAIL  sidecar xray-daemon: not running in 1 of 3 app pods: ${pod.metadata.name} (CrashLoopBackOff)`,
      `FAIL  pod default/${pod.metadata.name}: container xray-daemon CrashLoopBackOff, restarted 2 times, last OOMKilled (exit code 137) at 2026-12-01T10:22:00Z`,
    ])
  })

  test.each([
    [
      'the V2 track is not available',
      { canary: true },
      'Deployment',
      'v2-notification-microservice',
      { status: { observedGeneration: 4, replicas: 1, updatedReplicas: 1, availableReplicas: 0 } },
      'FAIL  deployment default/v2-notification-microservice: 0/1 available, 1/1 updated',
    ],
    [
      'the daemon is still rolling out',
      {},
      'DaemonSet',
      'xray-daemon',
      { status: { observedGeneration: 2, desiredNumberScheduled: 3, numberReady: 3, updatedNumberScheduled: 1 } },
      'FAIL  daemonset xray-system/xray-daemon: rollout in progress; 3/3 ready, 1/3 updated',
    ],
    [
      'the service account lacks the role',
      {},
      'ServiceAccount',
      'xray-daemon',
      { metadata: { name: 'xray-daemon', namespace: 'xray-system', annotations: {} } },
      'FAIL  serviceaccount xray-system/xray-daemon: no eks.amazonaws.com/role-arn annotation (IRSA): the collector has no AWS credentials',
    ],
    [
      'an autoscaler cannot read metrics',
      { autoscaling: true },
      'HorizontalPodAutoscaler',
      'usermgmt-microservice',
      {
        status: {
          currentReplicas: 2,
          desiredReplicas: 2,
          conditions: [
            { type: 'AbleToScale', status: 'True', reason: 'SucceededGetScale' },
            {
              type: 'ScalingActive',
              status: 'False',
              reason: 'FailedGetResourceMetric',
              message: 'the HPA was unable to compute the replica count: failed to get cpu utilization',
            },
          ],
        },
      },
      'FAIL  hpa default/usermgmt-microservice: cannot scale (FailedGetResourceMetric: the HPA was unable to compute the replica count: failed to get cpu utilization)',
    ],
    [
      'a Service has no ready endpoint',
      {},
      'EndpointSlice',
      'notification-clusterip-service-x7k2q',
      endpointSlice('default', 'notification-clusterip-service', ['192.168.1.31'], [false]),
      'FAIL  service default/notification-clusterip-service: no ready endpoints, 1 not ready',
    ],
    [
      'a Deployment is missing',
      {},
      'Deployment',
      'v1-notification-microservice',
      undefined,
      'FAIL  deployment default/v1-notification-microservice: not found',
    ],
  ] as const)('when %s', async (_why, mode, kind, name, change, line) => {
    const result = await status(changed(healthyCluster(mode), kind, name, change as Json | undefined))
    expect(failures(result.lines)).toEqual([line])
    expect(result.code).toBe(1)
  })

  test('pods the API refuses to create (Pod Security) fail the Deployment with the reason', async () => {
    const refused = changed(healthyCluster(), 'Deployment', 'usermgmt-microservice', {
      status: {
        observedGeneration: 4,
        replicas: 0,
        updatedReplicas: 0,
        availableReplicas: 0,
        conditions: [
          {
            type: 'ReplicaFailure',
            status: 'True',
            reason: 'FailedCreate',
            message:
              'pods "usermgmt-microservice-7d9f8c6b5-x2k4q" is forbidden: violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false',
          },
          { type: 'Progressing', status: 'True', reason: 'ReplicaSetUpdated' },
        ],
      },
    }).filter((o) => !(o.kind === 'Pod' && o.metadata.name.startsWith('usermgmt-microservice-')))
    const result = await status(refused)
    expect(failures(result.lines)).toEqual([
      'FAIL  deployment default/usermgmt-microservice: cannot create pods (FailedCreate: pods "usermgmt-microservice-7d9f8c6b5-x2k4q" is forbidden: violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false); 0/2 available, 0/2 updated',
      'FAIL  pods default/usermgmt-microservice: no pods',
    ])
  })

  test('a record from a newer ./app fails its line and the defaults are checked', async () => {
    const newer = changed(healthyCluster(), 'ConfigMap', 'xray-eks-app', {
      data: { 'deployment.json': JSON.stringify({ version: 2 }) },
    })
    const result = await status(newer)
    expect(failures(result.lines)).toEqual([
      'FAIL  deployment record: configmap xray-eks-app in namespace default is unreadable: it was written by a newer ./app (record version 2; this one reads version 1): update ./app; checking xray-daemon in xray-system, IRSA (the defaults)',
    ])
    expect(result.lines).toHaveLength(1 + daemonLines.length + appLines().length)
  })

  test('events the credentials may not read are a warning on the Ingress', async () => {
    denied = new Set(['events'])
    const noEvents = await status(healthyCluster())
    denied = new Set()
    expect(noEvents.lines.filter((l) => !l.startsWith('ok'))).toEqual([
      'WARN  ingress default/eks-microservices-demo: cannot read its events: not allowed to list events in namespace default (403): events is forbidden: User "dev" cannot list resource "events" in the namespace "default"',
    ])
    expect(noEvents.code).toBe(0)
  })

  test('a call the credentials may not make fails only the checks that need it', async () => {
    denied = new Set(['horizontalpodautoscalers'])
    const noAutoscalers = await status(healthyCluster({ autoscaling: true }))
    denied = new Set()
    expect(failures(noAutoscalers.lines)).toEqual(
      ['usermgmt-microservice', 'v1-notification-microservice'].map(
        (name) =>
          `FAIL  hpa default/${name}: not allowed to list horizontalpodautoscalers.autoscaling in namespace default (403): horizontalpodautoscalers is forbidden: User "dev" cannot list resource "horizontalpodautoscalers" in the namespace "default"`,
      ),
    )
  })
})

describe('./app status says once what stops every check', () => {
  test('no kubeconfig: one line on stderr, nothing on stdout, exit 2', () => {
    const result = runApp(['status'], { HOME: dir })
    expect(result).toEqual({
      code: 2,
      stdout: '',
      stderr:
        'app: status: no kubeconfig found: KUBECONFIG is not set, ~/.kube/config does not exist, and this is not a pod with a service account; run aws eks update-kubeconfig --name CLUSTER, or pass --kubeconfig FILE\n',
    })
  })

  test('an unreadable kubeconfig: one line on stderr, exit 2', () => {
    const result = runApp(['status', '--kubeconfig', '/nonexistent/config'])
    expect(result.code).toBe(2)
    expect(result.stdout).toBe('')
    expect(result.stderr).toStartWith('app: status: cannot read kubeconfig /nonexistent/config: ')
    expect(result.stderr.trim().split('\n')).toHaveLength(1)
  })

  test('an unreachable API: one line naming its address, exit 1', async () => {
    const closed = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: () => new Response() })
    const address = `https://127.0.0.1:${closed.port}`
    closed.stop(true)
    const app = spawnApp(['status', '--kubeconfig', writeKubeconfig('unreachable', address)])
    expect(await app.exited).toBe(1)
    expect(app.stdout()).toBe('')
    expect(app.stderr()).toBe(`app: status: cannot reach the Kubernetes API at ${address}: connection refused\n`)
  })

  test('refused credentials: one line naming the context, exit 1', async () => {
    cluster = healthyCluster()
    const app = spawnApp([
      'status',
      '--kubeconfig',
      writeKubeconfig('expired', `https://localhost:${server.port}`, 'expired'),
    ])
    expect(await app.exited).toBe(1)
    expect(app.stdout()).toBe('')
    expect(app.stderr()).toBe(
      `app: status: the Kubernetes API at https://localhost:${server.port} refused the credentials of context eksdemo1 (401 Unauthorized) to get configmaps xray-eks-app in namespace default\n`,
    )
  })
})

describe('./app status options', () => {
  // Two rounds at least, 2 s apart by design, each starting a fresh binary on a shared machine: more than the default 5 s.
  test('--wait polls with progress until nothing fails', async () => {
    const waiting = changed(healthyCluster(), 'Ingress', 'eks-microservices-demo', { status: { loadBalancer: {} } })
    cluster = waiting
    await using app = spawnApp(['status', '--kubeconfig', kubeconfig, '--wait', '--timeout', '60'])
    await waitUntil(() => expect(app.stderr()).toContain('not yet: ingress default/eks-microservices-demo'))
    cluster = healthyCluster()
    expect(await app.exited).toBe(0)
    expect(app.stderr()).toMatch(/^waiting \d+s: 11\/12 ok; not yet: ingress default\/eks-microservices-demo$/m)
    expect(app.stdout()).toContain(`ok    ingress default/eks-microservices-demo: address ${albHost}`)
  }, 60_000)

  test('malformed and contradicting options are one line each, exit 2, before asking the cluster', () => {
    requests = 0
    const args = [
      '--kubeconfig',
      kubeconfig,
      '--timeout',
      'soon',
      '--namespace',
      'Default',
      '--fargate',
      '--pod-identity',
    ]
    expect(runApp(['status', ...args])).toEqual({
      code: 2,
      stdout: '',
      stderr: [
        'app: --namespace: must be a namespace name (got "Default")',
        'app: --timeout: must be whole seconds from 1 to 3600 (got "soon")',
        'app: --pod-identity: EKS Pod Identity does not work on Fargate',
        '',
      ].join('\n'),
    })
    expect(requests).toBe(0)
  })

  test('a collector namespace on Fargate is refused with exit 2, before asking the cluster', () => {
    requests = 0
    const args = ['--kubeconfig', kubeconfig, '--fargate', '--collector-namespace', 'xray-system']
    expect(runApp(['status', ...args]).stderr).toBe(
      'app: --collector-namespace: with --fargate the collector runs as a sidecar in each app pod on Fargate, in no namespace of its own\n',
    )
    expect(requests).toBe(0)
  })

  test('a flag that contradicts the deployment record is refused with exit 2', async () => {
    const contradicts = await status(healthyCluster({ fargate: true }), ['--collector-namespace', 'xray-system'])
    expect(contradicts.code).toBe(2)
    expect(contradicts.stderr).toBe(
      'app: --collector-namespace: the deployment record says this deployment runs as a sidecar in each app pod on Fargate, in no namespace of its own\n',
    )
  })
})
