import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  captureLog,
  type SegmentDocument,
  sampleEverythingRulesFile,
  spawnApp,
  startFakeDaemon,
  testCertificate,
} from '../testing'
import { detectEks } from '.'

const containerId = 'b8a3f1c2d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f'
let dir = ''
let api: ReturnType<typeof Bun.serve>
const seen: { path: string; authorization: string | null }[] = []

beforeAll(() => {
  const { key, cert, certFile } = testCertificate()
  dir = mkdtempSync(join(tmpdir(), 'sa-'))
  writeFileSync(join(dir, 'token'), 'service-account-token')
  copyFileSync(certFile, join(dir, 'ca.crt'))
  writeFileSync(join(dir, 'cgroup'), `12:pids:/kubepods/besteffort/pod1234/${containerId}\n0::/\n`)
  // A Kubernetes API with its own CA, answering the one call the plugin makes.
  api = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    tls: { key, cert },
    fetch(request) {
      const path = new URL(request.url).pathname
      seen.push({ path, authorization: request.headers.get('authorization') })
      if (path !== '/api/v1/namespaces/amazon-cloudwatch/configmaps/cluster-info')
        return new Response('not found', { status: 404 })
      return Response.json({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'cluster-info', namespace: 'amazon-cloudwatch' },
        data: { 'cluster.name': 'eksdemo1', 'logs.region': 'us-east-1' },
      })
    },
  })
})
afterAll(() => api.stop(true))

describe('EKS metadata', () => {
  test('reads the cluster name with the service account over TLS with the cluster CA, and the container id from cgroup', async () => {
    const eks = await detectEks({
      kubernetes: { api: { host: '127.0.0.1', port: api.port ?? 0 }, serviceAccountDir: dir, clusterName: undefined },
      log: captureLog().log,
      cgroupFiles: [join(dir, 'cgroup')],
      pod: 'usermgmt-microservice-7d9f8-abcde',
    })
    expect(eks).toEqual({
      cluster_name: 'eksdemo1',
      pod: 'usermgmt-microservice-7d9f8-abcde',
      container_id: containerId,
    })
    expect(seen.at(-1)).toEqual({
      path: '/api/v1/namespaces/amazon-cloudwatch/configmaps/cluster-info',
      authorization: 'Bearer service-account-token',
    })
  })

  test('outside Kubernetes gives nothing at once; an override skips the API; an unreachable API gives nothing and a warning', async () => {
    const started = performance.now()
    expect(await detectEks({ kubernetes: undefined, log: captureLog().log })).toBeUndefined()
    expect(performance.now() - started).toBeLessThan(5)
    const calls = seen.length
    expect(
      await detectEks({
        kubernetes: {
          api: { host: '127.0.0.1', port: api.port ?? 0 },
          serviceAccountDir: dir,
          clusterName: 'override',
        },
        log: captureLog().log,
        cgroupFiles: [join(dir, 'none')],
        pod: 'p',
      }),
    ).toEqual({ cluster_name: 'override', pod: 'p' })
    expect(seen.length).toBe(calls)
    const captured = captureLog()
    expect(
      await detectEks({
        kubernetes: { api: { host: '127.0.0.1', port: 9 }, serviceAccountDir: dir, clusterName: undefined },
        log: captured.log,
      }),
    ).toBeUndefined()
    expect(captured.lines.some((l) => l['level'] === 'warn')).toBe(true)
  })

  test('the compiled binary puts aws.eks and origin AWS::EKS::Container on its segments', async () => {
    using daemon = await startFakeDaemon()
    await using app = spawnApp(['serve', '--role=notification', '--port', '0'], {
      AWS_MAIL_SERVER_HOST: '127.0.0.1',
      AWS_MAIL_SERVER_TLS: 'none',
      AWS_MAIL_SERVER_FROM_ADDRESS: 'stacksimplify@gmail.com',
      AWS_XRAY_DAEMON_ADDRESS: daemon.address,
      AWS_XRAY_SAMPLING_RULES: sampleEverythingRulesFile(),
      KUBERNETES_SERVICE_HOST: '127.0.0.1',
      KUBERNETES_SERVICE_PORT: String(api.port),
      KUBERNETES_SERVICE_ACCOUNT_DIR: dir,
    })
    const port = (await app.waitForLog((line) => line['message'] === 'notification listening'))['port']
    const withEks = (docs: readonly SegmentDocument[]) => docs.some((d) => d['origin'] === 'AWS::EKS::Container')
    for (let i = 0; i < 100 && !withEks(daemon.datagrams.map((d) => d.document)); i++) {
      await fetch(`http://127.0.0.1:${port}/notification/xray`)
      await Bun.sleep(20)
    }
    const segment = daemon.datagrams.map((d) => d.document).find((d) => d['origin'] === 'AWS::EKS::Container')
    expect((segment?.['aws'] as { eks?: unknown } | undefined)?.eks).toMatchObject({ cluster_name: 'eksdemo1' })
    expect(daemon.invalid).toEqual([])
  })
})
