// Every name, port and path that two generated objects (or a generated object and the roles) must agree on, in
// one place. The names are the course's, so that its own kubectl commands and `./app status` find them.
import { type DeploymentRecord, deploymentRecord } from '../services/platform'

/** Labels and names of the user management role (behind the ALB). */
export const usermgmt = {
  deployment: 'usermgmt-microservice',
  container: 'usermgmt-restapp',
  serviceAccount: 'usermgmt-restapp',
  labels: { app: 'usermgmt-restapp' },
  /** The course's name, kept although the Service is ClusterIP behind an ip-target ALB. */
  service: 'usermgmt-restapp-nodeport-service',
  port: 8095,
  /** The only prefix the Ingress routes. */
  pathPrefix: '/usermgmt',
  /** 200 while the process serves HTTP: liveness, startup, and the ALB's health check. */
  livenessPath: '/usermgmt/health/status',
  /** 200 while the database answers now, 503 otherwise. */
  readinessPath: '/usermgmt/health/readiness',
  tracingName: 'User-Management-Microservice',
} as const

/** Labels and names of the notification role (cluster-internal only). */
export const notification = {
  deployments: { V1: 'v1-notification-microservice', V2: 'v2-notification-microservice' },
  container: 'notification-service',
  serviceAccount: 'notification-restapp',
  labels: { app: 'notification-restapp' },
  tracks: { V1: 'stable', V2: 'canary' },
  service: 'notification-clusterip-service',
  port: 8096,
  healthPath: '/notification/health-status',
  tracingNames: { V1: 'V1-Notification-Microservice', V2: 'V2-Notification-Microservice' },
} as const

/** The node-local trace collectors `--collector` offers, as the deployment record names them. */
export type CollectorKind = DeploymentRecord['collector']
export const collectorKinds = deploymentRecord.shape.collector.options

/**
 * The Service in front of every collector. It keeps the course's name whichever collector runs, so the roles'
 * AWS_XRAY_DAEMON_ADDRESS stays the same when the collector changes, and one apply moves the traffic.
 */
export const collectorService = {
  name: 'xray-service',
  /** X-Ray segments (UDP) and the sampling-rules proxy (TCP). */
  xrayPort: 2000,
  otlpGrpcPort: 4317,
  otlpHttpPort: 4318,
} as const

interface CollectorNames {
  /** The DaemonSet, its container (the Fargate sidecar too) and its ServiceAccount. */
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly configMap: string
  readonly configKey: string
  /** Where the ConfigMap is mounted in the container. */
  readonly configDir: string
  /** Receives OTLP on 4317 and 4318 beside X-Ray on 2000. */
  readonly otlp: boolean
}

/** Each collector's objects. The X-Ray daemon keeps the course's names; the others are named after themselves. */
export const collectors: Readonly<Record<CollectorKind, CollectorNames>> = {
  'xray-daemon': {
    name: 'xray-daemon',
    labels: { app: 'xray-daemon' },
    configMap: 'xray-config',
    configKey: 'config.yaml',
    configDir: '/aws/xray',
    otlp: false,
  },
  'cloudwatch-agent': {
    name: 'cloudwatch-agent',
    labels: { app: 'cloudwatch-agent' },
    configMap: 'cloudwatch-agent-config',
    // The agent's container entrypoint translates every JSON file it finds in /etc/cwagentconfig.
    configKey: 'cwagentconfig.json',
    configDir: '/etc/cwagentconfig',
    otlp: true,
  },
  adot: {
    name: 'adot-collector',
    labels: { app: 'adot-collector' },
    configMap: 'adot-collector-config',
    configKey: 'config.yaml',
    configDir: '/etc/adot',
    otlp: true,
  },
}

/** The X-Ray daemon's own settings. */
export const daemon = {
  /** TotalBufferSizeMB: segments the daemon holds while X-Ray is slow, allocated up front. */
  bufferMb: 24,
} as const

/** Secrets the roles read, and the keys inside them. */
export const secrets = {
  db: { name: 'mysql-db-password', key: 'db-password' },
  smtp: { name: 'smtp-credentials', usernameKey: 'username', passwordKey: 'password' },
  notificationToken: { name: 'notification-auth-token', key: 'token' },
} as const

/** The course's ExternalName aliases. */
export const aliases = { mysql: 'mysql', smtp: 'smtp-service' } as const

export const mysqlPort = 3306

/** Pod labels that select the pods of one Deployment, so that two tracks never share a selector. */
export function notificationTrackLabels(version: 'V1' | 'V2') {
  return { ...notification.labels, track: notification.tracks[version] }
}
