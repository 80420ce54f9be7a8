import { App, Chart } from 'cdk8s'
import * as k8s from 'cdk8s-plus-33/lib/imports/k8s'
import {
  type DeploymentRecord,
  deploymentRecord,
  deploymentRecordKey,
  deploymentRecordName,
  shutdownGraceMs,
} from '../services/platform'
import { type CollectorParts, collectorParts, hardened } from './collectors'
import { type ManifestOptions, type ManifestSecrets, sendsOtlp } from './options'
import {
  aliases,
  collectorService,
  collectors,
  mysqlPort,
  notification,
  notificationTrackLabels,
  secrets as secretNames,
  usermgmt,
} from './wiring'

/** The Ingress's name in the course. */
const ingressName = 'eks-microservices-demo'

// Shutdown behind a load balancer: on termination the pod first keeps serving while the endpoint change reaches
// the ALB (or kube-proxy), then gets SIGTERM, drains, and exits; the grace period covers all of it.
/** How long the roles may take after SIGTERM before they exit regardless (a mail in flight included). */
const appStopSeconds = Math.ceil(shutdownGraceMs / 1000)
/** preStop sleep: the ALB needs a few seconds to deregister a target, kube-proxy less. */
const preStopSeconds = { usermgmt: 15, notification: 5 } as const
/** Room after the app exits for the Fargate sidecar collector to send what it holds. */
const flushSeconds = 5

const graceSeconds = (preStop: number) => preStop + appStopSeconds + flushSeconds

const podSecurityLevel = 'restricted'
const q = (value: string) => k8s.Quantity.fromString(value)
const int = (value: number) => k8s.IntOrString.fromNumber(value)

const podSecurity: k8s.PodSecurityContext = {
  runAsNonRoot: true,
  runAsUser: 10001,
  runAsGroup: 10001,
  fsGroup: 10001,
  seccompProfile: { type: 'RuntimeDefault' },
}

const tmpVolume: k8s.Volume = { name: 'tmp', emptyDir: { sizeLimit: q('64Mi') } }
const tmpMount: k8s.VolumeMount = { name: 'tmp', mountPath: '/tmp' }

function base64(value: string): string {
  return Buffer.from(value, 'utf8').toString('base64')
}

function namespaceLabels(extra: Record<string, string> = {}): Record<string, string> {
  return {
    'pod-security.kubernetes.io/enforce': podSecurityLevel,
    'pod-security.kubernetes.io/warn': podSecurityLevel,
    'pod-security.kubernetes.io/audit': podSecurityLevel,
    ...extra,
  }
}

/** The node's collector through its Service, or the sidecar in the pod. */
function collectorHost(o: ManifestOptions): string {
  return o.daemonSet ? `${collectorService.name}.${o.daemonSet.namespace}` : '127.0.0.1'
}

/** Where the roles send X-Ray segments (UDP) and ask for sampling rules (TCP). */
function daemonAddress(o: ManifestOptions): string {
  return `${collectorHost(o)}:${collectorService.xrayPort}`
}

