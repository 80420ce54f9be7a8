// The manifests' probes and environment against the real roles: what a kubelet would ask of each container,
// asked of the compiled binary started with the environment the manifests give it.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { IContainer, ISecret } from 'kubernetes-models/v1'
import { loadConfig, type Role } from '../services/platform'
import {
  createTestDatabase,
  type FakeDaemon,
  spawnApp,
  startFakeDaemon,
  type TestDatabase,
  testServer,
  waitUntil,
} from '../services/testing'
import { type ManifestSecrets, parseManifestOptions, synthesizeManifests } from '.'
import { httpProbes, type K8sObject, parseObjects, workloads } from './checks'

const secrets: ManifestSecrets = {
  dbPassword: 'dbpassword11',
  smtpUsername: 'AKIASESUSER',
  smtpPassword: 'ses-smtp-password',
  notificationToken: '5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d',
}
const required = {
  image: '180789647333.dkr.ecr.us-east-1.amazonaws.com/xray-eks-app:0.1.0',
  xrayRoleArn: 'arn:aws:iam::180789647333:role/xray-daemon-eksdemo1-xray-system',
  certificateArn: 'arn:aws:acm:us-east-1:180789647333:certificate/9f042b5d-86fd-4fad-96d0-c81c5abc71e1',
  hosts: ['xraydemo.kubeoncloud.com'],
  dbHost: 'usermgmtdb.cxojydmxwly6.us-east-1.rds.amazonaws.com',
  fromAddress: 'stacksimplify@gmail.com',
}
const layouts: Record<string, Record<string, unknown>> = {
  'EC2 nodes, no authentication': { auth: 'none' },
  'Fargate, jwt': {
    fargate: true,
    auth: 'jwt',
    jwtIssuer: 'https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbCdEf123',
    jwtAudience: '4ub2k7example',
  },
  'EC2 nodes, ADOT, X-Ray and OTLP': { auth: 'none', collector: 'adot', exporter: 'xray,otlp' },
  'Fargate, the CloudWatch agent, OTLP': {
    auth: 'none',
    fargate: true,
    collector: 'cloudwatch-agent',
    exporter: 'otlp',
  },
}

function objectsOf(input: Record<string, unknown>): K8sObject[] {
  const result = parseManifestOptions({ ...required, ...input }, secrets)
  if (!result.ok) throw new Error(result.problems.join('\n'))
  return parseObjects(synthesizeManifests(result.options, secrets))
}

/** A container's environment as the kubelet would give it: Secret references read from the generated Secrets. */
function environmentOf(objects: readonly K8sObject[], container: IContainer): Record<string, string> {
  const env: Record<string, string> = {}
  for (const variable of container.env ?? []) {
    const ref = variable.valueFrom?.secretKeyRef
    if (ref) {
      const secret = objects.find((o) => o.kind === 'Secret' && o.metadata.name === ref.name) as
        | (K8sObject & ISecret)
        | undefined
      env[variable.name] = Buffer.from(secret?.data?.[ref.key] ?? '', 'base64').toString('utf8')
    } else if (variable.value !== undefined) {
      env[variable.name] = variable.value
    } else {
      throw new Error(`${variable.name}: a source this test does not resolve`)
    }
  }
  return env
}

const roleOf = (container: IContainer): Role =>
  container.args?.includes('--role=usermgmt') ? 'usermgmt' : 'notification'

function appContainers(objects: readonly K8sObject[]) {
  return workloads(objects)
    .filter((w) => w.object.kind === 'Deployment')
    .flatMap((w) => w.template.spec.containers.map((container) => ({ workload: w.object.metadata.name, container })))
}

describe('the environment the manifests give each role', () => {
  test.each(Object.entries(layouts))(
    'GIVEN %s THEN the role accepts it and listens on the port the manifests probe and route to',
    (_, input) => {
      const objects = objectsOf(input)
      for (const { workload, container } of appContainers(objects)) {
        const config = loadConfig(roleOf(container), environmentOf(objects, container))
        expect({ workload, problems: config.ok ? [] : config.problems }).toEqual({ workload, problems: [] })
        if (config.ok) expect(container.ports?.map((p) => p.containerPort)).toEqual([config.value.port])
      }
    },
  )
})

describe('every HTTP probe of the manifests, asked of the real binary', () => {
  let database: TestDatabase
  let daemon: FakeDaemon
  // Stands in for the collector's OTLP/HTTP receiver, as the fake daemon does for its UDP one.
  let otlp: ReturnType<typeof Bun.serve>
  beforeAll(async () => {
    database = await createTestDatabase()
    daemon = await startFakeDaemon()
    otlp = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: () => new Response(null, { status: 200 }) })
  })
  afterAll(async () => {
    daemon?.close()
    await otlp?.stop(true)
    await database?.drop()
  })

  // Each test starts the binary and migrates a fresh database: seconds on a loaded machine. The bound only
  // catches a hang; bun's default of 5 s would fail a healthy run on a busy machine.
  const startUpBound = 60_000

  test.each(
    Object.entries(layouts).flatMap(([layout, input]) =>
      (['usermgmt', 'notification'] as const).map((role) => [layout, role, input] as const),
    ),
  )(
    'GIVEN %s WHEN %s runs with its manifest environment THEN each of its probes gets what it expects',
    async (_, role, input) => {
      const objects = objectsOf(input)
      const containers = appContainers(objects).filter((c) => roleOf(c.container) === role)
      const first = containers[0]
      if (first === undefined) throw new Error(`no ${role} container`)
      // Only what points at the cluster changes: the local database (TLS to it is tested against a TLS MariaDB
      // by the usermgmt tests), the SMTP host, the fake daemon and OTLP receiver. Health endpoints do not call
      // notification.
      const local: Record<string, string> =
        role === 'usermgmt'
          ? {
              DB_HOSTNAME: database.config.host,
              DB_PORT: String(database.config.port),
              DB_NAME: database.config.name,
              DB_USERNAME: database.config.user,
              DB_PASSWORD: testServer().password,
            }
          : { AWS_MAIL_SERVER_HOST: '127.0.0.1' }
      const env: Record<string, string> = {
        ...environmentOf(objects, first.container),
        ...local,
        AWS_XRAY_DAEMON_ADDRESS: daemon.address,
      }
      if (env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'] !== undefined) {
        env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'] = `http://127.0.0.1:${otlp.port}/v1/traces`
      }
      delete env['DB_SSL_MODE']
      delete env['DB_SSL_CA']
      await using app = spawnApp([...(first.container.args ?? []), '--port', '0'], env)
      const port = (await app.waitForLog((line) => line['message'] === `${role} listening`))['port']
      const probes = httpProbes(objects).filter((p) => roleOf(p.container) === role)
      expect(probes.length).toBe(containers.length * 3)
      for (const probe of probes) {
        // A kubelet counts 200-399 as success; readiness waits for the schema to be migrated.
        await waitUntil(async () => {
          const response = await fetch(`http://127.0.0.1:${port}${probe.path}`, { redirect: 'manual' })
          expect({ path: probe.path, ok: response.status >= 200 && response.status < 400 }).toEqual({
            path: probe.path,
            ok: true,
          })
        }, 30_000)
      }
    },
    startUpBound,
  )
})
