import { describe, expect, test } from 'bun:test'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DaemonSet, Deployment } from 'kubernetes-models/apps/v1'
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2'
import { Ingress, NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1'
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1'
import { ConfigMap, Secret, Service, ServiceAccount } from 'kubernetes-models/v1'
import { parseAllDocuments } from 'yaml'
import { runApp } from '../services/testing'
import { type ManifestOptions, parseManifestOptions, synthesizeManifests } from '.'

const secrets = { dbPassword: 'dbpassword11', smtpUsername: 'AKIASESUSER', smtpPassword: 'ses-smtp-password' }
const required = {
  xrayRoleArn: 'arn:aws:iam::180789647333:role/eksctl-eksdemo1-addon-iamserviceaccount-Role1',
  certificateArn: 'arn:aws:acm:us-east-1:180789647333:certificate/9f042b5d-86fd-4fad-96d0-c81c5abc71e1',
  hosts: ['xraydemo.kubeoncloud.com', 'services-xray.kubeoncloud.com'],
  dbHost: 'usermgmtdb.cxojydmxwly6.us-east-1.rds.amazonaws.com',
  fromAddress: 'stacksimplify@gmail.com',
}

type K8sObject = {
  apiVersion: string
  kind: string
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> }
  [key: string]: unknown
}

function options(extra: Record<string, unknown> = {}): ManifestOptions {
  const result = parseManifestOptions({ ...required, ...extra }, secrets)
  if (!result.ok) throw new Error(result.problems.join('\n'))
  return result.options
}

function objects(yaml: string): K8sObject[] {
  return parseAllDocuments(yaml).map((doc) => doc.toJS() as K8sObject)
}

const models: Record<string, new (data: never) => { validate(): void }> = {
  'v1/ServiceAccount': ServiceAccount,
  'v1/ConfigMap': ConfigMap,
  'v1/Service': Service,
  'v1/Secret': Secret,
  'apps/v1/DaemonSet': DaemonSet,
  'apps/v1/Deployment': Deployment,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'networking.k8s.io/v1/Ingress': Ingress,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
}

function find(all: K8sObject[], kind: string, name: string): K8sObject {
  const found = all.find((o) => o.kind === kind && o.metadata.name === name)
  if (!found) throw new Error(`no ${kind} ${name}`)
  return found
}
type PodSpec = {
  containers: {
    name: string
    env?: { name: string; value?: string; valueFrom?: unknown }[]
    ports?: { containerPort: number }[]
    readinessProbe?: { httpGet: { path: string; port: number } }
    livenessProbe?: { httpGet: { path: string } }
  }[]
}
const podSpec = (o: K8sObject) =>
  (o['spec'] as { template: { metadata: { labels: Record<string, string> }; spec: PodSpec } }).template

