// A MariaDB server of a test's own (own data directory, own port), for what the shared server must never be put
// through: frozen with SIGSTOP, killed, or started with TLS only.
import { createHash, randomBytes } from 'node:crypto'
import { cpSync, existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createConnection } from 'mysql2/promise'
import { type DatabaseConfig, Secret } from '../platform'
import { waitUntil } from './wait'

export interface ServerTlsFiles {
  readonly caFile: string
  readonly certFile: string
  readonly keyFile: string
}

export interface MariadbServerOptions {
  /** Serve TLS with this certificate. @default no TLS */
  readonly tls?: ServerTlsFiles
  /** Refuse every TCP connection that is not TLS (require_secure_transport=ON). @default false */
  readonly requireSecureTransport?: boolean
}

export interface MariadbServer {
  readonly host: string
  readonly port: number
  readonly pid: number
  /** A fresh database and a user (with a password) allowed into it from anywhere. */
  createDatabase(): Promise<DatabaseConfig>
  /** Runs SQL as root over the server's Unix socket (which needs no TLS even when TCP does). */
  query<TRow = Record<string, unknown>>(sql: string, values?: unknown[]): Promise<TRow[]>
  /** SIGSTOP: the process stops answering; its sockets stay open (a frozen instance, a hung failover). */
  freeze(): void
  /** SIGCONT. */
  thaw(): void
  stop(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

/**
 * mariadb-install-db takes seconds, so one installed data directory per MariaDB version is kept in the temporary
 * folder and each server copies it. It is installed beside its final place and renamed there, so test processes
 * starting together never see a half-installed one.
 */
function installedDataDir(): string {
  const version = Bun.spawnSync(['/usr/sbin/mariadbd', '--version'], { stdout: 'pipe' }).stdout.toString().trim()
  const dir = join(tmpdir(), `app-test-mariadb-${createHash('sha256').update(version).digest('hex').slice(0, 12)}`)
  if (existsSync(join(dir, 'data', 'mysql'))) return join(dir, 'data')
  const staging = mkdtempSync(join(tmpdir(), 'app-test-mariadb-install-'))
  const install = Bun.spawnSync(
    [
      'mariadb-install-db',
      '--no-defaults',
      `--datadir=${join(staging, 'data')}`,
      '--auth-root-authentication-method=normal',
      '--skip-test-db',
      '--skip-name-resolve',
      '--innodb-log-file-size=4M',
      '--innodb-buffer-pool-size=16M',
      ...(process.getuid?.() === 0 ? ['--user=root'] : []),
    ],
    { stdout: 'pipe', stderr: 'pipe' },
  )
  if (install.exitCode !== 0) {
    rmSync(staging, { recursive: true, force: true })
    throw new Error(`mariadb-install-db failed: ${install.stdout.toString()}${install.stderr.toString()}`)
  }
  try {
    renameSync(staging, dir)
  } catch {
    // Another test process got there first: use its copy.
    rmSync(staging, { recursive: true, force: true })
  }
  return join(dir, 'data')
}

function freeTcpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer()
    probe.once('error', reject)
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address()
      const port = typeof address === 'object' && address ? address.port : 0
      probe.close(() => resolve(port))
    })
  })
}

interface Booted {
  readonly root: string
  readonly port: number
  readonly child: ReturnType<typeof Bun.spawn>
  readonly admin: Awaited<ReturnType<typeof createConnection>>
}

async function boot(options: MariadbServerOptions): Promise<Booted> {
  const root = mkdtempSync(join(tmpdir(), 'mariadb-'))
  const dataDir = join(root, 'data')
  const socketPath = join(root, 'mariadb.sock')
  const errorLog = join(root, 'error.log')
  cpSync(installedDataDir(), dataDir, { recursive: true })
  const port = await freeTcpPort()
  const child = Bun.spawn(
    [
      '/usr/sbin/mariadbd',
      '--no-defaults',
      `--datadir=${dataDir}`,
      `--socket=${socketPath}`,
      `--pid-file=${join(root, 'mariadb.pid')}`,
      `--log-error=${errorLog}`,
      `--port=${port}`,
      '--bind-address=127.0.0.1',
      '--skip-name-resolve',
      '--innodb-log-file-size=4M',
      '--innodb-buffer-pool-size=16M',
      '--performance-schema=OFF',
      ...(process.getuid?.() === 0 ? ['--user=root'] : []),
      ...(options.tls
        ? [`--ssl-ca=${options.tls.caFile}`, `--ssl-cert=${options.tls.certFile}`, `--ssl-key=${options.tls.keyFile}`]
        : []),
      ...(options.requireSecureTransport ? ['--require-secure-transport=ON'] : []),
    ],
    { stdout: 'ignore', stderr: 'ignore' },
  )
  try {
    const admin = await waitUntil(
      async () => {
        if (child.exitCode !== null) {
          throw new Error(`mariadbd exited with ${child.exitCode}: ${readFileSync(errorLog, 'utf8').slice(-2000)}`)
        }
        return createConnection({ socketPath, user: 'root', password: '' })
      },
      60_000,
      100,
    )
    return { root, port, child, admin }
  } catch (error) {
    child.kill('SIGKILL')
    await child.exited
    rmSync(root, { recursive: true, force: true })
    throw error
  }
}

