import { ApiObject, App, Chart } from 'cdk8s'
import type { ManifestOptions, ManifestSecrets } from './options'

const usermgmtLabels = { app: 'usermgmt-restapp' }
const notificationLabels = { app: 'notification-restapp' }
const daemonLabels = { app: 'xray-daemon' }

// What the course left out: every container non-root, read-only, no capabilities.
const hardened = {
  runAsNonRoot: true,
  runAsUser: 10001,
  runAsGroup: 10001,
  readOnlyRootFilesystem: true,
  allowPrivilegeEscalation: false,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
}

const tmpVolume = { name: 'tmp', emptyDir: { sizeLimit: '64Mi' } }
const tmpMount = { name: 'tmp', mountPath: '/tmp' }

function base64(value: string): string {
  return Buffer.from(value, 'utf8').toString('base64')
}

function daemonContainer(o: ManifestOptions, hostPorts: boolean) {
  return {
    name: 'xray-daemon',
    image: o.daemonImage,
    // The ECR image is FROM scratch with the binary at /xray: keep its entrypoint, pass only the config.
    args: ['-c', '/aws/xray/config.yaml'],
    ports: [
      { name: 'xray-ingest', containerPort: 2000, protocol: 'UDP', ...(hostPorts ? { hostPort: 2000 } : {}) },
      { name: 'xray-tcp', containerPort: 2000, protocol: 'TCP', ...(hostPorts ? { hostPort: 2000 } : {}) },
    ],
    resources: { requests: { cpu: '50m', memory: '24Mi' }, limits: { memory: '24Mi' } },
    volumeMounts: [{ name: 'config-volume', mountPath: '/aws/xray', readOnly: true }],
    securityContext: hardened,
  }
}

const daemonConfigVolume = {
  name: 'config-volume',
  configMap: { name: 'xray-config', items: [{ key: 'config.yaml', path: 'config.yaml' }] },
}

/** How a role finds its daemon: its node's (downward API), the course's Service, or its own sidecar. */
function daemonEnv(o: ManifestOptions) {
  if (o.fargate) return [{ name: 'AWS_XRAY_DAEMON_ADDRESS', value: '127.0.0.1:2000' }]
  if (o.daemonAddress === 'service')
    return [{ name: 'AWS_XRAY_DAEMON_ADDRESS', value: `xray-service.${o.namespace}:2000` }]
  return [
    { name: 'HOST_IP', valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } },
    { name: 'AWS_XRAY_DAEMON_ADDRESS', value: '$(HOST_IP):2000' },
  ]
}

interface RoleSpec {
  readonly name: string
  readonly labels: Record<string, string>
  readonly containerName: string
  readonly role: 'usermgmt' | 'notification'
  readonly port: number
  readonly replicas: number
  readonly env: readonly Record<string, unknown>[]
  readonly readinessPath: string
  readonly livenessPath: string
}

