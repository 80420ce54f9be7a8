import { describe, expect, test } from 'bun:test'
import type { IContainer, IPodSpec, IService } from 'kubernetes-models/v1'
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml'
import { type ManifestSecrets, parseManifestOptions, synthesizeManifests } from '.'
import {
  deploymentRuleProblems,
  type ExpectedDeployment,
  type K8sObject,
  namespaceSecurityProblems,
  parseObjects,
  schemaProblems,
  wiringProblems,
  workloads,
} from './checks'

const secrets: ManifestSecrets = {
  dbPassword: 'dbpassword11',
  smtpUsername: 'AKIASESUSER',
  smtpPassword: 'ses-smtp-password',
  notificationToken: '9c1b0f3e6a5d4c2b8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d',
}
const noSecrets: ManifestSecrets = {
  dbPassword: undefined,
  smtpUsername: undefined,
  smtpPassword: undefined,
  notificationToken: undefined,
}
const required = {
  image: '180789647333.dkr.ecr.us-east-1.amazonaws.com/xray-eks-app:0.1.0',
  auth: 'none',
  xrayRoleArn: 'arn:aws:iam::180789647333:role/xray-daemon-eksdemo1-xray-system',
  certificateArn: 'arn:aws:acm:us-east-1:180789647333:certificate/9f042b5d-86fd-4fad-96d0-c81c5abc71e1',
  hosts: ['xraydemo.kubeoncloud.com', 'services-xray.kubeoncloud.com'],
  dbHost: 'usermgmtdb.cxojydmxwly6.us-east-1.rds.amazonaws.com',
  fromAddress: 'stacksimplify@gmail.com',
}
const jwt = {
  auth: 'jwt',
  jwtIssuer: 'https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbCdEf123',
  jwtAudience: '4ub2k7example',
}

interface Case {
  readonly name: string
  readonly input: Readonly<Record<string, unknown>>
  readonly secrets?: ManifestSecrets
}

/** Every supported combination the table covers; each must synthesize and pass every check. */
const cases: readonly Case[] = [
  { name: 'the defaults', input: {} },
  { name: 'jwt authentication', input: jwt },
  { name: 'jwt with its own JWKS URL', input: { ...jwt, jwksUrl: 'https://idp.example.com/keys' } },
  { name: 'Fargate', input: { fargate: true } },
  { name: 'Fargate with three replicas', input: { fargate: true, replicas: 3 } },
  { name: 'Fargate with the canary track', input: { fargate: true, canary: '3:1' } },
  { name: 'Fargate with an HPA', input: { fargate: true, hpaMax: 4 } },
  { name: 'Pod Identity', input: { podIdentity: true, xrayRoleArn: undefined } },
  { name: 'the canary track', input: { canary: '2:1' } },
  { name: 'an HPA', input: { replicas: 2, hpaMax: 6 } },
  { name: 'the daemon address service', input: { daemonAddress: 'service' } },
  {
    name: 'existing Secrets',
    input: { dbSecret: 'my-db', smtpSecret: 'my-smtp', notificationTokenSecret: 'my-token' },
    secrets: noSecrets,
  },
  {
    name: 'another region',
    input: {
      region: 'eu-west-1',
      certificateArn: 'arn:aws:acm:eu-west-1:180789647333:certificate/9f042b5d-86fd-4fad-96d0-c81c5abc71e1',
      dbHost: 'usermgmtdb.cxojydmxwly6.eu-west-1.rds.amazonaws.com',
    },
  },
  { name: 'three replicas', input: { replicas: 3 } },
  { name: 'namespaces of our own', input: { namespace: 'shop', collectorNamespace: 'tracing' } },
  { name: 'TLS checking the CA only', input: { dbSslMode: 'VERIFY_CA', dbHost: 'mysql.internal.example.com' } },
  { name: 'TLS without checks', input: { dbSslMode: 'REQUIRED' } },
  { name: 'no TLS', input: { dbSslMode: 'DISABLED' } },
  { name: 'an SES endpoint of another region', input: { smtpHost: 'email-smtp.eu-central-1.amazonaws.com' } },
  { name: 'the X-Ray daemon, said outright', input: { collector: 'xray-daemon', exporter: 'xray' } },
  { name: 'the CloudWatch agent', input: { collector: 'cloudwatch-agent' } },
  { name: 'the CloudWatch agent receiving OTLP', input: { collector: 'cloudwatch-agent', exporter: 'otlp' } },
  {
    name: 'the CloudWatch agent receiving both, on Fargate',
    input: { collector: 'cloudwatch-agent', exporter: 'xray,otlp', fargate: true },
  },
  {
    name: 'the CloudWatch agent with Pod Identity in another region',
    input: {
      collector: 'cloudwatch-agent',
      exporter: 'otlp',
      podIdentity: true,
      xrayRoleArn: undefined,
      region: 'eu-west-1',
      certificateArn: 'arn:aws:acm:eu-west-1:180789647333:certificate/9f042b5d-86fd-4fad-96d0-c81c5abc71e1',
      dbHost: 'usermgmtdb.cxojydmxwly6.eu-west-1.rds.amazonaws.com',
    },
  },
  { name: 'the ADOT collector', input: { collector: 'adot' } },
  { name: 'the ADOT collector receiving both', input: { collector: 'adot', exporter: 'xray,otlp' } },
  {
    name: 'the ADOT collector receiving OTLP, on Fargate',
    input: { collector: 'adot', exporter: 'otlp', fargate: true },
  },
  {
    name: 'the ADOT collector reached anywhere, in a namespace of our own',
    input: { collector: 'adot', exporter: 'otlp', daemonAddress: 'service', collectorNamespace: 'tracing' },
  },
  {
    name: 'a collector image of our own',
    input: { collector: 'adot', collectorImage: '123456789012.dkr.ecr.us-east-1.amazonaws.com/adot:v0.50.0' },
  },
  {
    name: 'the daemon image by its older flag',
    input: { daemonImage: '123456789012.dkr.ecr.us-east-1.amazonaws.com/xray-daemon:3.6.6' },
  },
]

