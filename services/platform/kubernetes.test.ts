// The Kubernetes adapter against a local HTTPS API with its own CA, as EKS has (client-node 2.x alone loses that
// CA under Bun, oven-sh/bun#38840).
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { z } from 'zod'
import { testCertificate } from '../testing'
import { createKubernetesClient, type KubernetesClient, KubernetesError } from '.'

const pods = Array.from({ length: 5 }, (_, i) => ({ metadata: { name: `pod-${i}`, labels: { app: 'demo' } } }))
const pod = z.object({ metadata: z.object({ name: z.string() }) })
const seen: { url: URL; authorization: string | null }[] = []
let api: ReturnType<typeof Bun.serve>
let dir = ''
let execCount = ''

beforeAll(() => {
  const { key, cert } = testCertificate()
  dir = mkdtempSync(join(tmpdir(), 'kube-'))
  execCount = join(dir, 'exec-count')
  api = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    tls: { key, cert },
    async fetch(request) {
      const url = new URL(request.url)
      seen.push({ url, authorization: request.headers.get('authorization') })
      const status = (code: number, message: string) =>
        Response.json({ kind: 'Status', code, message }, { status: code })
      switch (url.pathname) {
        case '/api/v1/namespaces/demo/pods': {
          // Two items a page, whatever limit was asked, so that every page must be followed.
          const from = Number(url.searchParams.get('continue') ?? '0')
          const next = from + 2 < pods.length ? String(from + 2) : undefined
          return Response.json({
            kind: 'PodList',
            metadata: next ? { continue: next } : {},
            items: pods.slice(from, from + 2),
          })
        }
        case '/api/v1/namespaces/demo/pods/pod-1':
          return Response.json(pods[1])
        case '/api/v1/namespaces/demo/pods/malformed':
          return Response.json({ metadata: { name: 7 } })
        case '/api/v1/namespaces/demo/secrets':
          return status(403, 'secrets is forbidden: User "dev" cannot list resource "secrets" in the namespace "demo"')
        case '/api/v1/namespaces/demo/configmaps':
          return status(401, 'Unauthorized')
        case '/api/v1/namespaces/demo/services/slow':
          return new Promise<Response>(() => {})
        default:
          return status(404, 'not found')
      }
    },
  })
})
afterAll(() => api.stop(true))

function kubeconfig(
  name: string,
  user: string[],
  options: { server?: string; ca?: string; context?: string; currentContext?: string } = {},
): string {
  const file = join(dir, name)
  const context = options.context ?? 'demo'
  writeFileSync(
    file,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      `- name: ${context}`,
      '  cluster:',
      `    server: ${options.server ?? `https://localhost:${api.port}`}`,
      `    certificate-authority-data: ${Buffer.from(options.ca ?? testCertificate().cert).toString('base64')}`,
      'users:',
      `- name: ${context}`,
      '  user:',
      ...user.map((line) => `    ${line}`),
      'contexts:',
      `- name: ${context}`,
      `  context: { cluster: ${context}, user: ${context} }`,
      ...(options.currentContext === '' ? [] : [`current-context: ${options.currentContext ?? context}`]),
      '',
    ].join('\n'),
  )
  return file
}

function client(file: string, timeoutMs?: number): Promise<KubernetesClient> {
  return createKubernetesClient({ kind: 'kubeconfig', file }, timeoutMs === undefined ? {} : { timeoutMs })
}

async function failure(call: Promise<unknown>): Promise<{ problem: string; message: string }> {
  try {
    await call
  } catch (error) {
    if (error instanceof KubernetesError) return { problem: error.problem, message: error.message }
    throw error
  }
  throw new Error('the call succeeded')
}

const demo = { apiVersion: 'v1', resource: 'pods', namespace: 'demo' }