function roleDeployment(chart: Chart, o: ManifestOptions, spec: RoleSpec): void {
  const containers: Record<string, unknown>[] = [
    {
      name: spec.containerName,
      image: o.image,
      imagePullPolicy: 'IfNotPresent',
      command: ['/app'],
      args: ['serve', `--role=${spec.role}`],
      ports: [{ containerPort: spec.port, name: 'http' }],
      env: [
        ...spec.env,
        ...daemonEnv(o),
        { name: 'AWS_XRAY_CONTEXT_MISSING', value: 'LOG_ERROR' },
        // aws.eks on every segment without giving the pods an API token to read amazon-cloudwatch/cluster-info.
        { name: 'EKS_CLUSTER_NAME', value: o.cluster },
      ],
      // We start in milliseconds: no 60 s initial delay, and probes that need no shell (the course's used nc).
      startupProbe: { httpGet: { path: spec.livenessPath, port: spec.port }, periodSeconds: 2, failureThreshold: 30 },
      readinessProbe: { httpGet: { path: spec.readinessPath, port: spec.port }, periodSeconds: 10 },
      livenessProbe: { httpGet: { path: spec.livenessPath, port: spec.port }, periodSeconds: 10, failureThreshold: 3 },
      resources: { requests: { cpu: '100m', memory: '64Mi' }, limits: { cpu: '1', memory: '256Mi' } },
      securityContext: hardened,
      volumeMounts: [tmpMount],
    },
  ]
  const volumes: Record<string, unknown>[] = [tmpVolume]
  if (o.fargate) {
    containers.push(daemonContainer(o, false))
    volumes.push(daemonConfigVolume)
  }
  new ApiObject(chart, spec.name, {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: spec.name, namespace: o.namespace, labels: spec.labels },
    spec: {
      replicas: spec.replicas,
      selector: { matchLabels: { app: spec.labels['app'] } },
      template: {
        metadata: { labels: { ...spec.labels, ...(o.fargate ? { runon: 'fargate' } : {}) } },
        spec: {
          ...(o.fargate ? { serviceAccountName: 'xray-daemon' } : {}),
          automountServiceAccountToken: o.fargate,
          terminationGracePeriodSeconds: 15,
          securityContext: { runAsNonRoot: true, runAsUser: 10001, fsGroup: 10001 },
          containers,
          volumes,
        },
      },
    },
  })
}

function disruptionBudget(chart: Chart, o: ManifestOptions, name: string, labels: Record<string, string>) {
  new ApiObject(chart, `${name}-pdb`, {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: { name: `${name}-pdb`, namespace: o.namespace },
    spec: { maxUnavailable: 1, selector: { matchLabels: labels } },
  })
}

function autoscaler(chart: Chart, o: ManifestOptions, deployment: string) {
  if (o.hpaMax === undefined) return
  new ApiObject(chart, `${deployment}-hpa`, {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: { name: deployment, namespace: o.namespace },
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: deployment },
      minReplicas: o.replicas,
      maxReplicas: Math.max(o.hpaMax, o.replicas),
      metrics: [
        { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } } },
      ],
    },
  })
}

