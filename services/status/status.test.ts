// ./app status against a local HTTPS Kubernetes API with its own CA, named in a kubeconfig, from the compiled
// binary (client-node 2.x loses the cluster CA under Bun, oven-sh/bun#38840; status must not).
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runApp, spawnApp, testCertificate } from '../testing'

type Fixture = Record<string, unknown>

function healthy(): Map<string, Fixture> {
  const ns = '/namespaces/default'
  return new Map<string, Fixture>([
    [
      `/apis/apps/v1${ns}/daemonsets/xray-daemon`,
      { kind: 'DaemonSet', status: { desiredNumberScheduled: 3, numberReady: 3 } },
    ],
    [
      `/api/v1${ns}/serviceaccounts/xray-daemon`,
      {
        kind: 'ServiceAccount',
        metadata: {
          name: 'xray-daemon',
          annotations: { 'eks.amazonaws.com/role-arn': 'arn:aws:iam::180789647333:role/xray' },
        },
      },
    ],
    [
      `/apis/apps/v1${ns}/deployments/usermgmt-microservice`,
      { kind: 'Deployment', spec: { replicas: 2 }, status: { availableReplicas: 2 } },
    ],
    [
      `/apis/apps/v1${ns}/deployments/v1-notification-microservice`,
      { kind: 'Deployment', spec: { replicas: 1 }, status: { availableReplicas: 1 } },
    ],
    [
      `/api/v1${ns}/endpoints/xray-service`,
      { kind: 'Endpoints', subsets: [{ addresses: [{ ip: '10.0.1.1' }, { ip: '10.0.2.1' }, { ip: '10.0.3.1' }] }] },
    ],
    [
      `/api/v1${ns}/endpoints/usermgmt-restapp-nodeport-service`,
      { kind: 'Endpoints', subsets: [{ addresses: [{ ip: '10.0.1.7' }, { ip: '10.0.2.9' }] }] },
    ],
    [
      `/api/v1${ns}/endpoints/notification-clusterip-service`,
      { kind: 'Endpoints', subsets: [{ addresses: [{ ip: '10.0.1.8' }] }] },
    ],
    [
      `/apis/networking.k8s.io/v1${ns}/ingresses/eks-microservices-demo`,
      {
        kind: 'Ingress',
        status: { loadBalancer: { ingress: [{ hostname: 'k8s-default-eksmicro-1234.us-east-1.elb.amazonaws.com' }] } },
      },
    ],
  ])
}

let objects = healthy()
let requests = 0
let tokens = new Set<string | null>()
let server: ReturnType<typeof Bun.serve>
let kubeconfig = ''

beforeAll(() => {
  const { key, cert } = testCertificate()
  server = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    tls: { key, cert },
    fetch(request) {
      requests++
      tokens.add(request.headers.get('authorization'))
      const found = objects.get(new URL(request.url).pathname)
      return found ? Response.json(found) : Response.json({ kind: 'Status', code: 404 }, { status: 404 })
    },
  })
  kubeconfig = join(mkdtempSync(join(tmpdir(), 'kube-')), 'config')
  writeFileSync(
    kubeconfig,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: eksdemo1',
      '  cluster:',
      `    server: https://localhost:${server.port}`,
      `    certificate-authority-data: ${Buffer.from(cert).toString('base64')}`,
      'users:',
      '- name: admin',
      '  user:',
      '    token: test-token',
      'contexts:',
      '- name: eksdemo1',
      '  context: { cluster: eksdemo1, user: admin }',
      'current-context: eksdemo1',
      '',
    ].join('\n'),
  )
})
afterAll(() => server.stop(true))

/** The fake API lives in this process, so the binary must run without blocking the event loop (no spawnSync). */
async function runStatus(args: string[]) {
  const app = spawnApp(['status', ...args])
  const code = await app.exited
  return { code, stdout: app.stdout(), stderr: app.stderr() }
}