describe('./app manifests', () => {
  const full = synthesizeManifests(options({ canary: '2:2', hpaMax: 4 }), secrets)
  const all = objects(full)

  test('GIVEN representative options WHEN synthesized THEN every object validates against the Kubernetes schemas', () => {
    for (const object of all) {
      const Model = models[`${object.apiVersion}/${object.kind}`]
      expect(Model).toBeDefined()
      if (Model) expect(() => new Model(object as never).validate()).not.toThrow()
    }
  })

  test('has a counterpart for every object of the course, with the names the wiring depends on', () => {
    const course = [
      ['ServiceAccount', 'xray-daemon'],
      ['ConfigMap', 'xray-config'],
      ['DaemonSet', 'xray-daemon'],
      ['Service', 'xray-service'],
      ['Service', 'mysql'],
      ['Deployment', 'usermgmt-microservice'],
      ['Secret', 'mysql-db-password'],
      ['Service', 'usermgmt-restapp-nodeport-service'],
      ['Deployment', 'v1-notification-microservice'],
      ['Service', 'smtp-service'],
      ['Service', 'notification-clusterip-service'],
      ['Ingress', 'eks-microservices-demo'],
    ]
    for (const [kind, name] of course)
      expect(find(all, kind as string, name as string).metadata.name).toBe(name as string)
    expect(find(all, 'Service', 'mysql')['spec']).toEqual({ type: 'ExternalName', externalName: required.dbHost })
    expect(find(all, 'ServiceAccount', 'xray-daemon').metadata.annotations).toEqual({
      'eks.amazonaws.com/role-arn': required.xrayRoleArn,
    })
  })

  test('wires Services to pods: selectors match labels, ports match container ports, env names match Services', () => {
    const services = all.filter((o) => o.kind === 'Service')
    const workloads = all.filter((o) => o.kind === 'Deployment' || o.kind === 'DaemonSet')
    for (const service of services) {
      const spec = service['spec'] as {
        selector?: Record<string, string>
        ports?: { port: number; targetPort?: number }[]
      }
      if (!spec.selector) continue
      const selector = spec.selector
      const backing = workloads.filter((w) =>
        Object.entries(selector).every(([k, v]) => podSpec(w).metadata.labels[k] === v),
      )
      expect(backing.length).toBeGreaterThan(0)
      for (const port of spec.ports ?? []) {
        const target = port.targetPort ?? port.port
        expect(
          backing.every((w) =>
            podSpec(w).spec.containers.some((c) => c.ports?.some((p) => p.containerPort === target)),
          ),
        ).toBe(true)
      }
    }
    const serviceNames = new Set(services.map((s) => s.metadata.name))
    const user = podSpec(find(all, 'Deployment', 'usermgmt-microservice')).spec.containers[0]
    const value = (name: string) => user?.env?.find((e) => e.name === name)?.value
    expect(serviceNames.has(value('DB_HOSTNAME') ?? '')).toBe(true)
    expect(serviceNames.has(value('NOTIFICATION_SERVICE_HOST') ?? '')).toBe(true)
    const mail = podSpec(find(all, 'Deployment', 'v1-notification-microservice')).spec.containers[0]
    expect(serviceNames.has(mail?.env?.find((e) => e.name === 'AWS_MAIL_SERVER_HOST')?.value ?? '')).toBe(true)
    expect(user?.readinessProbe?.httpGet).toEqual({ path: '/usermgmt/health-status', port: 8095 })
    expect(user?.livenessProbe?.httpGet.path).toBe('/usermgmt/health/status')
    expect(value('AWS_XRAY_DAEMON_ADDRESS')).toBe('$(HOST_IP):2000')
    const ingress = find(all, 'Ingress', 'eks-microservices-demo')['spec'] as {
      ingressClassName: string
      rules: { host: string }[]
    }
    expect(ingress.ingressClassName).toBe('alb')
    expect(ingress.rules.map((r) => r.host)).toEqual(required.hosts)
  })

  test('never writes a secret in plain text: only base64 in Secret data, and the Deployments refer to them', () => {
    for (const secret of Object.values(secrets)) expect(full).not.toContain(secret)
    expect((find(all, 'Secret', 'mysql-db-password')['data'] as Record<string, string>)['db-password']).toBe(
      Buffer.from('dbpassword11').toString('base64'),
    )
    for (const deployment of all.filter((o) => o.kind === 'Deployment')) {
      for (const env of podSpec(deployment).spec.containers.flatMap((c) => c.env ?? [])) {
        if (/PASSWORD|USERNAME$/.test(env.name) && env.name !== 'DB_USERNAME') expect(env.valueFrom).toBeDefined()
      }
    }
    const existing = synthesizeManifests(options({ dbSecret: 'my-db', smtpSecret: 'my-smtp' }), {
      dbPassword: undefined,
      smtpUsername: undefined,
      smtpPassword: undefined,
    })
    expect(objects(existing).filter((o) => o.kind === 'Secret')).toEqual([])
  })

  test('runs every container non-root with a read-only root filesystem and no capabilities', () => {
    for (const workload of all.filter((o) => o.kind === 'Deployment' || o.kind === 'DaemonSet')) {
      for (const container of podSpec(workload).spec.containers as unknown as {
        securityContext: Record<string, unknown>
        resources: Record<string, unknown>
      }[]) {
        expect(container.securityContext).toMatchObject({
          runAsNonRoot: true,
          readOnlyRootFilesystem: true,
          capabilities: { drop: ['ALL'] },
        })
        expect(container.resources).toHaveProperty('limits')
      }
    }
  })

  test('on Fargate runs the daemon as a sidecar instead of a DaemonSet, and the course wiring with --daemon-address service', () => {
    const fargate = objects(synthesizeManifests(options({ fargate: true }), secrets))
    expect(fargate.some((o) => o.kind === 'DaemonSet')).toBe(false)
    const pod = podSpec(find(fargate, 'Deployment', 'usermgmt-microservice'))
    expect(pod.spec.containers.map((c) => c.name)).toEqual(['usermgmt-restapp', 'xray-daemon'])
    expect(pod.metadata.labels['runon']).toBe('fargate')
    const course = objects(synthesizeManifests(options({ daemonAddress: 'service', namespace: 'shop' }), secrets))
    const env = podSpec(find(course, 'Deployment', 'usermgmt-microservice')).spec.containers[0]?.env
    expect(env?.find((e) => e.name === 'AWS_XRAY_DAEMON_ADDRESS')?.value).toBe('xray-service.shop:2000')
  })

  test('is stable: the same options give the same YAML', () => {
    expect(synthesizeManifests(options({ canary: '2:2', hpaMax: 4 }), secrets)).toBe(full)
    expect(full).toMatchSnapshot()
  })
})

