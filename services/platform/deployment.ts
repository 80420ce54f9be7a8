// What `./app manifests` deployed, kept in the cluster beside it (a ConfigMap in the app namespace), so that
// `./app status` checks exactly what was deployed without the operator repeating the manifests' flags.
import { z } from 'zod'

/** The ConfigMap's name, and the key holding the JSON record. */
export const deploymentRecordName = 'xray-eks-app'
export const deploymentRecordKey = 'deployment.json'

/** Namespaces both commands default to. */
export const defaultAppNamespace = 'default'
export const defaultCollectorNamespace = 'xray-system'

/** An RFC 1123 DNS label: what Kubernetes requires of a namespace's name, and both commands check. */
export const dnsLabelPattern = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/

export const deploymentRecord = z.object({
  /** Bumped when the shape changes, so an older status can say it does not understand a newer record. */
  version: z.literal(1),
  /** The image the roles run. */
  image: z.string(),
  namespace: z.string(),
  /** The node-local trace collector, and where it runs; null on Fargate (a sidecar in each pod). */
  collector: z.enum(['xray-daemon', 'cloudwatch-agent', 'adot']),
  collectorNamespace: z.string().nullable(),
  fargate: z.boolean(),
  podIdentity: z.boolean(),
  /** The V2 notification track is deployed. */
  canary: z.boolean(),
  /** HorizontalPodAutoscalers own the replica counts. */
  autoscaling: z.boolean(),
  auth: z.enum(['jwt', 'none']),
})
export type DeploymentRecord = z.infer<typeof deploymentRecord>