/** The whole EKS deployment of the course, as one chart, in a stable order. */
export function buildChart(o: ManifestOptions, secrets: ManifestSecrets): App {
  const app = new App()
  const chart = new Chart(app, 'xray-eks', { disableResourceNameHashes: true })
  const ns = o.namespace

  // X-Ray daemon: service account (IRSA or Pod Identity), config, DaemonSet (not on Fargate), headless Service.
  new ApiObject(chart, 'xray-daemon-sa', {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: {
      name: 'xray-daemon',
      namespace: ns,
      labels: daemonLabels,
      ...(o.podIdentity || o.xrayRoleArn === undefined
        ? {}
        : { annotations: { 'eks.amazonaws.com/role-arn': o.xrayRoleArn } }),
    },
  })
  new ApiObject(chart, 'xray-config', {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'xray-config', namespace: ns, labels: daemonLabels },
    data: {
      'config.yaml': [
        'TotalBufferSizeMB: 24',
        `Region: "${o.region}"`,
        'Socket:',
        '  UDPAddress: "0.0.0.0:2000"',
        '  TCPAddress: "0.0.0.0:2000"',
        'Version: 2',
        '',
      ].join('\n'),
    },
  })
  if (!o.fargate) {
    new ApiObject(chart, 'xray-daemon', {
      apiVersion: 'apps/v1',
      kind: 'DaemonSet',
      metadata: { name: 'xray-daemon', namespace: ns, labels: daemonLabels },
      spec: {
        selector: { matchLabels: daemonLabels },
        updateStrategy: { type: 'RollingUpdate' },
        template: {
          metadata: { labels: daemonLabels },
          spec: {
            serviceAccountName: 'xray-daemon',
            securityContext: { runAsNonRoot: true, runAsUser: 10001 },
            containers: [daemonContainer(o, true)],
            volumes: [daemonConfigVolume],
          },
        },
      },
    })
  }
  new ApiObject(chart, 'xray-service', {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'xray-service', namespace: ns, labels: daemonLabels },
    spec: {
      selector: daemonLabels,
      clusterIP: 'None',
      ports: [
        { name: 'xray-ingest', port: 2000, protocol: 'UDP' },
        { name: 'xray-tcp', port: 2000, protocol: 'TCP' },
      ],
    },
  })

  // User management: DB password Secret, the RDS ExternalName, Deployment, NodePort Service for the ALB.
  const dbSecret = o.dbSecret ?? 'mysql-db-password'
  if (o.dbSecret === undefined) {
    new ApiObject(chart, 'mysql-db-password', {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: dbSecret, namespace: ns },
      type: 'Opaque',
      data: { 'db-password': base64(secrets.dbPassword ?? '') },
    })
  }
  new ApiObject(chart, 'mysql', {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'mysql', namespace: ns },
    spec: { type: 'ExternalName', externalName: o.dbHost },
  })
  roleDeployment(chart, o, {
    name: 'usermgmt-microservice',
    labels: usermgmtLabels,
    containerName: 'usermgmt-restapp',
    role: 'usermgmt',
    port: 8095,
    replicas: o.replicas,
    readinessPath: '/usermgmt/health-status',
    livenessPath: '/usermgmt/health/status',
    env: [
      { name: 'DB_HOSTNAME', value: 'mysql' },
      { name: 'DB_PORT', value: '3306' },
      { name: 'DB_NAME', value: o.dbName },
      { name: 'DB_USERNAME', value: o.dbUser },
      { name: 'DB_PASSWORD', valueFrom: { secretKeyRef: { name: dbSecret, key: 'db-password' } } },
      { name: 'NOTIFICATION_SERVICE_HOST', value: 'notification-clusterip-service' },
      { name: 'NOTIFICATION_SERVICE_PORT', value: '8096' },
      { name: 'AWS_XRAY_TRACING_NAME', value: 'User-Management-Microservice' },
    ],
  })
  new ApiObject(chart, 'usermgmt-restapp-nodeport-service', {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: 'usermgmt-restapp-nodeport-service',
      namespace: ns,
      labels: usermgmtLabels,
      annotations: { 'alb.ingress.kubernetes.io/healthcheck-path': '/usermgmt/health-status' },
    },
    spec: { type: 'NodePort', selector: usermgmtLabels, ports: [{ port: 8095, targetPort: 8095 }] },
  })
  disruptionBudget(chart, o, 'usermgmt', usermgmtLabels)
  autoscaler(chart, o, 'usermgmt-microservice')

  // Notification: SMTP credentials Secret, the SES ExternalName, V1 (and the optional V2 canary), ClusterIP Service.
  const smtpSecret = o.smtpSecret ?? 'smtp-credentials'
  if (o.smtpSecret === undefined) {
    new ApiObject(chart, 'smtp-credentials', {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: smtpSecret, namespace: ns },
      type: 'Opaque',
      data: { username: base64(secrets.smtpUsername ?? ''), password: base64(secrets.smtpPassword ?? '') },
    })
  }
  new ApiObject(chart, 'smtp-service', {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'smtp-service', namespace: ns },
    spec: { type: 'ExternalName', externalName: o.smtpHost },
  })
  const notificationEnv = (version: 'V1' | 'V2') => [
    { name: 'AWS_MAIL_SERVER_HOST', value: 'smtp-service' },
    // smtp-service is an alias: the certificate is checked against the real SES name.
    { name: 'AWS_MAIL_SERVER_TLS_SERVERNAME', value: o.smtpHost },
    { name: 'AWS_MAIL_SERVER_USERNAME', valueFrom: { secretKeyRef: { name: smtpSecret, key: 'username' } } },
    { name: 'AWS_MAIL_SERVER_PASSWORD', valueFrom: { secretKeyRef: { name: smtpSecret, key: 'password' } } },
    { name: 'AWS_MAIL_SERVER_FROM_ADDRESS', value: o.fromAddress },
    { name: 'AWS_XRAY_TRACING_NAME', value: `${version}-Notification-Microservice` },
    { name: 'APP_VERSION', value: version },
  ]
  roleDeployment(chart, o, {
    name: 'v1-notification-microservice',
    labels: { ...notificationLabels, track: 'stable' },
    containerName: 'notification-service',
    role: 'notification',
    port: 8096,
    replicas: o.canary?.v1 ?? o.replicas,
    readinessPath: '/notification/health-status',
    livenessPath: '/notification/health-status',
    env: notificationEnv('V1'),
  })
  if (o.canary) {
    roleDeployment(chart, o, {
      name: 'v2-notification-microservice',
      labels: { ...notificationLabels, track: 'canary' },
      containerName: 'notification-service',
      role: 'notification',
      port: 8096,
      replicas: o.canary.v2,
      readinessPath: '/notification/health-status',
      livenessPath: '/notification/health-status',
      env: notificationEnv('V2'),
    })
  }
  new ApiObject(chart, 'notification-clusterip-service', {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'notification-clusterip-service', namespace: ns, labels: notificationLabels },
    spec: { type: 'ClusterIP', selector: notificationLabels, ports: [{ port: 8096, targetPort: 8096 }] },
  })
  disruptionBudget(chart, o, 'notification', notificationLabels)
  autoscaler(chart, o, 'v1-notification-microservice')
  new ApiObject(chart, 'notification-from-usermgmt-only', {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: 'notification-from-usermgmt-only', namespace: ns },
    spec: {
      podSelector: { matchLabels: notificationLabels },
      policyTypes: ['Ingress'],
      ingress: [{ from: [{ podSelector: { matchLabels: usermgmtLabels } }], ports: [{ protocol: 'TCP', port: 8096 }] }],
    },
  })

  // The ALB: networking.k8s.io/v1, HTTPS with a modern policy, HTTP redirected, hosts for ExternalDNS.
  const hostList = o.hosts.join(', ')
  new ApiObject(chart, 'eks-microservices-demo', {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: {
      name: 'eks-microservices-demo',
      namespace: ns,
      labels: usermgmtLabels,
      annotations: {
        'alb.ingress.kubernetes.io/scheme': 'internet-facing',
        'alb.ingress.kubernetes.io/healthcheck-protocol': 'HTTP',
        'alb.ingress.kubernetes.io/healthcheck-port': 'traffic-port',
        'alb.ingress.kubernetes.io/healthcheck-path': '/usermgmt/health-status',
        'alb.ingress.kubernetes.io/healthcheck-interval-seconds': '15',
        'alb.ingress.kubernetes.io/healthcheck-timeout-seconds': '5',
        'alb.ingress.kubernetes.io/success-codes': '200',
        'alb.ingress.kubernetes.io/healthy-threshold-count': '2',
        'alb.ingress.kubernetes.io/unhealthy-threshold-count': '2',
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
              path: '/usermgmt',
              pathType: 'Prefix',
              backend: { service: { name: 'usermgmt-restapp-nodeport-service', port: { number: 8095 } } },
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

/** The Step-03 command of the course, filled in (IRSA), or the Pod Identity association. */
export function iamCommand(o: ManifestOptions): string {
  if (o.podIdentity) {
    return [
      'aws eks create-pod-identity-association \\',
      `  --cluster-name ${o.cluster} \\`,
      `  --namespace ${o.namespace} \\`,
      '  --service-account xray-daemon \\',
      '  --role-arn <role with AWSXRayDaemonWriteAccess, trusting pods.eks.amazonaws.com>',
    ].join('\n')
  }
  return [
    'eksctl create iamserviceaccount \\',
    '    --name xray-daemon \\',
    `    --namespace ${o.namespace} \\`,
    `    --cluster ${o.cluster} \\`,
    '    --attach-policy-arn arn:aws:iam::aws:policy/AWSXRayDaemonWriteAccess \\',
    '    --approve \\',
    '    --override-existing-serviceaccounts',
  ].join('\n')
}