/** The OpenTelemetry variables the roles read: the exporter and, for OTLP, the node's collector over HTTP. */
function exporterEnv(o: ManifestOptions, deployment: string): k8s.EnvVar[] {
  const exporter: k8s.EnvVar = { name: 'OTEL_TRACES_EXPORTER', value: o.exporter }
  if (!sendsOtlp(o.exporter)) return [exporter]
  const endpoint = `http://${collectorHost(o)}:${collectorService.otlpHttpPort}/v1/traces`
  return [
    exporter,
    // The signal's own endpoint is used as given, so it names the path.
    { name: 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', value: endpoint },
    { name: 'OTEL_EXPORTER_OTLP_PROTOCOL', value: 'http/protobuf' },
    // What a span cannot learn inside the pod, which mounts no API token.
    { name: 'OTEL_RESOURCE_ATTRIBUTES', value: `k8s.namespace.name=${o.namespace},k8s.deployment.name=${deployment}` },
  ]
}

interface RoleSpec {
  readonly deployment: string
  readonly container: string
  readonly serviceAccount: string
  readonly labels: Readonly<Record<string, string>>
  /** The course's selector (app only): a Deployment's selector cannot change once applied. */
  readonly selector: Readonly<Record<string, string>>
  readonly role: 'usermgmt' | 'notification'
  readonly port: number
  /** undefined: an HPA owns the count. */
  readonly replicas: number | undefined
  /** Spread across zones: more than one replica, now or once the HPA scales. */
  readonly spread: boolean
  readonly env: readonly k8s.EnvVar[]
  readonly readiness: k8s.Probe
  readonly livenessPath: string
  readonly preStopSeconds: number
}

function roleDeployment(chart: Chart, o: ManifestOptions, sidecar: CollectorParts, spec: RoleSpec): void {
  const http = (path: string) => ({ path, port: int(spec.port) })
  const app: k8s.Container = {
    name: spec.container,
    image: o.image,
    imagePullPolicy: 'IfNotPresent',
    command: ['/app'],
    args: ['serve', `--role=${spec.role}`],
    ports: [{ name: 'http', containerPort: spec.port, protocol: 'TCP' }],
    env: [
      ...spec.env,
      { name: 'AWS_XRAY_DAEMON_ADDRESS', value: daemonAddress(o) },
      { name: 'AWS_XRAY_CONTEXT_MISSING', value: 'LOG_ERROR' },
      // aws.eks on every segment without giving the pods an API token to read amazon-cloudwatch/cluster-info.
      { name: 'EKS_CLUSTER_NAME', value: o.cluster },
      ...exporterEnv(o, spec.deployment),
    ],
    // We start in milliseconds: no 60 s initial delay, and probes that need no shell (the course's used nc).
    startupProbe: { httpGet: http(spec.livenessPath), periodSeconds: 2, failureThreshold: 30 },
    readinessProbe: spec.readiness,
    livenessProbe: { httpGet: http(spec.livenessPath), periodSeconds: 10, timeoutSeconds: 3, failureThreshold: 3 },
    lifecycle: { preStop: { sleep: { seconds: spec.preStopSeconds } } },
    resources: {
      requests: { cpu: q('100m'), memory: q('64Mi') },
      limits: { cpu: q('1'), memory: q('256Mi') },
    },
    securityContext: hardened,
    volumeMounts: [tmpMount],
  }
  const podLabels = { ...spec.labels, ...(o.fargate ? { runon: 'fargate' } : {}) }
  const spread: k8s.TopologySpreadConstraint[] = [
    {
      maxSkew: 1,
      topologyKey: 'topology.kubernetes.io/zone',
      // A zone short of capacity delays nothing; the scheduler still prefers the emptier zone.
      whenUnsatisfiable: 'ScheduleAnyway',
      labelSelector: { matchLabels: { ...spec.labels } },
      matchLabelKeys: ['pod-template-hash'],
    },
  ]
  new k8s.KubeDeployment(chart, spec.deployment, {
    metadata: { name: spec.deployment, namespace: o.namespace, labels: { ...spec.labels } },
    spec: {
      replicas: spec.replicas,
      selector: { matchLabels: { ...spec.selector } },
      template: {
        metadata: {
          labels: podLabels,
          // The sidecar collector needs the IRSA credentials; the app container needs none.
          annotations: o.fargate ? { 'eks.amazonaws.com/skip-containers': spec.container } : undefined,
        },
        spec: {
          serviceAccountName: o.fargate ? collectors[o.collector.kind].name : spec.serviceAccount,
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          terminationGracePeriodSeconds: graceSeconds(spec.preStopSeconds),
          securityContext: podSecurity,
          topologySpreadConstraints: spec.spread ? spread : undefined,
          initContainers: o.fargate ? [sidecar.container] : undefined,
          containers: [app],
          volumes: o.fargate ? [tmpVolume, ...sidecar.volumes] : [tmpVolume],
        },
      },
    },
  })
}

function disruptionBudget(chart: Chart, o: ManifestOptions, name: string, labels: Record<string, string>) {
  new k8s.KubePodDisruptionBudget(chart, `${name}-pdb`, {
    metadata: { name: `${name}-pdb`, namespace: o.namespace },
    spec: { maxUnavailable: int(1), selector: { matchLabels: labels } },
  })
}

function autoscaler(chart: Chart, o: ManifestOptions, deployment: string, minReplicas: number, maxReplicas: number) {
  new k8s.KubeHorizontalPodAutoscalerV2(chart, `${deployment}-hpa`, {
    metadata: { name: deployment, namespace: o.namespace },
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: deployment },
      minReplicas,
      maxReplicas,
      metrics: [
        { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } } },
      ],
    },
  })
}

