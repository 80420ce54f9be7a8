import { readFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { KubeConfig } from '@kubernetes/client-node'
import type { KubernetesConfig, Logger } from '../platform'

/** `aws.eks` as the Java SDK's EKSPlugin sends it. */
export interface EksMetadata {
  readonly cluster_name: string
  readonly pod: string
  readonly container_id?: string
}

export interface EksDetectionOptions {
  readonly kubernetes: KubernetesConfig | undefined
  readonly log: Logger
  /** @default /proc/self/cgroup, then /proc/self/mountinfo (cgroup v2 hides the id from the first) */
  readonly cgroupFiles?: readonly string[]
  /** @default os.hostname(), the pod name */
  readonly pod?: string
  /** @default 3000 */
  readonly timeoutMs?: number
}

function containerId(files: readonly string[]): string | undefined {
  for (const file of files) {
    try {
      const match = /([0-9a-f]{64})/.exec(readFileSync(file, 'utf8'))
      if (match?.[1]) return match[1]
    } catch {
      // Not on Linux, or not readable: no container id.
    }
  }
  return undefined
}

/**
 * Reads the cluster name from the Container Insights ConfigMap `amazon-cloudwatch/cluster-info` (key
 * `cluster.name`), with the pod's service account, as the Java SDK's EKS plugin does. The in-cluster config
 * (server, token, CA file) is @kubernetes/client-node's; the request itself goes through Bun's fetch with the
 * CA passed as `tls.ca`, because client-node 2.x hands the CA to an undici option that Bun ignores
 * (oven-sh/bun#38840: its own call fails with "self signed certificate" here).
 */
async function readClusterName(kubernetes: KubernetesConfig, timeoutMs: number): Promise<string | undefined> {
  const kc = new KubeConfig()
  const server = `https://${kubernetes.api.host.includes(':') ? `[${kubernetes.api.host}]` : kubernetes.api.host}:${kubernetes.api.port}`
  kc.loadFromClusterAndUser(
    { name: 'inCluster', server, caFile: join(kubernetes.serviceAccountDir, 'ca.crt'), skipTLSVerify: false },
    {
      name: 'inClusterUser',
      authProvider: { name: 'tokenFile', config: { tokenFile: join(kubernetes.serviceAccountDir, 'token') } },
    },
  )
  const options: { headers?: Record<string, string> } = { headers: {} }
  await kc.applyToHTTPSOptions(options)
  const cluster = kc.getCurrentCluster()
  const ca = cluster?.caFile ? readFileSync(cluster.caFile, 'utf8') : undefined
  const response = await fetch(`${server}/api/v1/namespaces/amazon-cloudwatch/configmaps/cluster-info`, {
    headers: options.headers ?? {},
    signal: AbortSignal.timeout(timeoutMs),
    tls: { ...(ca ? { ca } : {}), rejectUnauthorized: true },
  })
  if (!response.ok) throw new Error(`GET configmap amazon-cloudwatch/cluster-info answered ${response.status}`)
  const body = (await response.json()) as { data?: Record<string, unknown> }
  const name = body.data?.['cluster.name']
  return typeof name === 'string' && name !== '' ? name : undefined
}

/** On EKS: cluster, pod and container for every segment. Outside Kubernetes: undefined at once, no I/O. */
export async function detectEks(options: EksDetectionOptions): Promise<EksMetadata | undefined> {
  const { kubernetes, log } = options
  if (!kubernetes) return undefined
  const id = containerId(options.cgroupFiles ?? ['/proc/self/cgroup', '/proc/self/mountinfo'])
  let clusterName = kubernetes.clusterName
  if (clusterName === undefined) {
    try {
      clusterName = await readClusterName(kubernetes, options.timeoutMs ?? 3000)
    } catch (error) {
      log.warn('cannot read the EKS cluster name from amazon-cloudwatch/cluster-info; set EKS_CLUSTER_NAME', { error })
      return undefined
    }
  }
  if (clusterName === undefined) return undefined
  return { cluster_name: clusterName, pod: options.pod ?? hostname(), ...(id ? { container_id: id } : {}) }
}