describe('the Kubernetes adapter', () => {
  test('gets one object and lists every page over TLS with the kubeconfig CA and token', async () => {
    const kube = await client(kubeconfig('token', ['token: t0ken']))
    seen.length = 0
    expect(await kube.get({ ...demo, name: 'pod-1' }, pod)).toEqual({ metadata: { name: 'pod-1' } })
    expect(await kube.get({ ...demo, name: 'absent' }, pod)).toBeUndefined()
    const listed = await kube.list(demo, pod, { labelSelector: 'app=demo', fieldSelector: 'status.phase=Running' })
    expect(listed.map((p) => p.metadata.name)).toEqual(['pod-0', 'pod-1', 'pod-2', 'pod-3', 'pod-4'])
    const lists = seen.filter((s) => s.url.pathname === '/api/v1/namespaces/demo/pods')
    expect(lists.map((s) => s.url.searchParams.get('continue'))).toEqual([null, '2', '4'])
    expect(lists.every((s) => s.url.searchParams.get('labelSelector') === 'app=demo')).toBe(true)
    expect(lists.every((s) => s.url.searchParams.get('fieldSelector') === 'status.phase=Running')).toBe(true)
    expect(new Set(seen.map((s) => s.authorization))).toEqual(new Set(['Bearer t0ken']))
  })

  test('runs an exec credential plugin (as aws eks get-token) once for concurrent calls', async () => {
    const credential = JSON.stringify({
      apiVersion: 'client.authentication.k8s.io/v1beta1',
      kind: 'ExecCredential',
      status: { token: 'k8s-aws-v1.exec', expirationTimestamp: new Date(Date.now() + 3_600_000).toISOString() },
    })
    writeFileSync(join(dir, 'credential.json'), credential)
    const file = kubeconfig('exec', [
      'exec:',
      '  apiVersion: client.authentication.k8s.io/v1beta1',
      '  command: sh',
      `  args: ${JSON.stringify(['-c', `echo run >> ${execCount}; cat ${join(dir, 'credential.json')}`])}`,
    ])
    const kube = await client(file)
    seen.length = 0
    await Promise.all([1, 2, 3].map(() => kube.get({ ...demo, name: 'pod-1' }, pod)))
    await kube.get({ ...demo, name: 'pod-1' }, pod)
    expect(readFileSync(execCount, 'utf8')).toBe('run\n')
    expect(seen.map((s) => s.authorization)).toEqual(Array(4).fill('Bearer k8s-aws-v1.exec'))
  })

  test('a failing exec plugin is a config problem in one line', async () => {
    const kube = await client(
      kubeconfig('exec-fails', [
        'exec:',
        '  command: sh',
        '  args: ["-c", "echo expired >&2; echo token >&2; exit 1"]',
      ]),
    )
    expect(await failure(kube.get({ ...demo, name: 'pod-1' }, pod))).toEqual({
      problem: 'config',
      message: 'cannot get credentials for context demo: expired token',
    })
  })

  test('401 and 403 say what was asked; a malformed answer says where', async () => {
    const kube = await client(kubeconfig('token', ['token: t0ken']))
    expect(await failure(kube.list({ ...demo, resource: 'configmaps' }, pod))).toEqual({
      problem: 'unauthorized',
      message: `the Kubernetes API at https://localhost:${api.port} refused the credentials of context demo (401 Unauthorized) to list configmaps in namespace demo`,
    })
    expect(await failure(kube.list({ ...demo, resource: 'secrets' }, pod))).toEqual({
      problem: 'forbidden',
      message:
        'not allowed to list secrets in namespace demo (403): secrets is forbidden: User "dev" cannot list resource "secrets" in the namespace "demo"',
    })
    expect(await failure(kube.get({ ...demo, name: 'malformed' }, pod))).toEqual({
      problem: 'failed',
      message:
        'cannot get pods malformed in namespace demo: unexpected answer (metadata.name: Invalid input: expected string, received number)',
    })
    expect(
      await failure(kube.list({ apiVersion: 'example.com/v9', resource: 'widgets', namespace: 'demo' }, pod)),
    ).toEqual({
      problem: 'failed',
      message: 'cannot list widgets.example.com in namespace demo: the API server does not serve example.com/v9',
    })
  })

  test('an API it cannot reach, cannot trust or that does not answer is one line naming the address', async () => {
    const closed = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: () => new Response() })
    const port = closed.port
    closed.stop(true)
    const refused = await client(kubeconfig('refused', ['token: t'], { server: `https://127.0.0.1:${port}` }))
    expect(await failure(refused.get({ ...demo, name: 'pod-1' }, pod))).toEqual({
      problem: 'unreachable',
      message: `cannot reach the Kubernetes API at https://127.0.0.1:${port}: connection refused`,
    })
    const other = Bun.spawnSync([
      'openssl',
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=other',
      '-keyout',
      '/dev/null',
    ])
    const untrusted = await client(kubeconfig('untrusted', ['token: t'], { ca: other.stdout.toString() }))
    const notTrusted = await failure(untrusted.get({ ...demo, name: 'pod-1' }, pod))
    expect(notTrusted.problem).toBe('unreachable')
    expect(notTrusted.message).toStartWith(
      `cannot reach the Kubernetes API at https://localhost:${api.port}: its certificate is not trusted with the kubeconfig's CA (`,
    )
    const slow = await client(kubeconfig('token', ['token: t0ken']), 200)
    expect(await failure(slow.get({ ...demo, resource: 'services', name: 'slow' }, pod))).toEqual({
      problem: 'unreachable',
      message: `cannot reach the Kubernetes API at https://localhost:${api.port}: no answer within 0.2s`,
    })
  })

  test('finds the kubeconfig as kubectl does, and says so in one line when there is none', async () => {
    const first = kubeconfig('first', ['token: from-first'], { context: 'one' })
    const second = kubeconfig('second', ['token: from-second'], { context: 'two', currentContext: '' })
    const fromEnv = await createKubernetesClient({
      kind: 'default',
      env: { KUBECONFIG: `${join(dir, 'missing')}:${second}:${first}`, HOME: '/nonexistent' },
    })
    seen.length = 0
    await fromEnv.get({ ...demo, name: 'pod-1' }, pod)
    // The second file names no current context; the first that does (in `first`) decides.
    expect(seen.map((s) => s.authorization)).toEqual(['Bearer from-first'])

    const home = mkdtempSync(join(tmpdir(), 'home-'))
    Bun.spawnSync(['mkdir', '-p', join(home, '.kube')])
    writeFileSync(join(home, '.kube', 'config'), readFileSync(first))
    expect((await createKubernetesClient({ kind: 'default', env: { HOME: home } })).server).toBe(
      `https://localhost:${api.port}`,
    )

    const none = async (env: Record<string, string>) => {
      try {
        await createKubernetesClient({ kind: 'default', env })
      } catch (error) {
        return error instanceof KubernetesError ? `${error.problem}: ${error.message}` : String(error)
      }
      return 'found one'
    }
    expect(await none({ HOME: '/nonexistent', KUBERNETES_SERVICE_HOST: '10.100.0.1' })).toBe(
      'no-kubeconfig: no kubeconfig found: KUBECONFIG is not set, ~/.kube/config does not exist, and this is not a pod with a service account',
    )
    expect(await none({ KUBECONFIG: '/nonexistent/a:/nonexistent/b' })).toBe(
      'no-kubeconfig: no kubeconfig found: no file of KUBECONFIG exists (/nonexistent/a:/nonexistent/b)',
    )
    expect(await none({ KUBECONFIG: kubeconfig('no-context', ['token: t'], { currentContext: '' }) })).toBe(
      'config: the kubeconfig sets no current-context',
    )
    writeFileSync(join(dir, 'broken'), 'clusters: [')
    expect(await none({ KUBECONFIG: join(dir, 'broken') })).toStartWith(
      `config: cannot read kubeconfig ${join(dir, 'broken')}: `,
    )
  })
})
