// Every name, port and path that two generated objects (or a generated object and the roles) must agree on, in
// one place. The names are the course's, so that its own kubectl commands and `./app status` find them.

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

/** The X-Ray daemon: a DaemonSet in its own namespace, or a sidecar in each pod on Fargate. */
export const daemon = {
  name: 'xray-daemon',
  serviceAccount: 'xray-daemon',
  labels: { app: 'xray-daemon' },
  configMap: 'xray-config',
  configKey: 'config.yaml',
  configDir: '/aws/xray',
  service: 'xray-service',
  port: 2000,
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