describe('./app status', () => {
  test('reports every check of a healthy deployment and exits 0, over TLS with the kubeconfig CA and token', async () => {
    objects = healthy()
    tokens = new Set()
    const result = await runStatus(['--kubeconfig', kubeconfig])
    expect(result.stdout.trim().split('\n')).toEqual([
      'ok    daemonset xray-daemon: 3/3 pods ready',
      'ok    serviceaccount xray-daemon: role arn:aws:iam::180789647333:role/xray',
      'ok    deployment usermgmt-microservice: 2/2 replicas available',
      'ok    deployment v1-notification-microservice: 1/1 replicas available',
      'ok    service xray-service: 3 ready endpoints',
      'ok    service usermgmt-restapp-nodeport-service: 2 ready endpoints',
      'ok    service notification-clusterip-service: 1 ready endpoints',
      'ok    ingress eks-microservices-demo: address k8s-default-eksmicro-1234.us-east-1.elb.amazonaws.com',
    ])
    expect(result.code).toBe(0)
    expect([...tokens]).toEqual(['Bearer test-token'])
  })

  test.each([
    [
      'a daemon pod is not ready',
      `/apis/apps/v1/namespaces/default/daemonsets/xray-daemon`,
      { status: { desiredNumberScheduled: 3, numberReady: 2 } },
      'FAIL  daemonset xray-daemon: 2/3 pods ready',
    ],
    [
      'the service account lacks the role',
      `/api/v1/namespaces/default/serviceaccounts/xray-daemon`,
      { metadata: { name: 'xray-daemon' } },
      'FAIL  serviceaccount xray-daemon: no eks.amazonaws.com/role-arn annotation (IRSA)',
    ],
    [
      'a deployment is unavailable',
      `/apis/apps/v1/namespaces/default/deployments/usermgmt-microservice`,
      { spec: { replicas: 2 }, status: {} },
      'FAIL  deployment usermgmt-microservice: 0/2 replicas available',
    ],
    [
      'a service has no endpoints',
      `/api/v1/namespaces/default/endpoints/notification-clusterip-service`,
      { subsets: [] },
      'FAIL  service notification-clusterip-service: no ready endpoints',
    ],
    [
      'the ingress has no address',
      `/apis/networking.k8s.io/v1/namespaces/default/ingresses/eks-microservices-demo`,
      { status: { loadBalancer: {} } },
      'FAIL  ingress eks-microservices-demo: no load balancer address yet',
    ],
    [
      'an object is missing',
      `/apis/apps/v1/namespaces/default/deployments/v1-notification-microservice`,
      undefined,
      'FAIL  deployment v1-notification-microservice: not found',
    ],
  ])('reports FAIL and exits 1 when %s', async (_why, path, object, line) => {
    objects = healthy()
    if (object === undefined) objects.delete(path)
    else objects.set(path, object)
    const result = await runStatus(['--kubeconfig', kubeconfig])
    expect(result.code).toBe(1)
    const lines = result.stdout.trim().split('\n')
    expect(lines).toContain(line)
    expect(lines.filter((l) => l.startsWith('FAIL'))).toEqual([line])
  })

  test('--wait polls with progress until the deployment becomes healthy', async () => {
    objects = healthy()
    objects.set('/apis/networking.k8s.io/v1/namespaces/default/ingresses/eks-microservices-demo', {
      status: { loadBalancer: {} },
    })
    requests = 0
    await using app = spawnApp(['status', '--kubeconfig', kubeconfig, '--wait', '--timeout', '30'])
    while (requests < 10) await Bun.sleep(20)
    objects = healthy()
    expect(await app.exited).toBe(0)
    expect(app.stderr()).toContain('waiting 0s: 7/8 ok; not yet: ingress eks-microservices-demo')
    expect(app.stdout()).toContain('ok    ingress eks-microservices-demo')
  })

  test('bad flags and an unreadable kubeconfig are one line on stderr and exit 2', () => {
    expect(runApp(['status', '--timeout', 'soon'])).toEqual({
      code: 2,
      stdout: '',
      stderr: 'app: --timeout: must be whole seconds from 1 to 3600 (got "soon")\n',
    })
    const missing = runApp(['status', '--kubeconfig', '/nonexistent/config'])
    expect(missing.code).toBe(2)
    expect(missing.stderr).toStartWith('app: status: ')
    expect(missing.stderr.trim().split('\n')).toHaveLength(1)
  })
})
