import { readFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { z } from 'zod'
import { createKubernetesClient, type KubernetesConfig, type Logger } from '../platform'

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

const clusterInfo = z.object({ data: z.record(z.string(), z.string()).optional() })

/**
 * Reads the cluster name from the Container Insights ConfigMap `amazon-cloudwatch/cluster-info` (key
 * `cluster.name`), with the pod's service account, as the Java SDK's EKS plugin does.
 */
async function readClusterName(kubernetes: KubernetesConfig, timeoutMs: number): Promise<string | undefined> {
  const client = await createKubernetesClient(
    { kind: 'in-cluster', api: kubernetes.api, serviceAccountDir: kubernetes.serviceAccountDir },
    { timeoutMs },
  )
  const ref = { apiVersion: 'v1', resource: 'configmaps', namespace: 'amazon-cloudwatch', name: 'cluster-info' }
  const configMap = await client.get(ref, clusterInfo)
  if (configMap === undefined) throw new Error('the ConfigMap amazon-cloudwatch/cluster-info does not exist')
  const name = configMap.data?.['cluster.name']
  return name ? name : undefined
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