function serviceAccount(chart: Chart, name: string, namespace: string, annotations?: Record<string, string>) {
  new k8s.KubeServiceAccount(chart, `sa-${namespace}-${name}`, {
    metadata: { name, namespace, annotations },
    automountServiceAccountToken: false,
  })
}

/** What was deployed, for `./app status` (services/platform/deployment.ts). */
function deploymentRecordOf(o: ManifestOptions): DeploymentRecord {
  return deploymentRecord.parse({
    version: 1,
    image: o.image,
    namespace: o.namespace,
    collector: o.collector.kind,
    collectorNamespace: o.daemonSet?.namespace ?? null,
    fargate: o.fargate,
    podIdentity: o.podIdentity,
    canary: o.canary !== undefined,
    autoscaling: o.hpaMax !== undefined,
    auth: o.auth.mode,
  })
}

function usermgmtEnv(o: ManifestOptions, tokenSecret: string, dbSecret: string): k8s.EnvVar[] {
  const auth: k8s.EnvVar[] =
    o.auth.mode === 'jwt'
      ? [
          { name: 'AUTH_MODE', value: 'jwt' },
          { name: 'AUTH_JWT_ISSUER', value: o.auth.issuer },
          { name: 'AUTH_JWT_AUDIENCE', value: o.auth.audience },
          ...(o.auth.jwksUrl === undefined
            ? []
            : [{ name: 'AUTH_JWKS_URL', value: o.auth.jwksUrl } satisfies k8s.EnvVar]),
        ]
      : [{ name: 'AUTH_MODE', value: 'none' }]
  return [
    // mysql2 checks the certificate against the host it connects to: the alias would never match.
    { name: 'DB_HOSTNAME', value: o.dbSslMode === 'VERIFY_IDENTITY' ? o.dbHost : aliases.mysql },
    { name: 'DB_PORT', value: String(mysqlPort) },
    { name: 'DB_NAME', value: o.dbName },
    { name: 'DB_USERNAME', value: o.dbUser },
    { name: 'DB_PASSWORD', valueFrom: { secretKeyRef: { name: dbSecret, key: secretNames.db.key } } },
    { name: 'DB_SSL_MODE', value: o.dbSslMode },
    ...(o.dbSslCa === undefined ? [] : [{ name: 'DB_SSL_CA', value: o.dbSslCa } satisfies k8s.EnvVar]),
    { name: 'NOTIFICATION_SERVICE_HOST', value: notification.service },
    { name: 'NOTIFICATION_SERVICE_PORT', value: String(notification.port) },
    {
      name: 'NOTIFICATION_AUTH_TOKEN',
      valueFrom: { secretKeyRef: { name: tokenSecret, key: secretNames.notificationToken.key } },
    },
    ...auth,
    { name: 'AWS_XRAY_TRACING_NAME', value: usermgmt.tracingName },
  ]
}

function notificationEnv(
  o: ManifestOptions,
  version: 'V1' | 'V2',
  secretsOf: { smtp: string; token: string },
): k8s.EnvVar[] {
  const fromSmtp = (key: string) => ({ secretKeyRef: { name: secretsOf.smtp, key } })
  return [
    { name: 'AWS_MAIL_SERVER_HOST', value: aliases.smtp },
    // smtp-service is an alias: the certificate is checked against the real SES name.
    { name: 'AWS_MAIL_SERVER_TLS_SERVERNAME', value: o.smtpHost },
    { name: 'AWS_MAIL_SERVER_USERNAME', valueFrom: fromSmtp(secretNames.smtp.usernameKey) },
    { name: 'AWS_MAIL_SERVER_PASSWORD', valueFrom: fromSmtp(secretNames.smtp.passwordKey) },
    { name: 'AWS_MAIL_SERVER_FROM_ADDRESS', value: o.fromAddress },
    {
      name: 'NOTIFICATION_AUTH_TOKEN',
      valueFrom: { secretKeyRef: { name: secretsOf.token, key: secretNames.notificationToken.key } },
    },
    { name: 'AWS_XRAY_TRACING_NAME', value: notification.tracingNames[version] },
    { name: 'APP_VERSION', value: version },
  ]
}