/** What each collector is called and runs, as the documentation of --collector says. */
const collectorsByKind = {
  'xray-daemon': { name: 'xray-daemon', image: 'public.ecr.aws/xray/aws-xray-daemon:3.6.6', otlp: false },
  'cloudwatch-agent': {
    name: 'cloudwatch-agent',
    image: 'public.ecr.aws/cloudwatch-agent/cloudwatch-agent:1.300072.0b1766',
    otlp: true,
  },
  adot: {
    name: 'adot-collector',
    image: 'public.ecr.aws/aws-observability/aws-otel-collector:v0.50.0',
    otlp: true,
  },
} as const

function optionsOf(c: Case) {
  const result = parseManifestOptions({ ...required, ...c.input }, c.secrets ?? secrets)
  if (!result.ok) throw new Error(result.problems.join('\n'))
  return result.options
}

const text = (input: Readonly<Record<string, unknown>>, key: string) => {
  const value = input[key]
  return typeof value === 'string' ? value : undefined
}

/** What the options ask for, worked out here from the flags' documented meaning, not by the chart's code. */
function expectedFor(c: Case): ExpectedDeployment {
  const input: Readonly<Record<string, unknown>> = { ...required, ...c.input }
  const fargate = input['fargate'] === true
  const region = text(input, 'region') ?? 'us-east-1'
  const namespace = text(input, 'namespace') ?? 'default'
  const collectorNamespace = fargate ? undefined : (text(input, 'collectorNamespace') ?? 'xray-system')
  const hpa = input['hpaMax'] !== undefined
  const replicas = Number(input['replicas'] ?? 1)
  const canary = text(input, 'canary')?.split(':').map(Number)
  const counts: Record<string, number | 'hpa'> = {
    'usermgmt-microservice': hpa ? 'hpa' : replicas,
    'v1-notification-microservice': hpa ? 'hpa' : (canary?.[0] ?? replicas),
  }
  if (canary) counts['v2-notification-microservice'] = canary[1] ?? 0
  const auth =
    input['auth'] === 'jwt'
      ? {
          mode: 'jwt' as const,
          issuer: text(input, 'jwtIssuer') ?? '',
          audience: text(input, 'jwtAudience') ?? '',
          ...(text(input, 'jwksUrl') ? { jwksUrl: text(input, 'jwksUrl') } : {}),
        }
      : { mode: 'none' as const }
  const podIdentity = input['podIdentity'] === true
  const kind = (text(input, 'collector') ?? 'xray-daemon') as keyof typeof collectorsByKind
  const collector = {
    kind,
    ...collectorsByKind[kind],
    image: text(input, 'collectorImage') ?? text(input, 'daemonImage') ?? collectorsByKind[kind].image,
  }
  return {
    namespace,
    collector,
    exporter: (text(input, 'exporter') ?? 'xray') as ExpectedDeployment['exporter'],
    collectorNamespace,
    daemonAddress: fargate ? 'sidecar' : text(input, 'daemonAddress') === 'service' ? 'service' : 'node',
    region,
    smtpHost: text(input, 'smtpHost') ?? `email-smtp.${region}.amazonaws.com`,
    dbHost: text(input, 'dbHost') ?? '',
    dbSslMode: text(input, 'dbSslMode') ?? 'VERIFY_IDENTITY',
    auth,
    tokenSecret: text(input, 'notificationTokenSecret') ?? 'notification-auth-token',
    replicas: counts,
    roleArn: podIdentity ? undefined : text(input, 'xrayRoleArn'),
    record: {
      version: 1,
      image: required.image,
      namespace,
      collector: kind,
      collectorNamespace: collectorNamespace ?? null,
      fargate,
      podIdentity,
      canary: canary !== undefined,
      autoscaling: hpa,
      auth: auth.mode,
    },
  }
}

const externalSecretsOf = (c: Case) =>
  ['dbSecret', 'smtpSecret', 'notificationTokenSecret'].flatMap((key) => text(c.input, key) ?? [])