describe('./app manifests as a compiled binary', () => {
  const flags = [
    '--xray-role-arn',
    required.xrayRoleArn,
    '--certificate-arn',
    required.certificateArn,
    '--host',
    'xraydemo.kubeoncloud.com',
    '--db-host',
    required.dbHost,
    '--from-address',
    required.fromAddress,
  ]
  const env = { DB_PASSWORD: 'dbpassword11', AWS_MAIL_SERVER_USERNAME: 'AKIA', AWS_MAIL_SERVER_PASSWORD: 'sespw' }

  test('prints YAML for kubectl apply -f -', () => {
    const result = runApp(['manifests', ...flags], env)
    expect(result.code).toBe(0)
    expect(result.stderr).toBe('')
    expect(objects(result.stdout).map((o) => o.kind)).toContain('Ingress')
  })

  test.each([
    [
      ['--certificate-arn', 'nope'],
      'app: --certificate-arn: must be an ACM certificate ARN (arn:aws:acm:region:123456789012:certificate/uuid)',
    ],
    [['--host', 'not a host'], 'app: --host: must be a host name'],
    [['--canary', 'two'], 'app: --canary: must be V1:V2 replica counts, e.g. 2:2'],
    [['--replicas', 'many'], 'app: --replicas: Invalid input: expected number, received NaN'],
  ])('a malformed option %p is one line on stderr and exit 2', (extra, line) => {
    const result = runApp(['manifests', ...flags, ...extra], env)
    expect(result).toEqual({ code: 2, stdout: '', stderr: `${line}\n` })
  })

  test('a missing secret is named, never echoed, and --values reads a YAML file', () => {
    const missing = runApp(['manifests', ...flags], { DB_PASSWORD: 'dbpassword11' })
    expect(missing.code).toBe(2)
    expect(missing.stderr).toContain('AWS_MAIL_SERVER_USERNAME, AWS_MAIL_SERVER_PASSWORD: are required')
    expect(missing.stderr).not.toContain('dbpassword11')
    const file = join(mkdtempSync(join(tmpdir(), 'values-')), 'values.yaml')
    writeFileSync(
      file,
      `xrayRoleArn: ${required.xrayRoleArn}\ncertificateArn: ${required.certificateArn}\nhosts: [a.example.com]\ndbHost: db.example.com\nfromAddress: a@example.com\nreplicas: 3\n`,
    )
    const fromFile = runApp(['manifests', '--values', file], env)
    expect(fromFile.code).toBe(0)
    expect(
      (find(objects(fromFile.stdout), 'Deployment', 'usermgmt-microservice')['spec'] as { replicas: number }).replicas,
    ).toBe(3)
    writeFileSync(file, 'xrayRoleArn: [unclosed\n')
    expect(runApp(['manifests', '--values', file], env).stderr).toStartWith(
      `app: --values: ${file} is not YAML or JSON`,
    )
  })

  test('--pod-identity drops the IRSA annotation and prints the association on stderr, YAML alone on stdout', () => {
    const withoutArn = flags.filter((_, i) => i > 1)
    const result = runApp(['manifests', ...withoutArn, '--pod-identity'], env)
    expect(result.code).toBe(0)
    expect(find(objects(result.stdout), 'ServiceAccount', 'xray-daemon').metadata.annotations).toBeUndefined()
    expect(result.stderr).toContain('aws eks create-pod-identity-association \\\n  --cluster-name eksdemo1')
    expect(runApp(['manifests', ...withoutArn], env).stderr).toBe(
      'app: --xray-role-arn: is required (or --pod-identity)\n',
    )
  })

  test('--print-iam prints the course step-03 command, filled in', () => {
    const result = runApp(['manifests', '--print-iam', ...flags, '--cluster', 'demo2'], env)
    expect(result.stdout).toContain(
      'eksctl create iamserviceaccount \\\n    --name xray-daemon \\\n    --namespace default \\\n    --cluster demo2 \\',
    )
  })
})
