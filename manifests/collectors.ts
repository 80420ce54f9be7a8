// The node-local trace collectors: the X-Ray daemon the course teaches, the CloudWatch agent and the ADOT
// collector. Each receives X-Ray segments on UDP 2000 and answers the sampling-rules calls of the X-Ray SDKs on
// TCP 2000 (a signing proxy to X-Ray); the latter two also receive OTLP on 4317 (gRPC) and 4318 (HTTP). A
// DaemonSet pod listens on its pod IP, for xray-service; a Fargate sidecar listens on loopback only, so that
// nothing outside the pod can send traces under its role.
import * as k8s from 'cdk8s-plus-33/lib/imports/k8s'
import { stringify } from 'yaml'
import type { ManifestOptions } from './options'
import { type CollectorKind, collectorService, collectors, daemon } from './wiring'

const q = (value: string) => k8s.Quantity.fromString(value)
const int = (value: number) => k8s.IntOrString.fromNumber(value)

/** Meets the restricted Pod Security Standard; every container here runs as uid 10001, the roles' and collectors'. */
export const hardened: k8s.SecurityContext = {
  runAsNonRoot: true,
  runAsUser: 10001,
  runAsGroup: 10001,
  readOnlyRootFilesystem: true,
  allowPrivilegeEscalation: false,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
}

/** The ADOT collector's health_check extension, which its readiness probe asks. */
const adotHealthPort = 13133

/** The feature gate that lets the awsxray exporter pass trace ids without an X-Ray time prefix (random W3C ids). */
export const skipTimestampValidationGate = 'exporter.awsxray.skiptimestampvalidation'

/** The collector's ConfigMap, and the pieces of the pod that run it. */
export interface CollectorParts {
  readonly kind: CollectorKind
  readonly configMap: { readonly name: string; readonly key: string; readonly text: string }
  readonly container: k8s.Container
  /** The config volume, and any scratch space the collector writes to. */
  readonly volumes: readonly k8s.Volume[]
}

function listenHost(o: ManifestOptions): string {
  return o.daemonSet ? '0.0.0.0' : '127.0.0.1'
}

const xrayPorts: k8s.ContainerPort[] = [
  { name: 'xray-ingest', containerPort: collectorService.xrayPort, protocol: 'UDP' },
  { name: 'xray-tcp', containerPort: collectorService.xrayPort, protocol: 'TCP' },
]
const otlpPorts: k8s.ContainerPort[] = [
  { name: 'otlp-grpc', containerPort: collectorService.otlpGrpcPort, protocol: 'TCP' },
  { name: 'otlp-http', containerPort: collectorService.otlpHttpPort, protocol: 'TCP' },
]

/** The X-Ray daemon's YAML config: the course's buffer, the region, and where it listens. */
function xrayDaemonConfig(o: ManifestOptions): string {
  const at = `${listenHost(o)}:${collectorService.xrayPort}`
  return [
    `TotalBufferSizeMB: ${daemon.bufferMb}`,
    `Region: "${o.region}"`,
    'Socket:',
    `  UDPAddress: "${at}"`,
    `  TCPAddress: "${at}"`,
    'Version: 2',
    '',
  ].join('\n')
}

/**
 * The CloudWatch agent's JSON config: traces only, X-Ray and OTLP in, X-Ray out. local_mode keeps it from asking
 * the node's instance metadata, which pods often cannot reach: the region is here and the credentials come from
 * the service account.
 */
function cloudwatchAgentConfig(o: ManifestOptions): string {
  const host = listenHost(o)
  const config = {
    agent: { region: o.region },
    traces: {
      traces_collected: {
        xray: {
          bind_address: `${host}:${collectorService.xrayPort}`,
          tcp_proxy: { bind_address: `${host}:${collectorService.xrayPort}` },
        },
        otlp: {
          grpc_endpoint: `${host}:${collectorService.otlpGrpcPort}`,
          http_endpoint: `${host}:${collectorService.otlpHttpPort}`,
        },
      },
      local_mode: true,
    },
  }
  return `${JSON.stringify(config, null, 2)}\n`
}

/**
 * The ADOT collector's YAML config. The awsxray receiver takes the SDKs' segments and, with its proxy_server, their
 * sampling-rules calls (the X-Ray daemon's TCP proxy); the memory limiter refuses data before the container's
 * limit is reached instead of being OOM-killed.
 */
function adotConfig(o: ManifestOptions): string {
  const host = listenHost(o)
  const config = {
    extensions: { health_check: { endpoint: `${host}:${adotHealthPort}` } },
    receivers: {
      awsxray: {
        endpoint: `${host}:${collectorService.xrayPort}`,
        transport: 'udp',
        proxy_server: { endpoint: `${host}:${collectorService.xrayPort}`, region: o.region, local_mode: true },
      },
      otlp: {
        protocols: {
          grpc: { endpoint: `${host}:${collectorService.otlpGrpcPort}` },
          http: { endpoint: `${host}:${collectorService.otlpHttpPort}` },
        },
      },
    },
    processors: {
      memory_limiter: { check_interval: '1s', limit_percentage: 80, spike_limit_percentage: 25 },
      'batch/traces': { timeout: '1s', send_batch_size: 50 },
    },
    exporters: { awsxray: { region: o.region, local_mode: true } },
    service: {
      extensions: ['health_check'],
      pipelines: {
        traces: {
          receivers: ['awsxray', 'otlp'],
          processors: ['memory_limiter', 'batch/traces'],
          exporters: ['awsxray'],
        },
      },
    },
  }
  return stringify(config)
}