function synthesizeFresh(c: Case) {
  const yaml = synthesizeManifests(optionsOf(c), c.secrets ?? secrets)
  return { yaml, objects: parseObjects(yaml) }
}

const synthesized = new Map<Case, ReturnType<typeof synthesizeFresh>>()

/** Synthesized once per case; tests that change the objects change a structuredClone. */
function synthesize(c: Case) {
  const done = synthesized.get(c) ?? synthesizeFresh(c)
  synthesized.set(c, done)
  return done
}

function allProblems(c: Case, objects: readonly K8sObject[]) {
  return [
    ...schemaProblems(objects),
    ...wiringProblems(objects, { externalSecrets: externalSecretsOf(c) }),
    ...namespaceSecurityProblems(objects),
    ...deploymentRuleProblems(objects, expectedFor(c)),
  ]
}

describe('./app manifests, for every supported combination of options', () => {
  test.each(cases.map((c) => [c.name, c] as const))(
    'GIVEN %s WHEN synthesized THEN every object is valid, wired, meets Pod Security and the EKS rules',
    (_, c) => {
      const { objects } = synthesize(c)
      expect(allProblems(c, objects)).toEqual([])
    },
  )

  test.each(cases.map((c) => [c.name, c] as const))(
    'GIVEN %s WHEN synthesized THEN no secret value appears outside Secret data, where it is base64',
    (_, c) => {
      const { yaml, objects } = synthesize(c)
      const given = c.secrets ?? secrets
      for (const value of Object.values(given)) if (value) expect(yaml).not.toContain(value)
      const made = objects.filter((o) => o.kind === 'Secret')
      expect(made.map((o) => o.metadata.name).sort()).toEqual(
        (
          [
            ['dbSecret', 'mysql-db-password'],
            ['smtpSecret', 'smtp-credentials'],
            ['notificationTokenSecret', 'notification-auth-token'],
          ] as const
        )
          .filter(([key]) => text(c.input, key) === undefined)
          .map(([, name]) => name)
          .sort(),
      )
      const data = Object.assign({}, ...made.map((o) => o['data'] as Record<string, string>))
      const decoded = Object.values(data).map((v) => Buffer.from(String(v), 'base64').toString('utf8'))
      expect(decoded.sort()).toEqual(
        Object.values(given)
          .filter((v) => v !== undefined)
          .sort(),
      )
    },
  )

  test('is stable: the same options give the same YAML, kept as snapshots of the EC2 and Fargate layouts and of each other collector', () => {
    const defaults = cases[0] ?? { name: '', input: {} }
    const fargate = { name: 'fargate', input: { fargate: true, replicas: 2 } }
    const cloudwatchAgent = { name: 'cloudwatch-agent', input: { collector: 'cloudwatch-agent', exporter: 'otlp' } }
    const adot = { name: 'adot', input: { collector: 'adot', exporter: 'xray,otlp', fargate: true } }
    expect(synthesizeFresh(defaults).yaml).toBe(synthesizeFresh(defaults).yaml)
    expect(synthesize(defaults).yaml).toMatchSnapshot()
    expect(synthesize(fargate).yaml).toMatchSnapshot()
    expect(synthesize(cloudwatchAgent).yaml).toMatchSnapshot()
    expect(synthesize(adot).yaml).toMatchSnapshot()
  })
})

// The checks above must be able to fail: each broken fixture below is a correct deployment with one thing
// changed, as a regression would change it, and the check that guards that thing must name it.
type Fixture = readonly [string, Case, (objects: K8sObject[]) => void, string]

function one<T>(objects: readonly K8sObject[], kind: string, name: string): K8sObject & T {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name)
  if (found === undefined) throw new Error(`fixture: no ${kind} ${name}`)
  // The objects passed the schema check of the test above.
  return found as K8sObject & T
}

function podOf(objects: readonly K8sObject[], name: string): IPodSpec {
  const found = workloads(objects).find((w) => w.object.metadata.name === name)
  if (found === undefined) throw new Error(`fixture: no workload ${name}`)
  return found.template.spec
}

function containerOf(objects: readonly K8sObject[], name: string) {
  const container = podOf(objects, name).containers[0]
  if (container === undefined) throw new Error(`fixture: ${name} has no container`)
  return container
}

function envOf(objects: readonly K8sObject[], workload: string, name: string) {
  const variable = containerOf(objects, workload).env?.find((v) => v.name === name)
  if (variable === undefined) throw new Error(`fixture: no env ${name}`)
  return variable
}

const defaults = cases[0] ?? { name: 'defaults', input: {} }
const fargate: Case = { name: 'fargate', input: { fargate: true } }
const hpa: Case = { name: 'hpa', input: { replicas: 2, hpaMax: 6 } }
const spread: Case = { name: 'spread', input: { replicas: 3 } }
const jwtCase: Case = { name: 'jwt', input: jwt }
const user = 'usermgmt-microservice'
const mail = 'v1-notification-microservice'
const adot: Case = { name: 'adot', input: { collector: 'adot', exporter: 'xray,otlp' } }
const adotFargate: Case = { name: 'adot on Fargate', input: { collector: 'adot', exporter: 'otlp', fargate: true } }
const cloudwatchAgent: Case = { name: 'cloudwatch-agent', input: { collector: 'cloudwatch-agent', exporter: 'otlp' } }
const daemonSet = (objects: readonly K8sObject[]) => podOf(objects, 'xray-daemon')

