// What the benchmark scripts share (bench.ts, duel.ts): the daemon stand-in, ports, per-process CPU time, the
// image's runtime settings and the seeded users database. Nothing here runs at import.
import dgram from 'node:dgram'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createConnection } from 'mysql2/promise'

/** One line on stderr and exit code 2, as for any bad flag. */
export function usageFor(script: string): (message: string) => never {
  return (message) => {
    process.stderr.write(`${script}: ${message}\n`)
    process.exit(2)
  }
}

/** A flag that must be a whole number >= 1. */
export function wholeNumber(text: string, flag: string, usage: (message: string) => never): number {
  const value = Number(text)
  if (!Number.isInteger(value) || value < 1) usage(`--${flag} must be a whole number >= 1`)
  return value
}

/** The last CPU for the server under test, the others for wrk and this process; undefined with fewer than 2. */
export function cpuSplit(): { server: string; others: string } | undefined {
  const cpus = navigator.hardwareConcurrency
  if (cpus < 2) return undefined
  return { server: String(cpus - 1), others: cpus === 2 ? '0' : `0-${cpus - 2}` }
}

/** Pins this process, all its threads, to the given CPUs; false when taskset failed. */
export function pinThisProcess(cpus: string): boolean {
  return Bun.spawnSync(['taskset', '-a', '-cp', cpus, String(process.pid)], { stdout: 'ignore' }).exitCode === 0
}

/** Builds ./app; false when the build failed. */
export function buildApp(root: string): boolean {
  return Bun.spawnSync([process.execPath, join(root, 'scripts', 'build.ts')], { stdout: 'ignore' }).exitCode === 0
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

/** A daemon stand-in: counts datagrams. A 4 MiB receive buffer (the kernel's rmem_max here) rides out bursts. */
export async function startReceiver(): Promise<{ count: number; port: number; close(): void }> {
  const socket = dgram.createSocket({ type: 'udp4', recvBufferSize: 4 * 1024 * 1024 })
  const receiver = { count: 0, port: 0, close: () => socket.close() }
  socket.on('message', () => {
    receiver.count++
  })
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve))
  receiver.port = socket.address().port
  return receiver
}

export function freePort(): number {
  const probe = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } })
  const port = probe.port
  probe.stop(true)
  return port
}

/** CPU seconds a process has used, all its threads (the UDP sender worker included). */
export function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []
  return (Number(fields[11]) + Number(fields[12])) / 100
}

/** The runtime settings the image ships (ENV lines of the Dockerfile's last stage), so the servers run as deployed. */
export function imageEnv(root: string): Record<string, string> {
  const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8')
  const lastStage = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '))
  const env: Record<string, string> = {}
  for (const match of lastStage.matchAll(/^ENV ([A-Z0-9_]+)=(\S+)$/gm)) env[match[1] as string] = match[2] as string
  return env
}

/** Polls a server's readiness path; returns how many requests that took (they count as served requests). */
export async function waitReady(url: string, what: string): Promise<number> {
  for (let polls = 1; polls <= 300; polls++) {
    const ok = await fetch(url).then(
      (r) => r.status === 200,
      () => false,
    )
    if (ok) return polls
    await Bun.sleep(50)
  }
  throw new Error(`${what} did not become ready`)
}

export interface UsersDatabase {
  /** DB_* variables for the usermgmt role. */
  readonly env: Record<string, string>
  drop(): Promise<void>
}

/**
 * A fresh MariaDB database (TEST_DB_* or 127.0.0.1:3306 root), migrated by the binary and seeded with 10 users
 * by SQL rather than POST /user, so no outbox deliveries (and their documents) run while measuring.
 */
export async function createUsersDatabase(binary: string, name: string): Promise<UsersDatabase> {
  const db = {
    host: process.env['TEST_DB_HOST'] ?? '127.0.0.1',
    port: Number(process.env['TEST_DB_PORT'] ?? 3306),
    user: process.env['TEST_DB_USER'] ?? 'root',
    password: process.env['TEST_DB_PASSWORD'] ?? '',
  }
  const admin = await createConnection(db)
  await admin.query(`create database \`${name}\``)
  const drop = async () => {
    await admin.query(`drop database if exists \`${name}\``)
    await admin.end()
  }
  const env = {
    DB_HOSTNAME: db.host,
    DB_PORT: String(db.port),
    DB_USERNAME: db.user,
    DB_PASSWORD: db.password,
    DB_NAME: name,
  }
  try {
    const migrate = Bun.spawnSync([binary, 'migrate'], { env: { ...env, PATH: process.env['PATH'] ?? '' } })
    if (migrate.exitCode !== 0) throw new Error(`migrate failed: ${migrate.stderr.toString()}`)
    const hash = await Bun.password.hash('Passw0rd!', { algorithm: 'bcrypt', cost: 4 })
    for (let i = 0; i < 10; i++) {
      await admin.query(
        `insert into \`${name}\`.users (username, password, enabled, role, email, firstname, lastname) values (?, ?, 1, 'ROLE_USER', ?, 'Bench', ?)`,
        [`bench${i}`, hash, `bench${i}@example.com`, String(i)],
      )
    }
  } catch (error) {
    await drop()
    throw error
  }
  return { env, drop }
}