function configVolume(kind: CollectorKind): k8s.Volume {
  const names = collectors[kind]
  return {
    name: names.configMap,
    configMap: { name: names.configMap, items: [{ key: names.configKey, path: names.configKey }] },
  }
}

function configMount(kind: CollectorKind): k8s.VolumeMount {
  return { name: collectors[kind].configMap, mountPath: collectors[kind].configDir, readOnly: true }
}

function resources(request: { cpu: string; memory: string }, memoryLimit: string): k8s.ResourceRequirements {
  return { requests: { cpu: q(request.cpu), memory: q(request.memory) }, limits: { memory: q(memoryLimit) } }
}

/** The collector's ConfigMap, container and volumes for these options: a DaemonSet pod's, or a Fargate sidecar's. */
export function collectorParts(o: ManifestOptions): CollectorParts {
  const kind = o.collector.kind
  const names = collectors[kind]
  const inDaemonSet = o.daemonSet !== undefined
  const base = {
    name: names.name,
    image: o.collector.image,
    // Always makes it a native sidecar: stopped only after the app container, so it sends the last traces.
    restartPolicy: inDaemonSet ? undefined : 'Always',
    securityContext: hardened,
  } satisfies k8s.Container
  // A sidecar listens on loopback, where the kubelet cannot probe it; a DaemonSet pod joins xray-service only
  // once it listens.
  const whenInDaemonSet = (probe: k8s.Probe) =>
    inDaemonSet ? { ...probe, periodSeconds: 10, failureThreshold: 3 } : undefined
  switch (kind) {
    case 'xray-daemon': {
      // The daemon allocates its buffer up front; AWS's own DaemonSet sample gives 64Mi for the 24 MB buffer.
      const memory = `${daemon.bufferMb + 40}Mi`
      return {
        kind,
        configMap: { name: names.configMap, key: names.configKey, text: xrayDaemonConfig(o) },
        container: {
          ...base,
          // The ECR image is FROM scratch with the binary at /xray: keep its entrypoint, pass only the config.
          args: ['-c', `${names.configDir}/${names.configKey}`],
          ports: xrayPorts,
          readinessProbe: whenInDaemonSet({ tcpSocket: { port: int(collectorService.xrayPort) } }),
          resources: resources({ cpu: '50m', memory }, memory),
          volumeMounts: [configMount(kind)],
        },
        volumes: [configVolume(kind)],
      }
    }
    case 'cloudwatch-agent': {
      // The entrypoint writes the translated config to etc/, the pid file to var/; the image stays read-only.
      const scratch = ['etc', 'var', 'logs'].map((dir) => ({
        volume: { name: `cwagent-${dir}`, emptyDir: { sizeLimit: q('16Mi') } } satisfies k8s.Volume,
        mount: {
          name: `cwagent-${dir}`,
          mountPath: `/opt/aws/amazon-cloudwatch-agent/${dir}`,
        } satisfies k8s.VolumeMount,
      }))
      const tmp = { name: 'cwagent-tmp', emptyDir: { sizeLimit: q('16Mi') } } satisfies k8s.Volume
      return {
        kind,
        configMap: { name: names.configMap, key: names.configKey, text: cloudwatchAgentConfig(o) },
        container: {
          ...base,
          // Credentials come from the service account (IRSA or Pod Identity), not from the node's instance role.
          env: [{ name: 'RUN_WITH_IRSA', value: 'True' }],
          ports: [...xrayPorts, ...otlpPorts],
          readinessProbe: whenInDaemonSet({ tcpSocket: { port: int(collectorService.otlpHttpPort) } }),
          resources: resources({ cpu: '50m', memory: '128Mi' }, '256Mi'),
          volumeMounts: [configMount(kind), ...scratch.map((s) => s.mount), { name: tmp.name, mountPath: '/tmp' }],
        },
        volumes: [configVolume(kind), ...scratch.map((s) => s.volume), tmp],
      }
    }
    case 'adot':
      return {
        kind,
        configMap: { name: names.configMap, key: names.configKey, text: adotConfig(o) },
        container: {
          ...base,
          // The image's entrypoint is the collector; these replace only its default config.
          args: [`--config=${names.configDir}/${names.configKey}`, `--feature-gates=${skipTimestampValidationGate}`],
          ports: [
            ...xrayPorts,
            ...otlpPorts,
            ...(inDaemonSet ? [{ name: 'health', containerPort: adotHealthPort, protocol: 'TCP' }] : []),
          ],
          readinessProbe: whenInDaemonSet({ httpGet: { path: '/', port: int(adotHealthPort) } }),
          resources: resources({ cpu: '50m', memory: '128Mi' }, '256Mi'),
          volumeMounts: [configMount(kind)],
        },
        volumes: [configVolume(kind)],
      }
    default:
      return kind satisfies never
  }
}