/** The collector container of a DaemonSet, or the sidecar of a Deployment. */
function collectorContainer(objects: readonly K8sObject[], workload: string, name: string): IContainer {
  const pod = podOf(objects, workload)
  const container = [...pod.containers, ...(pod.initContainers ?? [])].find((c) => c.name === name)
  if (container === undefined) throw new Error(`fixture: no container ${name} in ${workload}`)
  return container
}

type Json = Record<string, unknown>

/** A collector's config file, parsed, changed, and written back as the format it is in. */
function editConfig(objects: readonly K8sObject[], configMap: string, key: string, edit: (config: Json) => void) {
  const map = one<{ data: Record<string, string> }>(objects, 'ConfigMap', configMap)
  const json = key.endsWith('.json')
  const text = map.data[key] ?? ''
  // The file passed every config check of the test above.
  const config = (json ? JSON.parse(text) : parseYaml(text)) as Json
  edit(config)
  map.data[key] = json ? JSON.stringify(config) : stringifyYaml(config)
}

/** The object at a path of a parsed config (which passed its checks, so the path exists). */
const at = (root: Json, ...path: string[]): Json => path.reduce((node, key) => node[key] as Json, root)

const daemonContainer = (objects: readonly K8sObject[]) => {
  const container = daemonSet(objects).containers[0]
  if (container === undefined) throw new Error('fixture: no daemon container')
  return container
}

