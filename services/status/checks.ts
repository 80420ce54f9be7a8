import { readFileSync } from 'node:fs'
import { KubeConfig } from '@kubernetes/client-node'

export interface Check {
  readonly name: string
  readonly ok: boolean
  readonly detail: string
}

export interface StatusOptions {
  readonly namespace: string
  /** The daemon uses EKS Pod Identity: its service account carries no role annotation. */
  readonly podIdentity: boolean
  /** A kubeconfig file; otherwise KUBECONFIG, ~/.kube/config or the in-cluster config, as kubectl finds them. */
  readonly kubeconfig?: string | undefined
  /** Per API call. @default 5000 */
  readonly timeoutMs?: number
}

type Json = Record<string, unknown>

/**
 * GETs from the Kubernetes API with the kubeconfig's server, CA, client certificate and token. The config is
 * @kubernetes/client-node's; the request is Bun's fetch with `tls`, because client-node 2.x hands the CA to an undici
 * option that Bun ignores (oven-sh/bun#38840: "self signed certificate" against any private cluster CA).
 */
export function createKubeReader(options: Pick<StatusOptions, 'kubeconfig' | 'timeoutMs'>) {
  const kc = new KubeConfig()
  if (options.kubeconfig) kc.loadFromFile(options.kubeconfig)
  else kc.loadFromDefault()
  const cluster = kc.getCurrentCluster()
  if (!cluster) throw new Error('the kubeconfig names no current cluster')
  const user = kc.getCurrentUser()
  const pem = (data: string | undefined, file: string | undefined) =>
    data ? Buffer.from(data, 'base64').toString('utf8') : file ? readFileSync(file, 'utf8') : undefined
  const ca = pem(cluster.caData, cluster.caFile)
  const cert = pem(user?.certData, user?.certFile)
  const key = pem(user?.keyData, user?.keyFile)
  return {
    server: cluster.server,
    async get(path: string): Promise<Json | undefined> {
      const request: { headers?: Record<string, string> } = { headers: {} }
      await kc.applyToHTTPSOptions(request)
      const response = await fetch(`${cluster.server}${path}`, {
        headers: request.headers ?? {},
        signal: AbortSignal.timeout(options.timeoutMs ?? 5000),
        tls: {
          ...(ca ? { ca } : {}),
          ...(cert ? { cert } : {}),
          ...(key ? { key } : {}),
          rejectUnauthorized: !cluster.skipTLSVerify,
        },
      })
      if (response.status === 404) return undefined
      if (!response.ok) throw new Error(`GET ${path} answered ${response.status}`)
      return (await response.json()) as Json
    },
  }
}

function field(object: Json | undefined, ...path: string[]): unknown {
  let value: unknown = object
  for (const key of path) value = value && typeof value === 'object' ? (value as Json)[key] : undefined
  return value
}

const count = (value: unknown) => (typeof value === 'number' ? value : 0)

/** What the course checks by hand with kubectl, one result per object. Never throws for an unhealthy cluster. */
export async function checkDeployment(options: StatusOptions): Promise<Check[]> {
  const reader = createKubeReader(options)
  const ns = options.namespace
  const checks: Check[] = []
  const attempt = async (name: string, run: () => Promise<Omit<Check, 'name'>>) => {
    try {
      checks.push({ name, ...(await run()) })
    } catch (error) {
      checks.push({ name, ok: false, detail: error instanceof Error ? error.message : String(error) })
    }
  }

  await attempt('daemonset xray-daemon', async () => {
    const ds = await reader.get(`/apis/apps/v1/namespaces/${ns}/daemonsets/xray-daemon`)
    if (!ds) return { ok: false, detail: 'not found' }
    const desired = count(field(ds, 'status', 'desiredNumberScheduled'))
    const ready = count(field(ds, 'status', 'numberReady'))
    return { ok: desired > 0 && ready === desired, detail: `${ready}/${desired} pods ready` }
  })
  await attempt('serviceaccount xray-daemon', async () => {
    const sa = await reader.get(`/api/v1/namespaces/${ns}/serviceaccounts/xray-daemon`)
    if (!sa) return { ok: false, detail: 'not found' }
    const arn = field(sa, 'metadata', 'annotations', 'eks.amazonaws.com/role-arn')
    if (options.podIdentity) return { ok: true, detail: 'present (Pod Identity)' }
    return typeof arn === 'string' && arn.startsWith('arn:')
      ? { ok: true, detail: `role ${arn}` }
      : { ok: false, detail: 'no eks.amazonaws.com/role-arn annotation (IRSA)' }
  })
  for (const name of ['usermgmt-microservice', 'v1-notification-microservice']) {
    await attempt(`deployment ${name}`, async () => {
      const deployment = await reader.get(`/apis/apps/v1/namespaces/${ns}/deployments/${name}`)
      if (!deployment) return { ok: false, detail: 'not found' }
      const wanted = count(field(deployment, 'spec', 'replicas'))
      const available = count(field(deployment, 'status', 'availableReplicas'))
      return { ok: wanted > 0 && available >= wanted, detail: `${available}/${wanted} replicas available` }
    })
  }
  for (const name of ['xray-service', 'usermgmt-restapp-nodeport-service', 'notification-clusterip-service']) {
    await attempt(`service ${name}`, async () => {
      const endpoints = await reader.get(`/api/v1/namespaces/${ns}/endpoints/${name}`)
      if (!endpoints) return { ok: false, detail: 'not found' }
      const subsets = (field(endpoints, 'subsets') as { addresses?: unknown[] }[] | undefined) ?? []
      const ready = subsets.reduce((n, s) => n + (s.addresses?.length ?? 0), 0)
      return { ok: ready > 0, detail: ready > 0 ? `${ready} ready endpoints` : 'no ready endpoints' }
    })
  }
  await attempt('ingress eks-microservices-demo', async () => {
    const ingress = await reader.get(`/apis/networking.k8s.io/v1/namespaces/${ns}/ingresses/eks-microservices-demo`)
    if (!ingress) return { ok: false, detail: 'not found' }
    const entries =
      (field(ingress, 'status', 'loadBalancer', 'ingress') as { hostname?: string; ip?: string }[] | undefined) ?? []
    const address = entries[0]?.hostname ?? entries[0]?.ip
    return address ? { ok: true, detail: `address ${address}` } : { ok: false, detail: 'no load balancer address yet' }
  })
  return checks
}

export function formatChecks(checks: readonly Check[]): string {
  return checks.map((c) => `${c.ok ? 'ok  ' : 'FAIL'}  ${c.name}: ${c.detail}`).join('\n')
}
