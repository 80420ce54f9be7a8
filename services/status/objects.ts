// The parts of Kubernetes objects that status reads, validated as they arrive (the API is input like any other).
// Fields the API server may omit are optional; everything else an object carries is dropped.
import { z } from 'zod'

const metadata = z.object({
  name: z.string(),
  namespace: z.string().optional(),
  generation: z.number().optional(),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  creationTimestamp: z.string().optional(),
  deletionTimestamp: z.string().optional(),
})

const selector = z.object({ matchLabels: z.record(z.string(), z.string()).optional() })

const condition = z.object({
  type: z.string(),
  status: z.string(),
  reason: z.string().optional(),
  message: z.string().optional(),
})

export const configMap = z.object({ metadata, data: z.record(z.string(), z.string()).optional() })

export const serviceAccount = z.object({ metadata })

export const deployment = z.object({
  metadata,
  spec: z.object({ replicas: z.number().optional(), selector }),
  status: z
    .object({
      observedGeneration: z.number().optional(),
      replicas: z.number().optional(),
      updatedReplicas: z.number().optional(),
      readyReplicas: z.number().optional(),
      availableReplicas: z.number().optional(),
      conditions: z.array(condition).optional(),
    })
    .optional(),
})
export type Deployment = z.infer<typeof deployment>

export const daemonSet = z.object({
  metadata,
  spec: z.object({ selector }),
  status: z
    .object({
      observedGeneration: z.number().optional(),
      desiredNumberScheduled: z.number().optional(),
      numberReady: z.number().optional(),
      updatedNumberScheduled: z.number().optional(),
      numberAvailable: z.number().optional(),
    })
    .optional(),
})

export const horizontalPodAutoscaler = z.object({
  metadata,
  spec: z.object({
    scaleTargetRef: z.object({ kind: z.string(), name: z.string() }),
    minReplicas: z.number().optional(),
    maxReplicas: z.number(),
  }),
  status: z
    .object({
      currentReplicas: z.number().optional(),
      desiredReplicas: z.number().optional(),
      conditions: z.array(condition).optional(),
    })
    .optional(),
})
export type HorizontalPodAutoscaler = z.infer<typeof horizontalPodAutoscaler>

const containerState = z.object({
  running: z.object({ startedAt: z.string().optional() }).optional(),
  waiting: z.object({ reason: z.string().optional(), message: z.string().optional() }).optional(),
  terminated: z
    .object({
      reason: z.string().optional(),
      exitCode: z.number().optional(),
      finishedAt: z.string().optional(),
    })
    .optional(),
})

const containerStatus = z.object({
  name: z.string(),
  ready: z.boolean().optional(),
  started: z.boolean().optional(),
  restartCount: z.number().optional(),
  state: containerState.optional(),
  lastState: containerState.optional(),
})
export type ContainerStatus = z.infer<typeof containerStatus>

const container = z.object({
  name: z.string(),
  restartPolicy: z.string().optional(),
  resources: z.object({ limits: z.record(z.string(), z.union([z.string(), z.number()])).optional() }).optional(),
})

export const pod = z.object({
  metadata,
  spec: z.object({ initContainers: z.array(container).optional(), containers: z.array(container) }),
  status: z
    .object({
      phase: z.string().optional(),
      conditions: z.array(condition).optional(),
      initContainerStatuses: z.array(containerStatus).optional(),
      containerStatuses: z.array(containerStatus).optional(),
    })
    .optional(),
})
export type Pod = z.infer<typeof pod>

export const service = z.object({ metadata, spec: z.object({ type: z.string().optional() }).optional() })

export const endpointSlice = z.object({
  metadata,
  endpoints: z
    .array(
      z.object({
        addresses: z.array(z.string()),
        conditions: z.object({ ready: z.boolean().optional() }).optional(),
        targetRef: z.object({ uid: z.string().optional(), name: z.string().optional() }).optional(),
      }),
    )
    .nullable()
    .optional(),
})
export type EndpointSlice = z.infer<typeof endpointSlice>

export const ingress = z.object({
  metadata,
  status: z
    .object({
      loadBalancer: z
        .object({
          ingress: z.array(z.object({ hostname: z.string().optional(), ip: z.string().optional() })).optional(),
        })
        .optional(),
    })
    .optional(),
})

export const event = z.object({
  metadata,
  type: z.string().optional(),
  reason: z.string().optional(),
  message: z.string().optional(),
  count: z.number().optional(),
  firstTimestamp: z.string().nullable().optional(),
  lastTimestamp: z.string().nullable().optional(),
  eventTime: z.string().nullable().optional(),
  series: z.object({ count: z.number().optional(), lastObservedTime: z.string().optional() }).nullable().optional(),
})
export type Event = z.infer<typeof event>

/** Where each kind lives in the API. */
export const resources = {
  configMaps: { apiVersion: 'v1', resource: 'configmaps' },
  serviceAccounts: { apiVersion: 'v1', resource: 'serviceaccounts' },
  services: { apiVersion: 'v1', resource: 'services' },
  pods: { apiVersion: 'v1', resource: 'pods' },
  events: { apiVersion: 'v1', resource: 'events' },
  deployments: { apiVersion: 'apps/v1', resource: 'deployments' },
  daemonSets: { apiVersion: 'apps/v1', resource: 'daemonsets' },
  horizontalPodAutoscalers: { apiVersion: 'autoscaling/v2', resource: 'horizontalpodautoscalers' },
  endpointSlices: { apiVersion: 'discovery.k8s.io/v1', resource: 'endpointslices' },
  ingresses: { apiVersion: 'networking.k8s.io/v1', resource: 'ingresses' },
} as const