const broken: readonly Fixture[] = [
  // Schemas
  [
    'a container port given as text',
    defaults,
    (all) => Object.assign(containerOf(all, user).ports?.[0] ?? {}, { containerPort: 'http' }),
    'Deployment default/usermgmt-microservice:',
  ],
  // Wiring
  [
    'a Service selecting no pods',
    defaults,
    (all) => {
      const service = one<IService>(all, 'Service', 'usermgmt-restapp-nodeport-service')
      Object.assign(service.spec?.selector ?? {}, { app: 'usermgmt-typo' })
    },
    'usermgmt-restapp-nodeport-service: selects no pods',
  ],
  [
    'a Service port no container listens on',
    defaults,
    (all) =>
      Object.assign(one<IService>(all, 'Service', 'notification-clusterip-service').spec?.ports?.[0] ?? {}, {
        targetPort: 8080,
      }),
    'port 8080/TCP is not a port of Deployment default/v1-notification-microservice',
  ],
  [
    'a secret key that the Secret lacks',
    defaults,
    (all) => Object.assign(envOf(all, user, 'DB_PASSWORD').valueFrom?.secretKeyRef ?? {}, { key: 'db-pass' }),
    'env DB_PASSWORD reads key db-pass, which Secret mysql-db-password lacks',
  ],
  [
    'a Secret neither made nor given',
    defaults,
    (all) => Object.assign(envOf(all, mail, 'NOTIFICATION_AUTH_TOKEN').valueFrom?.secretKeyRef ?? {}, { name: 'gone' }),
    'env NOTIFICATION_AUTH_TOKEN reads Secret gone, which is neither made nor given',
  ],
  [
    'a $(VAR) used before it is defined',
    defaults,
    (all) => containerOf(all, user).env?.unshift({ name: 'DAEMON', value: '$(HOST_IP):2000' }, { name: 'HOST_IP' }),
    'env DAEMON refers to $(HOST_IP), not defined before it',
  ],
  [
    'a probe on a port the container does not open',
    defaults,
    (all) => Object.assign(containerOf(all, user).readinessProbe?.httpGet ?? {}, { port: 9999 }),
    'readinessProbe port 9999 is not a port of the container',
  ],
  [
    'a mount of a volume the pod lacks',
    defaults,
    (all) => containerOf(all, user).volumeMounts?.push({ name: 'cache', mountPath: '/cache' }),
    'mounts volume cache, which the pod lacks',
  ],
  [
    'a config volume naming a ConfigMap that is not made',
    defaults,
    (all) => Object.assign(daemonSet(all).volumes?.[0]?.configMap ?? {}, { name: 'xray-cfg' }),
    'needs ConfigMap xray-cfg',
  ],
  [
    'a service account that is not made',
    defaults,
    (all) => Object.assign(podOf(all, mail), { serviceAccountName: 'notification' }),
    'service account notification is not among the objects',
  ],
  [
    'an Ingress to a port its Service lacks',
    defaults,
    (all) => {
      const ingress = one<{ spec: { rules: { http: { paths: { backend: { service: { port: object } } }[] } }[] } }>(
        all,
        'Ingress',
        'eks-microservices-demo',
      )
      Object.assign(ingress.spec.rules[0]?.http.paths[0]?.backend.service.port ?? {}, { number: 80 })
    },
    '/usermgmt goes to usermgmt-restapp-nodeport-service:80, no such port',
  ],
  [
    'an HPA of a Deployment that is not made',
    hpa,
    (all) =>
      Object.assign(
        one<{ spec: { scaleTargetRef: object } }>(all, 'HorizontalPodAutoscaler', mail).spec.scaleTargetRef,
        { name: 'v1-notification' },
      ),
    'scales Deployment v1-notification, which is not among the objects',
  ],
  [
    'a disruption budget selecting no pods',
    defaults,
    (all) =>
      Object.assign(
        one<{ spec: { selector: { matchLabels: object } } }>(all, 'PodDisruptionBudget', 'usermgmt-pdb').spec.selector
          .matchLabels,
        { app: 'usermgmt' },
      ),
    'PodDisruptionBudget default/usermgmt-pdb: selects no pods',
  ],
  [
    'a NetworkPolicy letting in pods that do not exist',
    defaults,
    (all) => {
      const policy = one<{ spec: { ingress: { from: { podSelector: { matchLabels: object } }[] }[] } }>(
        all,
        'NetworkPolicy',
        'notification-from-usermgmt-only',
      )
      Object.assign(policy.spec.ingress[0]?.from[0]?.podSelector.matchLabels ?? {}, { app: 'usermgmt' })
    },
    'lets in pods that do not exist',
  ],
  [
    'a Deployment whose selector misses its own pods',
    defaults,
    (all) =>
      Object.assign(
        one<{ spec: { selector: { matchLabels: object } } }>(all, 'Deployment', mail).spec.selector.matchLabels,
        { track: 'v1' },
      ),
    'v1-notification-microservice: its selector does not match its own pod labels',
  ],
  [
    'an object in a namespace that is not made',
    defaults,
    (all) =>
      all.splice(
        all.findIndex((o) => o.kind === 'Namespace' && o.metadata.name === 'xray-system'),
        1,
      ),
    'DaemonSet xray-system/xray-daemon: its namespace is not among the objects',
  ],
  // Pod Security (restricted in both namespaces)
  [
    'a hostPort',
    defaults,
    (all) => Object.assign(daemonContainer(all).ports?.[0] ?? {}, { hostPort: 2000 }),
    'Host Ports: container xray-daemon uses a hostPort',
  ],
  [
    'privilege escalation',
    defaults,
    (all) => Object.assign(containerOf(all, user).securityContext ?? {}, { allowPrivilegeEscalation: true }),
    'Privilege Escalation: container usermgmt-restapp may escalate',
  ],
  [
    'a container that may run as root',
    defaults,
    (all) => {
      Object.assign(containerOf(all, mail).securityContext ?? {}, { runAsNonRoot: undefined })
      Object.assign(podOf(all, mail).securityContext ?? {}, { runAsNonRoot: undefined })
    },
    'Running as Non-root: container notification-service is not runAsNonRoot',
  ],
  [
    'uid 0',
    defaults,
    (all) => Object.assign(podOf(all, mail).securityContext ?? {}, { runAsUser: 0 }),
    'Running as Non-root user: pod runAsUser 0',
  ],
  [
    'an added capability',
    defaults,
    (all) => Object.assign(daemonContainer(all).securityContext?.capabilities ?? {}, { add: ['NET_ADMIN'] }),
    'Capabilities: container xray-daemon adds NET_ADMIN',
  ],
  [
    'capabilities kept',
    defaults,
    (all) => Object.assign(containerOf(all, user).securityContext?.capabilities ?? {}, { drop: [] }),
    'Capabilities: container usermgmt-restapp does not drop ALL',
  ],
  [
    'a hostPath volume',
    defaults,
    (all) => daemonSet(all).volumes?.push({ name: 'logs', hostPath: { path: '/var/log' } }),
    'HostPath Volumes: a hostPath volume',
  ],
  [
    'an unconfined seccomp profile',
    defaults,
    (all) => Object.assign(containerOf(all, user).securityContext ?? {}, { seccompProfile: { type: 'Unconfined' } }),
    'Seccomp: container usermgmt-restapp profile Unconfined',
  ],
  [
    'a privileged container',
    defaults,
    (all) => Object.assign(daemonContainer(all).securityContext ?? {}, { privileged: true }),
    'Privileged Containers: container xray-daemon',
  ],
  ['the host network', defaults, (all) => Object.assign(daemonSet(all), { hostNetwork: true }), 'Host Namespaces'],
  [
    'an unsafe sysctl',
    defaults,
    (all) =>
      Object.assign(podOf(all, user).securityContext ?? {}, { sysctls: [{ name: 'kernel.msgmax', value: '1' }] }),
    'Sysctls: kernel.msgmax',
  ],
  [
    'a hostPort in a namespace that enforces only baseline',
    defaults,
    (all) => {
      Object.assign(one(all, 'Namespace', 'xray-system').metadata.labels ?? {}, {
        'pod-security.kubernetes.io/enforce': 'baseline',
      })
      Object.assign(daemonContainer(all).ports?.[0] ?? {}, { hostPort: 2000 })
    },
    'in a baseline namespace: Host Ports',
  ],
  // The EKS rules
  [
    'instance targets',
    defaults,
    (all) =>
      Object.assign(one(all, 'Ingress', 'eks-microservices-demo').metadata.annotations ?? {}, {
        'alb.ingress.kubernetes.io/target-type': 'instance',
      }),
    'target-type instance, not ip',
  ],
  [
    'notification on the Ingress',
    defaults,
    (all) => {
      const ingress = one<{ spec: { rules: { http: { paths: { path: string; backend: { service: object } }[] } }[] } }>(
        all,
        'Ingress',
        'eks-microservices-demo',
      )
      ingress.spec.rules[0]?.http.paths.push({
        path: '/notification',
        backend: { service: { name: 'notification-clusterip-service', port: { number: 8096 } } },
      })
    },
    'routes /notification to notification-clusterip-service; only /usermgmt to usermgmt may be public',
  ],
  [
    'replicas beside an HPA',
    hpa,
    (all) => Object.assign(one<{ spec: object }>(all, 'Deployment', user).spec, { replicas: 2 }),
    'usermgmt-microservice: sets spec.replicas beside its HPA',
  ],
  [
    'the SES endpoint of the default region',
    cases.find((c) => c.name === 'another region') ?? defaults,
    (all) =>
      Object.assign(one<IService>(all, 'Service', 'smtp-service').spec ?? {}, {
        externalName: 'email-smtp.us-east-1.amazonaws.com',
      }),
    'smtp-service: points at email-smtp.us-east-1.amazonaws.com, not email-smtp.eu-west-1.amazonaws.com',
  ],
  [
    "the daemon's config for another region",
    defaults,
    (all) => {
      const config = one<{ data: Record<string, string> }>(all, 'ConfigMap', 'xray-config')
      config.data['config.yaml'] = (config.data['config.yaml'] ?? '').replace('us-east-1', 'eu-west-1')
    },
    'xray-daemon config: Region is eu-west-1, not us-east-1',
  ],
  [
    'a daemon without tolerations',
    defaults,
    (all) => Object.assign(daemonSet(all), { tolerations: [] }),
    'does not tolerate every taint',
  ],
  [
    'a daemon without priority',
    defaults,
    (all) => Object.assign(daemonSet(all), { priorityClassName: undefined }),
    'priority class is undefined, not system-node-critical',
  ],
  ['a daemon on any OS', defaults, (all) => Object.assign(daemonSet(all), { nodeSelector: {} }), 'not Linux only'],
  [
    "a daemon limited to its buffer's size",
    defaults,
    (all) => Object.assign(daemonContainer(all).resources?.limits ?? {}, { memory: '24Mi' }),
    'daemon memory limit 24Mi for a 24 MB buffer',
  ],
  [
    'node mode reaching any daemon',
    defaults,
    (all) =>
      Object.assign(one<IService>(all, 'Service', 'xray-service').spec ?? {}, { internalTrafficPolicy: 'Cluster' }),
    'xray-service: internalTrafficPolicy Cluster, not Local',
  ],
  [
    'a Fargate sidecar that is a plain init container',
    fargate,
    (all) => Object.assign(podOf(all, user).initContainers?.[0] ?? {}, { restartPolicy: undefined }),
    'usermgmt-microservice: no native sidecar xray-daemon',
  ],
  [
    'a Fargate app container given AWS credentials',
    fargate,
    (all) => {
      const annotations = workloads(all).find((w) => w.object.metadata.name === mail)?.template.metadata?.annotations
      if (annotations) delete annotations['eks.amazonaws.com/skip-containers']
    },
    'eks.amazonaws.com/skip-containers is , not the app',
  ],
  [
    'an API token in an app pod',
    defaults,
    (all) => Object.assign(podOf(all, mail), { automountServiceAccountToken: true }),
    'v1-notification-microservice: mounts an API token',
  ],
  [
    'an app pod running as the daemon',
    defaults,
    (all) => {
      Object.assign(podOf(all, user), { serviceAccountName: 'xray-daemon' })
      all.push({
        ...one(all, 'ServiceAccount', 'xray-daemon'),
        metadata: { name: 'xray-daemon', namespace: 'default' },
      })
    },
    "usermgmt-microservice: runs as the collector's service account",
  ],
  [
    'a preStop hook that needs a shell',
    defaults,
    (all) => Object.assign(containerOf(all, user).lifecycle ?? {}, { preStop: { exec: { command: ['sleep', '15'] } } }),
    'no preStop sleep action',
  ],
  [
    'a grace period shorter than preStop and drain',
    defaults,
    (all) => Object.assign(podOf(all, user), { terminationGracePeriodSeconds: 20 }),
    'grace period 20 s is not longer than preStop and drain',
  ],
  [
    'replicas in one zone',
    spread,
    (all) => Object.assign(podOf(all, user), { topologySpreadConstraints: undefined }),
    'usermgmt-microservice: more than one replica, not spread across zones',
  ],
  [
    'readiness on the fixed-text endpoint',
    defaults,
    (all) => Object.assign(containerOf(all, user).readinessProbe?.httpGet ?? {}, { path: '/usermgmt/health-status' }),
    'usermgmt: readiness is not /usermgmt/health/readiness',
  ],
  [
    'readiness that flaps on a blip',
    defaults,
    (all) => Object.assign(containerOf(all, user).readinessProbe ?? {}, { failureThreshold: 1 }),
    'usermgmt: readiness fails within 20 s of a database blip',
  ],
  [
    'identity checked against the alias',
    defaults,
    (all) => Object.assign(envOf(all, user, 'DB_HOSTNAME'), { value: 'mysql' }),
    'usermgmt: DB_HOSTNAME mysql, not usermgmtdb.cxojydmxwly6.us-east-1.rds.amazonaws.com',
  ],
  [
    'jwt asked for, none deployed',
    jwtCase,
    (all) => Object.assign(envOf(all, user, 'AUTH_MODE'), { value: 'none' }),
    'usermgmt: AUTH_MODE is none, not jwt',
  ],
  [
    'notification without the token',
    defaults,
    (all) => {
      const container = containerOf(all, mail)
      container.env = container.env?.filter((v) => v.name !== 'NOTIFICATION_AUTH_TOKEN')
    },
    'NOTIFICATION_AUTH_TOKEN does not come from Secret notification-auth-token key token',
  ],
  [
    'an app namespace that enforces only baseline',
    defaults,
    (all) =>
      Object.assign(one(all, 'Namespace', 'default').metadata.labels ?? {}, {
        'pod-security.kubernetes.io/enforce': 'baseline',
      }),
    'namespace default: does not enforce restricted',
  ],
  [
    'a deployment record that says Fargate',
    defaults,
    (all) => {
      const record = one<{ data: Record<string, string> }>(all, 'ConfigMap', 'xray-eks-app')
      record.data['deployment.json'] = (record.data['deployment.json'] ?? '').replace(
        '"fargate": false',
        '"fargate": true',
      )
    },
    'deployment record',
  ],
  [
    'a daemon account without its role',
    defaults,
    (all) => Object.assign(one(all, 'ServiceAccount', 'xray-daemon').metadata, { annotations: undefined }),
    'xray-daemon service account: role undefined',
  ],
  // Each collector's own configuration, and who sends to it
  [
    "a key the X-Ray daemon's config does not have",
    defaults,
    (all) =>
      editConfig(all, 'xray-config', 'config.yaml', (config) => {
        config['Regoin'] = config['Region']
        delete config['Region']
      }),
    'xray-daemon config: /aws/xray/config.yaml: Region: ',
  ],
  [
    'an ADOT receiver key the collector does not know',
    adot,
    (all) =>
      editConfig(all, 'adot-collector-config', 'config.yaml', (config) => {
        Object.assign(at(config, 'receivers', 'otlp', 'protocols', 'http'), { endpont: '0.0.0.0:4318' })
      }),
    'adot config: /etc/adot/config.yaml: receivers.otlp.protocols.http: Unrecognized key',
  ],
  [
    'an ADOT pipeline without the OTLP receiver',
    adot,
    (all) =>
      editConfig(all, 'adot-collector-config', 'config.yaml', (config) => {
        Object.assign(at(config, 'service', 'pipelines', 'traces'), { receivers: ['awsxray'] })
      }),
    'adot config: the traces pipeline lacks receiver otlp',
  ],
  [
    'an ADOT pipeline naming a processor it does not define',
    adot,
    (all) =>
      editConfig(all, 'adot-collector-config', 'config.yaml', (config) => {
        Object.assign(at(config, 'service', 'pipelines', 'traces'), { processors: ['memory_limiter', 'batch'] })
      }),
    'adot config: pipeline traces names processors batch, which is not defined',
  ],
  [
    'an ADOT exporter for another region',
    adot,
    (all) =>
      editConfig(all, 'adot-collector-config', 'config.yaml', (config) => {
        Object.assign(at(config, 'exporters', 'awsxray'), { region: 'eu-west-1' })
      }),
    'adot config: exporters.awsxray.region is eu-west-1, not us-east-1',
  ],
  [
    'an ADOT collector that drops random W3C trace ids',
    adot,
    (all) => {
      const container = collectorContainer(all, 'adot-collector', 'adot-collector')
      container.args = container.args?.map((arg) =>
        arg.startsWith('--feature-gates=') ? '--feature-gates=-exporter.awsxray.skiptimestampvalidation' : arg,
      )
    },
    'adot config: exporter.awsxray.skiptimestampvalidation is not on',
  ],
  [
    'an ADOT collector reading a config that is not mounted',
    adot,
    (all) => {
      const container = collectorContainer(all, 'adot-collector', 'adot-collector')
      container.args = ['--config=/etc/otelcol/config.yaml']
    },
    'adot config: reads config /etc/otelcol/config.yaml, which no mounted ConfigMap holds',
  ],
  [
    'an ADOT sidecar listening beyond its pod',
    adotFargate,
    (all) =>
      editConfig(all, 'adot-collector-config', 'config.yaml', (config) => {
        Object.assign(at(config, 'receivers', 'otlp', 'protocols', 'http'), { endpoint: '0.0.0.0:4318' })
      }),
    'usermgmt-microservice container adot-collector: adot config: otlpHttp listens on 0.0.0.0:4318, not 127.0.0.1:4318',
  ],
  [
    'an ADOT collector without a memory limit',
    adot,
    (all) => {
      const resources = collectorContainer(all, 'adot-collector', 'adot-collector').resources
      if (resources) delete resources.limits
    },
    'container adot-collector: memory limit 0Mi, below its request 128Mi or none',
  ],
  [
    'a collector image other than the one asked for',
    adot,
    (all) =>
      Object.assign(collectorContainer(all, 'adot-collector', 'adot-collector'), {
        image: 'public.ecr.aws/aws-observability/aws-otel-collector:v0.40.0',
      }),
    'image public.ecr.aws/aws-observability/aws-otel-collector:v0.40.0, not public.ecr.aws/aws-observability/aws-otel-collector:v0.50.0',
  ],
  [
    'a CloudWatch agent config key the agent does not know',
    cloudwatchAgent,
    (all) =>
      editConfig(all, 'cloudwatch-agent-config', 'cwagentconfig.json', (config) => {
        const xray = at(config, 'traces', 'traces_collected', 'xray')
        xray['bind_adress'] = xray['bind_address']
        delete xray['bind_address']
      }),
    'cloudwatch-agent config: /etc/cwagentconfig/cwagentconfig.json: traces.traces_collected.xray',
  ],
  [
    'a CloudWatch agent receiving OTLP on another port than the roles send to',
    cloudwatchAgent,
    (all) =>
      editConfig(all, 'cloudwatch-agent-config', 'cwagentconfig.json', (config) => {
        Object.assign(at(config, 'traces', 'traces_collected', 'otlp'), { http_endpoint: '0.0.0.0:4319' })
      }),
    'usermgmt-microservice container usermgmt-restapp: sends OTLP to http://xray-service.xray-system:4318/v1/traces, where no collector receives OTLP over HTTP',
  ],
  [
    'a CloudWatch agent looking for the node role',
    cloudwatchAgent,
    (all) => {
      const container = collectorContainer(all, 'cloudwatch-agent', 'cloudwatch-agent')
      container.env = container.env?.filter((v) => v.name !== 'RUN_WITH_IRSA')
    },
    'cloudwatch-agent config: RUN_WITH_IRSA is not True',
  ],
  [
    'a collector Service without its OTLP port',
    cloudwatchAgent,
    (all) => {
      const spec = one<IService>(all, 'Service', 'xray-service').spec
      if (spec) spec.ports = spec.ports?.filter((p) => p.port !== 4318)
    },
    'sends OTLP to http://xray-service.xray-system:4318/v1/traces, where no collector receives OTLP over HTTP',
  ],
  [
    'the roles sending OTLP to the X-Ray daemon',
    defaults,
    (all) => {
      for (const name of [user, mail]) {
        containerOf(all, name).env?.push(
          { name: 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', value: 'http://xray-service.xray-system:4318/v1/traces' },
          { name: 'OTEL_EXPORTER_OTLP_PROTOCOL', value: 'http/protobuf' },
        )
      }
    },
    'usermgmt-microservice container usermgmt-restapp: sends OTLP to http://xray-service.xray-system:4318/v1/traces, where no collector receives OTLP over HTTP',
  ],
  [
    'an OTLP endpoint without the traces path',
    adot,
    (all) =>
      Object.assign(envOf(all, mail, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'), {
        value: 'http://xray-service.xray-system:4318',
      }),
    'OTLP endpoint http://xray-service.xray-system:4318 is not http://host:port/v1/traces',
  ],
  [
    'the roles left on the X-Ray exporter when OTLP was asked for',
    adotFargate,
    (all) => Object.assign(envOf(all, user, 'OTEL_TRACES_EXPORTER'), { value: 'xray' }),
    'usermgmt-restapp: OTEL_TRACES_EXPORTER is xray, not otlp',
  ],
]

describe('the checks of ./app manifests catch what they guard', () => {
  test.each(broken.map((fixture) => [fixture[0], fixture] as const))(
    'GIVEN a correct deployment with %s WHEN checked THEN a check names it',
    (_, [, c, breakIt, expected]) => {
      const objects = structuredClone(synthesize(c).objects)
      expect(allProblems(c, objects)).toEqual([])
      breakIt(objects)
      expect(allProblems(c, objects).join('\n')).toContain(expected)
    },
  )

  test('a namespace enforcing privileged lets a hostPort through, as Kubernetes would', () => {
    const objects = structuredClone(synthesize(defaults).objects)
    Object.assign(one(objects, 'Namespace', 'xray-system').metadata.labels ?? {}, {
      'pod-security.kubernetes.io/enforce': 'privileged',
    })
    Object.assign(daemonContainer(objects).ports?.[0] ?? {}, { hostPort: 2000 })
    expect(namespaceSecurityProblems(objects)).toEqual([])
  })
})