/** Starts `mariadbd` in a temporary directory on a free port; `stop()` kills it and removes the directory. */
export async function startMariadbServer(options: MariadbServerOptions = {}): Promise<MariadbServer> {
  let booted: Booted | undefined
  // The free port can be taken by someone else before mariadbd binds it: then try another.
  for (let attempt = 1; booted === undefined; attempt++) {
    try {
      booted = await boot(options)
    } catch (error) {
      if (attempt >= 3 || !String(error).includes('Address already in use')) throw error
    }
  }
  const { root, port, child, admin } = booted
  // A test process that dies without stopping its servers must not leave them running.
  const killOnExit = () => child.kill('SIGKILL')
  process.once('exit', killOnExit)
  let stopped = false
  const query = async <TRow>(sql: string, values: unknown[] = []) => {
    const [rows] = await admin.query(sql, values)
    return rows as TRow[]
  }
  const stop = async () => {
    if (stopped) return
    stopped = true
    process.off('exit', killOnExit)
    admin.destroy()
    child.kill('SIGCONT')
    child.kill('SIGKILL')
    await child.exited
    rmSync(root, { recursive: true, force: true })
  }
  return {
    host: '127.0.0.1',
    port,
    pid: child.pid,
    async createDatabase() {
      const name = `test_${randomBytes(4).toString('hex')}`
      const user = `app_${randomBytes(3).toString('hex')}`
      const password = `pw-${randomBytes(12).toString('hex')}`
      await query(`create database \`${name}\` character set utf8mb4 collate utf8mb4_general_ci`)
      await query(`create user ?@'%' identified by ?`, [user, password])
      await query(`grant all on \`${name}\`.* to ?@'%'`, [user])
      return { host: '127.0.0.1', port, name, user, password: new Secret(password) }
    },
    query,
    freeze: () => child.kill('SIGSTOP'),
    thaw: () => child.kill('SIGCONT'),
    stop,
    [Symbol.asyncDispose]: stop,
  }
}

export interface TestCertificateAuthority {
  /** The CA's certificate (PEM file), for DB_SSL_CA. */
  readonly caFile: string
  /** A server certificate signed by the CA for these DNS names, with its key. */
  readonly server: ServerTlsFiles
  /** Another CA's certificate: one that did not sign the server's. */
  readonly otherCaFile: string
}

function openssl(args: string[], dir: string): void {
  const result = Bun.spawnSync(['openssl', ...args], { cwd: dir, stdout: 'pipe', stderr: 'pipe' })
  if (result.exitCode !== 0) throw new Error(`openssl ${args[0]} failed: ${result.stderr.toString()}`)
}

/** A CA of the test's own, a server certificate it signed for `names`, and an unrelated second CA (openssl). */
export function testCertificateAuthority(names: readonly string[]): TestCertificateAuthority {
  const dir = mkdtempSync(join(tmpdir(), 'test-ca-'))
  const selfSigned = (name: string, subject: string) =>
    openssl(
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', subject].concat([
        '-keyout',
        `${name}.key`,
        '-out',
        `${name}.pem`,
      ]),
      dir,
    )
  selfSigned('ca', '/CN=Test database CA')
  selfSigned('other-ca', '/CN=Some other CA')
  openssl(
    ['req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${names[0] ?? 'db'}`, '-keyout', 'server.key'].concat([
      '-out',
      'server.csr',
    ]),
    dir,
  )
  writeFileSync(join(dir, 'san.cnf'), `subjectAltName=${names.map((n) => `DNS:${n}`).join(',')}\n`)
  openssl(
    ['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2'].concat([
      '-extfile',
      'san.cnf',
      '-out',
      'server.pem',
    ]),
    dir,
  )
  return {
    caFile: join(dir, 'ca.pem'),
    server: { caFile: join(dir, 'ca.pem'), certFile: join(dir, 'server.pem'), keyFile: join(dir, 'server.key') },
    otherCaFile: join(dir, 'other-ca.pem'),
  }
}