/** The whole EKS deployment of the course, as one chart, in a stable order. */
function buildChart(o: ManifestOptions, secrets: ManifestSecrets): App {
  const app = new App()
  const chart = new Chart(app, 'xray-eks', { disableResourceNameHashes: true })
  const ns = o.namespace

  // Namespaces first, so that kubectl apply creates them before what they hold. Every pod here meets the
  // restricted standard; the Load Balancer Controller's readiness gate holds a rollout until the ALB has the pod.
  new k8s.KubeNamespace(chart, 'ns-app', {
    metadata: { name: ns, labels: namespaceLabels({ 'elbv2.k8s.aws/pod-readiness-gate-inject': 'enabled' }) },
  })
  const irsa =
    o.podIdentity || o.xrayRoleArn === undefined ? undefined : { 'eks.amazonaws.com/role-arn': o.xrayRoleArn }
  const collector = collectorParts(o)
  const names = collectors[collector.kind]
  const configMap = (namespace: string) =>
    new k8s.KubeConfigMap(chart, 'collector-config', {
      metadata: { name: collector.configMap.name, namespace, labels: { ...names.labels } },
      data: { [collector.configMap.key]: collector.configMap.text },
    })
  if (o.daemonSet) {
    const cns = o.daemonSet.namespace
    new k8s.KubeNamespace(chart, 'ns-collector', { metadata: { name: cns, labels: namespaceLabels() } })
    serviceAccount(chart, names.name, cns, irsa)
    configMap(cns)
    new k8s.KubeDaemonSet(chart, 'collector', {
      metadata: { name: names.name, namespace: cns, labels: { ...names.labels } },
      spec: {
        selector: { matchLabels: { ...names.labels } },
        // No hostPort: the new pod can start beside the old one, so a node never goes without a collector.
        updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: int(1), maxUnavailable: int(0) } },
        template: {
          metadata: { labels: { ...names.labels } },
          spec: {
            serviceAccountName: names.name,
            automountServiceAccountToken: false,
            enableServiceLinks: false,
            // Node-local delivery: a node whose collector is missing or preempted loses every trace of its pods.
            priorityClassName: 'system-node-critical',
            tolerations: [{ operator: 'Exists' }],
            nodeSelector: { 'kubernetes.io/os': 'linux' },
            affinity: {
              nodeAffinity: {
                requiredDuringSchedulingIgnoredDuringExecution: {
                  nodeSelectorTerms: [
                    // Tolerating every taint would otherwise place pods on Fargate's virtual nodes, forever Pending.
                    {
                      matchExpressions: [
                        { key: 'eks.amazonaws.com/compute-type', operator: 'NotIn', values: ['fargate'] },
                      ],
                    },
                  ],
                },
              },
            },
            securityContext: podSecurity,
            containers: [collector.container],
            volumes: [...collector.volumes],
          },
        },
      },
    })
    const port = (name: string, number: number, protocol: 'UDP' | 'TCP'): k8s.ServicePort => ({
      name,
      port: number,
      targetPort: int(number),
      protocol,
    })
    new k8s.KubeService(chart, 'collector-service', {
      metadata: { name: collectorService.name, namespace: cns, labels: { ...names.labels } },
      spec: {
        type: 'ClusterIP',
        selector: { ...names.labels },
        // Local: each pod reaches the collector on its own node, as hostPort did, without a host port.
        internalTrafficPolicy: o.daemonSet.address === 'node' ? 'Local' : 'Cluster',
        ports: [
          port('xray-ingest', collectorService.xrayPort, 'UDP'),
          port('xray-tcp', collectorService.xrayPort, 'TCP'),
          ...(names.otlp
            ? [
                port('otlp-grpc', collectorService.otlpGrpcPort, 'TCP'),
                port('otlp-http', collectorService.otlpHttpPort, 'TCP'),
              ]
            : []),
        ],
      },
    })
    serviceAccount(chart, usermgmt.serviceAccount, ns)
    serviceAccount(chart, notification.serviceAccount, ns)
  } else {
    // Fargate: the pods run as the collector's (IRSA) account; the app containers are kept out of its credentials.
    serviceAccount(chart, names.name, ns, irsa)
    configMap(ns)
  }
  new k8s.KubeConfigMap(chart, 'deployment-record', {
    metadata: { name: deploymentRecordName, namespace: ns },
    data: { [deploymentRecordKey]: `${JSON.stringify(deploymentRecordOf(o), null, 2)}\n` },
  })

  // The notification token both roles share: usermgmt sends it, notification accepts only it.
  const tokenSecret = o.notificationTokenSecret ?? secretNames.notificationToken.name
  if (o.notificationTokenSecret === undefined) {
    new k8s.KubeSecret(chart, 'notification-auth-token', {
      metadata: { name: tokenSecret, namespace: ns },
      type: 'Opaque',
      data: { [secretNames.notificationToken.key]: base64(secrets.notificationToken ?? '') },
    })
  }

  // User management: DB password Secret, the RDS ExternalName, Deployment, Service for the ALB.
  const dbSecret = o.dbSecret ?? secretNames.db.name
  if (o.dbSecret === undefined) {
    new k8s.KubeSecret(chart, 'mysql-db-password', {
      metadata: { name: dbSecret, namespace: ns },
      type: 'Opaque',
      data: { [secretNames.db.key]: base64(secrets.dbPassword ?? '') },
    })
  }
  new k8s.KubeService(chart, 'mysql', {
    metadata: { name: aliases.mysql, namespace: ns },
    spec: { type: 'ExternalName', externalName: o.dbHost },
  })
  const autoscaled = o.hpaMax !== undefined
  roleDeployment(chart, o, collector, {
    deployment: usermgmt.deployment,
    container: usermgmt.container,
    serviceAccount: usermgmt.serviceAccount,
    labels: usermgmt.labels,
    selector: usermgmt.labels,
    role: 'usermgmt',
    port: usermgmt.port,
    replicas: autoscaled ? undefined : o.replicas,
    spread: autoscaled || o.replicas > 1,
    env: usermgmtEnv(o, tokenSecret, dbSecret),
    // Out of the Service while the database does not answer; six misses in a row ride out a short blip.
    readiness: {
      httpGet: { path: usermgmt.readinessPath, port: int(usermgmt.port) },
      periodSeconds: 5,
      timeoutSeconds: 5,
      failureThreshold: 6,
    },
    livenessPath: usermgmt.livenessPath,
    preStopSeconds: preStopSeconds.usermgmt,
  })
  new k8s.KubeService(chart, 'usermgmt-service', {
    metadata: { name: usermgmt.service, namespace: ns, labels: { ...usermgmt.labels } },
    spec: {
      type: 'ClusterIP',
      selector: { ...usermgmt.labels },
      ports: [{ name: 'http', port: usermgmt.port, targetPort: int(usermgmt.port), protocol: 'TCP' }],
    },
  })
  disruptionBudget(chart, o, 'usermgmt', { ...usermgmt.labels })
  if (o.hpaMax !== undefined) autoscaler(chart, o, usermgmt.deployment, o.replicas, o.hpaMax)

  // Notification: SMTP credentials Secret, the SES ExternalName, V1 (and the optional V2 canary), ClusterIP Service.
  const smtpSecret = o.smtpSecret ?? secretNames.smtp.name
  if (o.smtpSecret === undefined) {
    new k8s.KubeSecret(chart, 'smtp-credentials', {
      metadata: { name: smtpSecret, namespace: ns },
      type: 'Opaque',
      data: {
        [secretNames.smtp.usernameKey]: base64(secrets.smtpUsername ?? ''),
        [secretNames.smtp.passwordKey]: base64(secrets.smtpPassword ?? ''),
      },
    })
  }
  new k8s.KubeService(chart, 'smtp-service', {
    metadata: { name: aliases.smtp, namespace: ns },
    spec: { type: 'ExternalName', externalName: o.smtpHost },
  })
  const tracks: { version: 'V1' | 'V2'; replicas: number }[] = o.canary
    ? [
        { version: 'V1', replicas: o.canary.v1 },
        { version: 'V2', replicas: o.canary.v2 },
      ]
    : [{ version: 'V1', replicas: o.replicas }]
  for (const track of tracks) {
    roleDeployment(chart, o, collector, {
      deployment: notification.deployments[track.version],
      container: notification.container,
      serviceAccount: notification.serviceAccount,
      labels: notificationTrackLabels(track.version),
      selector: notification.labels,
      role: 'notification',
      port: notification.port,
      replicas: autoscaled ? undefined : track.replicas,
      spread: autoscaled || track.replicas > 1,
      env: notificationEnv(o, track.version, { smtp: smtpSecret, token: tokenSecret }),
      readiness: {
        httpGet: { path: notification.healthPath, port: int(notification.port) },
        periodSeconds: 10,
        timeoutSeconds: 3,
      },
      livenessPath: notification.healthPath,
      preStopSeconds: preStopSeconds.notification,
    })
  }
  new k8s.KubeService(chart, 'notification-service', {
    metadata: { name: notification.service, namespace: ns, labels: { ...notification.labels } },
    spec: {
      type: 'ClusterIP',
      selector: { ...notification.labels },
      ports: [{ name: 'http', port: notification.port, targetPort: int(notification.port), protocol: 'TCP' }],
    },
  })
  disruptionBudget(chart, o, 'notification', { ...notification.labels })
  if (o.hpaMax !== undefined) autoscaler(chart, o, notification.deployments.V1, o.replicas, o.hpaMax)
  // A second wall behind the token, where the cluster enforces NetworkPolicies.
  new k8s.KubeNetworkPolicy(chart, 'notification-from-usermgmt-only', {
    metadata: { name: 'notification-from-usermgmt-only', namespace: ns },
    spec: {
      podSelector: { matchLabels: { ...notification.labels } },
      policyTypes: ['Ingress'],
      ingress: [
        {
          from: [{ podSelector: { matchLabels: { ...usermgmt.labels } } }],
          ports: [{ protocol: 'TCP', port: int(notification.port) }],
        },
      ],
    },
  })

  // The ALB: ip targets (pods directly, the only mode on Fargate), HTTPS with a modern policy, HTTP redirected,
  // hosts for ExternalDNS, and only the /usermgmt prefix.
  const hostList = o.hosts.join(', ')
  new k8s.KubeIngress(chart, 'ingress', {
    metadata: {
      name: ingressName,
      namespace: ns,
      labels: { ...usermgmt.labels },
      annotations: {
        'alb.ingress.kubernetes.io/scheme': 'internet-facing',
        'alb.ingress.kubernetes.io/target-type': 'ip',
        'alb.ingress.kubernetes.io/healthcheck-protocol': 'HTTP',
        'alb.ingress.kubernetes.io/healthcheck-port': 'traffic-port',
        'alb.ingress.kubernetes.io/healthcheck-path': usermgmt.livenessPath,
        'alb.ingress.kubernetes.io/healthcheck-interval-seconds': '15',
        'alb.ingress.kubernetes.io/healthcheck-timeout-seconds': '5',
        'alb.ingress.kubernetes.io/success-codes': '200',
        'alb.ingress.kubernetes.io/healthy-threshold-count': '2',
        'alb.ingress.kubernetes.io/unhealthy-threshold-count': '2',
        // A deregistered pod still finishes what it has; the ALB need not wait the default 300 s for it.
        'alb.ingress.kubernetes.io/target-group-attributes': `deregistration_delay.timeout_seconds=${
          preStopSeconds.usermgmt + appStopSeconds
        }`,
        'alb.ingress.kubernetes.io/listen-ports': '[{"HTTPS":443}, {"HTTP":80}]',
        'alb.ingress.kubernetes.io/certificate-arn': o.certificateArn,
        'alb.ingress.kubernetes.io/ssl-policy': 'ELBSecurityPolicy-TLS13-1-2-2021-06',
        'alb.ingress.kubernetes.io/ssl-redirect': '443',
        'external-dns.alpha.kubernetes.io/hostname': hostList,
        'external-dns.kubernetes.io/hostname': hostList,
      },
    },
    spec: {
      ingressClassName: 'alb',
      rules: o.hosts.map((host) => ({
        host,
        http: {
          paths: [
            {
              path: usermgmt.pathPrefix,
              pathType: 'Prefix',
              backend: { service: { name: usermgmt.service, port: { number: usermgmt.port } } },
            },
          ],
        },
      })),
    },
  })
  return app
}

/** The chart as one multi-document YAML stream for `kubectl apply -f -`. */
export function synthesizeManifests(o: ManifestOptions, secrets: ManifestSecrets): string {
  return buildChart(o, secrets).synthYaml()
}
