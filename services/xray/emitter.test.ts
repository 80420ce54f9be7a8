import { describe, expect, test } from 'bun:test'
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import type { HostPort, Logger } from '../platform'
import { captureLog, freeUdpPort, startFakeDaemon, waitUntil } from '../testing'
import { createUdpEmitter, usableCpus } from './emitter'

const document = (n: number) =>
  JSON.stringify({
    trace_id: '1-6b0cb0d2-e1e2a0483d8329392d4b0e35',
    id: `${n}`.padStart(16, '0'),
    name: 'Emitter-Test',
    start_time: 1,
    end_time: 2,
  })

test('usableCpus counts the CPUs this process may run on', () => {
  expect(usableCpus()).toBeGreaterThanOrEqual(1)
  expect(usableCpus()).toBeLessThanOrEqual(navigator.hardwareConcurrency)
})

test.each([
  ['cgroup v2, a 500m limit', { 'cpu.max': '50000 100000' }, 1],
  ['cgroup v2, a 2.5 CPU limit', { 'cpu.max': '250000 100000' }, 2],
  ['cgroup v2, no limit', { 'cpu.max': 'max 100000' }, 8],
  ['cgroup v1, a 1.5 CPU limit', { 'cpu/cpu.cfs_quota_us': '150000', 'cpu/cpu.cfs_period_us': '100000' }, 1],
  [
    'cgroup v1 (cpu,cpuacct), a 4 CPU limit',
    { 'cpu,cpuacct/cpu.cfs_quota_us': '400000', 'cpu,cpuacct/cpu.cfs_period_us': '100000' },
    4,
  ],
  ['cgroup v1, no limit', { 'cpu/cpu.cfs_quota_us': '-1', 'cpu/cpu.cfs_period_us': '100000' }, 8],
  ['no cgroup files', {}, 8],
])('usableCpus with 8 CPUs of affinity and %s', (_what, files: Record<string, string>, expected) => {
  const root = mkdtempSync(join(tmpdir(), 'cgroup-'))
  for (const [file, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, file)), { recursive: true })
    writeFileSync(join(root, file), `${text}\n`)
  }
  expect(usableCpus(root, 8)).toBe(expected)
})

describe.each(['worker', 'inline'] as const)('the %s sender', (sender) => {
  const emitterTo = (address: HostPort, log: Logger = captureLog().log) => createUdpEmitter({ address, log, sender })
  const local = (port: number): HostPort => ({ host: '127.0.0.1', port })

  test('delivers every document of every batch, each as its own datagram with the daemon header', async () => {
    using daemon = await startFakeDaemon()
    const emitter = emitterTo(local(daemon.port))
    try {
      // Batches of 200, as the tracer hands them over. (A burst much larger than the receiver's socket buffer is
      // lost in the kernel if the receiver is slow; this one validates each document.)
      for (let from = 0; from < 1000; from += 200) {
        emitter.send(Array.from({ length: 200 }, (_, i) => document(from + i)))
        await Bun.sleep(80)
      }
      const received = await daemon.waitFor((documents) => documents.length >= 1000)
      expect(new Set(received.map((d) => d.id)).size).toBe(1000)
      expect(daemon.invalid).toEqual([])
      expect(emitter.stats()).toEqual({ sent: 1000, dropped: 0, failed: 0 })
    } finally {
      await emitter.close()
    }
  })

  test('what is handed over just before close, on a sender not yet started, is sent before close resolves', async () => {
    using daemon = await startFakeDaemon()
    const emitter = emitterTo(local(daemon.port))
    // A process stopping right after its first traced request: the sender's socket (and worker) is still starting.
    emitter.send(Array.from({ length: 100 }, (_, i) => document(i)))
    await emitter.close()
    const received = await waitUntil(() => {
      expect(daemon.datagrams).toHaveLength(100)
      return daemon.datagrams
    })
    expect(new Set(received.map((d) => d.document.id)).size).toBe(100)
  })

  test('a refusing daemon costs a log line; once back it gets the documents, with no restart', async () => {
    const port = await freeUdpPort()
    const captured = captureLog()
    const emitter = emitterTo(local(port), captured.log)
    try {
      for (let n = 0; n < 5; n++) {
        emitter.send([document(n)])
        await Bun.sleep(60)
      }
      await waitUntil(() =>
        expect(captured.lines.some((l) => l['message'] === 'cannot send to the X-Ray daemon')).toBe(true),
      )
      expect(emitter.stats().failed).toBeGreaterThan(0)
      using back = await startFakeDaemon(port)
      await waitUntil(async () => {
        emitter.send([document(99)])
        await Bun.sleep(60)
        expect(back.datagrams.some((d) => d.document.id === '0000000000000099')).toBe(true)
      })
    } finally {
      await emitter.close()
    }
  })

  test.each([
    [
      'given by DNS name (the course gives xray-service.default:2000) is resolved and sent to',
      '127.0.0.1',
      'localhost',
    ],
    ['at an IPv6 address (an IPv6 EKS cluster) is sent to', '::1', '::1'],
  ])('a daemon %s', async (_what, listensOn, givenAs) => {
    using daemon = await startFakeDaemon(0, listensOn)
    const emitter = emitterTo({ host: givenAs, port: daemon.port })
    try {
      await waitUntil(async () => {
        emitter.send([document(7)])
        await Bun.sleep(60)
        expect(daemon.datagrams.length).toBeGreaterThan(0)
      })
      expect(daemon.invalid).toEqual([])
      expect(emitter.stats().failed).toBe(0)
    } finally {
      await emitter.close()
    }
  })

  test('a daemon name that does not resolve drops and counts documents, and never throws', async () => {
    const captured = captureLog()
    const emitter = emitterTo({ host: 'no-such-daemon.invalid', port: 2000 }, captured.log)
    try {
      await waitUntil(() =>
        expect(captured.lines.some((l) => String(l['message']).startsWith('cannot resolve the X-Ray daemon'))).toBe(
          true,
        ),
      )
      emitter.send(Array.from({ length: 10 }, (_, n) => document(n)))
      await Bun.sleep(100)
      expect(emitter.stats()).toEqual({ sent: 0, dropped: 10, failed: 0 })
    } finally {
      await emitter.close()
    }
  })
})
