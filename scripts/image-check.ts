// Builds the image from the Dockerfile with buildah and runs it the way the course's cluster would: both roles
// started by the image's own ENTRYPOINT with the course's environment variables (the role follows from them),
// against a real MariaDB and a real SMTP server, then the course's requests, the course's liveness probe command
// inside the image, SIGTERM, and the image's size. Prints a table; exits 1 if any check failed, 2 on a bad flag
// or a missing prerequisite. Not part of npm test: it takes minutes.
//
// Needs first (Debian, as root):
//   apt-get install -y --no-install-recommends buildah debootstrap    (debootstrap: only to make the bases)
//   npm ci                                                           (Bun, to run this script)
//   MariaDB at 127.0.0.1:3306 as root with no password, or TEST_DB_HOST/PORT/USER/PASSWORD (a database
//   image_check_<pid> is created and dropped); ports 8095 and 8096 free (the probe names 8095);
//   about 2 GB under /var/lib/containers. It takes 1.5-4 minutes here (mostly the build), about 3 more the first
//   time: scripts/image-bases.sh makes the two base images from Debian's packages when they are not in storage.
// The SMTP server and the X-Ray daemon stand-in are `app dev`'s mail sink and console, run from the image too.
// TEST_DB_PASSWORD, if set, is passed to buildah on its command line (visible to local `ps`).
//
// Usage: bun scripts/image-check.ts [--tag localhost/xray-eks-app:check] [--no-build]
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { createConnection } from 'mysql2/promise'

const root = join(import.meta.dir, '..')
const usage = (message: string): never => {
  process.stderr.write(`image-check: ${message}\n`)
  process.exit(2)
}

function parseFlags() {
  try {
    return parseArgs({
      options: {
        tag: { type: 'string', default: 'localhost/xray-eks-app:check' },
        'no-build': { type: 'boolean', default: false },
      },
    }).values
  } catch (error) {
    return usage(error instanceof Error ? error.message : String(error))
  }
}
const flags = parseFlags()
const tag = flags.tag
const storageDriver = process.env['BUILDAH_STORAGE_DRIVER'] ?? 'vfs'
const buildah = ['buildah', '--storage-driver', storageDriver]
const bases = ['docker.io/library/debian:bookworm-slim', 'docker.io/library/node:20-bookworm']
// The course's usermgmt Deployment, livenessProbe.exec.command, word for word.
const courseProbe = ['/bin/sh', '-c', 'nc -z localhost 8095']
const usermgmtUrl = 'http://127.0.0.1:8095'
const notificationUrl = 'http://127.0.0.1:8096'
const db = {
  host: process.env['TEST_DB_HOST'] ?? '127.0.0.1',
  port: Number(process.env['TEST_DB_PORT'] ?? 3306),
  user: process.env['TEST_DB_USER'] ?? 'root',
  password: process.env['TEST_DB_PASSWORD'] ?? '',
}
const work = mkdtempSync(join(tmpdir(), 'image-check-'))
const startedAt = new Date()

interface Row {
  readonly check: string
  readonly ok: boolean
  readonly detail: string
}
const rows: Row[] = []

function run(command: readonly string[], timeoutMs = 120_000) {
  const result = Bun.spawnSync([...command], { stdout: 'pipe', stderr: 'pipe', timeout: timeoutMs })
  return { code: result.exitCode, out: result.stdout.toString(), err: result.stderr.toString() }
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`
const lastLines = (text: string, count = 5) => text.trim().split('\n').slice(-count).join(' | ')

/** Runs one check; its error becomes a FAIL row, never an exception. */
async function check(name: string, body: () => Promise<string> | string): Promise<boolean> {
  try {
    rows.push({ check: name, ok: true, detail: await body() })
    return true
  } catch (error) {
    rows.push({ check: name, ok: false, detail: error instanceof Error ? error.message : String(error) })
    return false
  }
}

function expectEqual(actual: unknown, expected: unknown, what: string) {
  if (JSON.stringify(actual) !== JSON.stringify(expected)) {
    throw new Error(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`)
  }
}

/** An error that waiting longer cannot fix (the process exited). */
class Hopeless extends Error {}

/** Polls until the body passes; fails with its last error after the deadline, or at once when Hopeless. */
async function waitUntil<T>(what: string, timeoutMs: number, body: () => Promise<T> | T): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      return await body()
    } catch (error) {
      if (error instanceof Hopeless) throw error
      if (Date.now() > deadline) {
        throw new Error(`${what} (waited ${seconds(timeoutMs)}): ${error instanceof Error ? error.message : error}`)
      }
    }
    await Bun.sleep(250)
  }
}

// --- processes inside the image ---------------------------------------------------------------------------

const containers: string[] = []

function createContainer(name: string): string {
  const result = run([...buildah, 'from', '--pull=never', '--name', `image-check-${name}-${process.pid}`, tag])
  if (result.code !== 0) throw new Error(`buildah from: ${lastLines(result.err)}`)
  const container = result.out.trim()
  containers.push(container)
  return container
}

function runInImageArgs(container: string, env: Readonly<Record<string, string>>, argv: readonly string[]) {
  const envFlags = Object.entries(env).flatMap(([name, value]) => ['-e', `${name}=${value}`])
  return [...buildah, 'run', '--isolation', 'chroot', ...envFlags, container, '--', ...argv]
}

interface InImage {
  readonly name: string
  readonly process: Bun.Subprocess
  output(): string
  /** The process started from the image (not buildah's), once it exists. */
  appPid(): number | undefined
}

const running: InImage[] = []

function startInImage(name: string, container: string, env: Record<string, string>, argv: readonly string[]) {
  const child = Bun.spawn(runInImageArgs(container, env, argv), { stdout: 'pipe', stderr: 'pipe' })
  let text = ''
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder()
    for await (const chunk of stream) text += decoder.decode(chunk, { stream: true })
  }
  void collect(child.stdout)
  void collect(child.stderr)
  const started: InImage = {
    name,
    process: child,
    output: () => text,
    appPid: () => descendants(child.pid).find((pid) => commandLine(pid)[0] === argv[0]),
  }
  running.push(started)
  return started
}

function commandLine(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean)
  } catch {
    return []
  }
}

function descendants(ancestor: number): number[] {
  const children = new Map<number, number[]>()
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const parent = Number(readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1]?.split(' ')[1])
      children.set(parent, [...(children.get(parent) ?? []), Number(entry)])
    } catch {
      // The process ended while we looked.
    }
  }
  const found: number[] = []
  const queue = [ancestor]
  for (let pid = queue.shift(); pid !== undefined; pid = queue.shift()) {
    for (const child of children.get(pid) ?? []) {
      found.push(child)
      queue.push(child)
    }
  }
  return found
}

function ids(pid: number): { uid: string; gid: string } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const field = (name: string) => (new RegExp(`^${name}:\\s+(.*)$`, 'm').exec(status)?.[1] ?? '').split(/\s+/)
  const uids = new Set(field('Uid'))
  const gids = new Set(field('Gid'))
  return { uid: [...uids].join('/'), gid: [...gids].join('/') }
}

function jsonLine(output: string, message: string): Record<string, unknown> | undefined {
  for (const line of output.split('\n')) {
    if (!line.includes(`"message":"${message}"`)) continue
    try {
      return JSON.parse(line) as Record<string, unknown>
    } catch {
      // Not one of our log lines.
    }
  }
  return undefined
}

async function getText(url: string): Promise<{ status: number; body: string }> {
  const response = await fetch(url, { signal: AbortSignal.timeout(10_000) })
  return { status: response.status, body: await response.text() }
}

async function stopGracefully(role: InImage): Promise<string> {
  const pid = role.appPid()
  if (pid === undefined) throw new Error(`no /app process for ${role.name}`)
  const sentAt = performance.now()
  process.kill(pid, 'SIGTERM')
  const code = await Promise.race([role.process.exited, Bun.sleep(60_000).then(() => 'still running after 60 s')])
  if (code !== 0) throw new Error(`exit status ${code}: ${lastLines(role.output())}`)
  return `exit 0 ${seconds(performance.now() - sentAt)} after SIGTERM`
}

/** The image's Debian packages that matter here, from dpkg's status (or distroless-style status.d). */
function packageVersions(rootfs: string, names: readonly string[]): string {
  const texts: string[] = []
  const statusFile = join(rootfs, 'var/lib/dpkg/status')
  const statusDir = join(rootfs, 'var/lib/dpkg/status.d')
  try {
    texts.push(readFileSync(statusFile, 'utf8'))
  } catch {
    // No dpkg database: look for per-package files.
  }
  try {
    for (const file of readdirSync(statusDir)) texts.push(readFileSync(join(statusDir, file), 'utf8'))
  } catch {
    // Neither.
  }
  const versions = new Map<string, string>()
  for (const stanza of texts.join('\n\n').split(/\n\n+/)) {
    const name = /^Package: (.+)$/m.exec(stanza)?.[1]
    const version = /^Version: (.+)$/m.exec(stanza)?.[1]
    if (name && version) versions.set(name, version)
  }
  return names.map((name) => `${name} ${versions.get(name) ?? '(absent)'}`).join(', ')
}

/** What a registry stores: the layers gzip-compressed, as `buildah push` writes them. */
function compressedSize(): number {
  const layout = join(work, 'oci')
  const pushed = run([...buildah, 'push', '-q', tag, `oci:${layout}`], 600_000)
  if (pushed.code !== 0) throw new Error(`buildah push: ${lastLines(pushed.err)}`)
  const blob = (digest: string) => join(layout, 'blobs', ...digest.split(':'))
  const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string }[] }
  const manifestDigest = index.manifests[0]?.digest
  if (!manifestDigest) throw new Error('the pushed layout has no manifest')
  const manifest = JSON.parse(readFileSync(blob(manifestDigest), 'utf8')) as {
    config: { digest: string }
    layers: { digest: string }[]
  }
  return [manifest.config, ...manifest.layers].reduce((sum, part) => sum + statSync(blob(part.digest)).size, 0)
}

const megabytes = (bytes: number) => `${(bytes / 1_000_000).toFixed(1)} MB`

// --- the run ----------------------------------------------------------------------------------------------------

async function preflight() {
  if (process.getuid?.() !== 0) usage('run as root (buildah with chroot isolation and vfs storage)')
  if (run(['buildah', '--version']).code !== 0) usage('buildah not found: apt-get install -y buildah debootstrap')
  for (const port of [8095, 8096]) {
    const busy = await Bun.connect({ hostname: '127.0.0.1', port, socket: { data() {} } }).then(
      (socket) => {
        socket.end()
        return true
      },
      () => false,
    )
    if (busy) usage(`something already listens on 127.0.0.1:${port}; the roles need ports 8095 and 8096`)
  }
  const connection = await createConnection({ ...db, connectTimeout: 10_000 }).catch((error: unknown) =>
    usage(`no MariaDB at ${db.host}:${db.port} as ${db.user}: ${error instanceof Error ? error.message : error}`),
  )
  return connection
}

const versions: string[] = []
let buildSeconds = ''

async function main(): Promise<void> {
  const admin = await preflight()
  const [[server]] = (await admin.query('select version() as version')) as unknown as [[{ version: string }]]
  versions.push(`database: ${server.version} at ${db.host}:${db.port}`)
  const dbName = `image_check_${process.pid}`
  await admin.query(`drop database if exists \`${dbName}\``)
  await admin.query(`create database \`${dbName}\``)
  try {
    await checkImage(admin, dbName)
  } finally {
    await stopEverything()
    await admin.query(`drop database if exists \`${dbName}\``)
    await admin.end()
  }
}

async function checkImage(admin: Awaited<ReturnType<typeof createConnection>>, dbName: string) {
  const built = flags['no-build']
    ? await check('image present', () => {
        const found = run([...buildah, 'inspect', '--type', 'image', tag])
        if (found.code !== 0) throw new Error(`${tag} is not in local storage; run without --no-build`)
        return `${tag} (--no-build)`
      })
    : await buildImage()
  if (!built) return
  for (const base of bases) {
    const found = run([...buildah, 'inspect', '--type', 'image', base])
    if (found.code !== 0) continue
    const info = JSON.parse(found.out) as {
      FromImageID: string
      OCIv1: { config: { Labels?: Record<string, string> } }
    }
    const origin = info.OCIv1.config.Labels?.['stand-in'] ?? 'pulled'
    versions.push(`${base.replace('docker.io/library/', '')}: ${origin} (${info.FromImageID.slice(0, 12)})`)
  }

  const inspect = JSON.parse(run([...buildah, 'inspect', '--type', 'image', tag]).out) as {
    OCIv1: { config: { User?: string; Entrypoint?: string[]; Env?: string[]; ExposedPorts?: Record<string, unknown> } }
  }
  const config = inspect.OCIv1.config
  const entrypoint = config.Entrypoint ?? []
  await check('image config', () => {
    expectEqual(entrypoint, ['/app', 'serve'], 'ENTRYPOINT')
    expectEqual(config.User, '10001:10001', 'USER')
    if (!config.Env?.includes('MIMALLOC_PURGE_DELAY=10000')) throw new Error('no MIMALLOC_PURGE_DELAY=10000 in Env')
    expectEqual(Object.keys(config.ExposedPorts ?? {}).sort(), ['8095/tcp', '8096/tcp'], 'EXPOSE')
    return 'ENTRYPOINT ["/app","serve"], USER 10001:10001, MIMALLOC_PURGE_DELAY=10000, EXPOSE 8095 8096'
  })

  const sinkContainer = createContainer('sink')
  const notificationContainer = createContainer('notification')
  const usermgmtContainer = createContainer('usermgmt')

  const mounted = run([...buildah, 'mount', usermgmtContainer])
  if (mounted.code !== 0) throw new Error(`buildah mount: ${lastLines(mounted.err)}`)
  const rootfs = mounted.out.trim()
  await check('CA bundle in the image', () => {
    const bundle = readFileSync(join(rootfs, 'etc/ssl/certs/ca-certificates.crt'), 'utf8')
    const count = bundle.split('BEGIN CERTIFICATE').length - 1
    if (count < 100) throw new Error(`only ${count} certificates in /etc/ssl/certs/ca-certificates.crt`)
    return `/etc/ssl/certs/ca-certificates.crt, ${count} certificates`
  })
  const appVersion = run(runInImageArgs(usermgmtContainer, {}, ['/app', '--version'])).out.trim()
  const bunVersion = run(runInImageArgs(usermgmtContainer, { BUN_BE_BUN: '1' }, ['/app', '--version'])).out.trim()
  versions.push(`app ${appVersion}, compiled with Bun ${bunVersion}`)
  versions.push(
    `image packages: ${packageVersions(rootfs, ['libc6', 'dash', 'netcat-openbsd', 'libbsd0', 'libmd0', 'ca-certificates'])}`,
  )
  run([...buildah, 'umount', usermgmtContainer])

  // The mail sink and the X-Ray daemon stand-in: `app dev` from the same image, on free ports.
  const sink = startInImage('sink', sinkContainer, devEnv(), ['/app', 'dev'])
  let consoleUrl = ''
  let daemonAddress = ''
  let smtpPort = 0
  const sinkReady = await check('mail sink and X-Ray console (app dev)', () =>
    waitUntil('app dev did not report ready', 120_000, () => {
      if (sink.process.exitCode !== null)
        throw new Hopeless(`exited ${sink.process.exitCode}: ${lastLines(sink.output())}`)
      const ready = jsonLine(sink.output(), 'dev environment ready')
      const listening = jsonLine(sink.output(), 'x-ray console listening')
      if (!ready || !listening) throw new Error('not yet')
      consoleUrl = String(ready['console'])
      smtpPort = Number(ready['smtpPort'])
      daemonAddress = `tcp:${new URL(consoleUrl).host} udp:${String(listening['udp'])}`
      return `smtp 127.0.0.1:${smtpPort}, daemon ${daemonAddress}`
    }),
  )
  if (!sinkReady) return

  // The course's environment for each Deployment; only the addresses point at this machine.
  const xray = (name: string) => ({
    AWS_XRAY_TRACING_NAME: name,
    AWS_XRAY_DAEMON_ADDRESS: daemonAddress,
    AWS_XRAY_CONTEXT_MISSING: 'LOG_ERROR',
  })
  const notification = startInImage(
    'notification',
    notificationContainer,
    {
      AWS_MAIL_SERVER_HOST: '127.0.0.1',
      AWS_MAIL_SERVER_PORT: String(smtpPort),
      AWS_MAIL_SERVER_TLS: 'none',
      AWS_MAIL_SERVER_FROM_ADDRESS: 'stacksimplify@gmail.com',
      ...xray('V1-Notification-Microservice'),
    },
    entrypoint,
  )
  const usermgmt = startInImage(
    'usermgmt',
    usermgmtContainer,
    {
      DB_HOSTNAME: db.host,
      DB_PORT: String(db.port),
      DB_NAME: dbName,
      DB_USERNAME: db.user,
      DB_PASSWORD: db.password,
      // A name, not an address: resolving it goes through the image's /etc/nsswitch.conf and /etc/hosts.
      NOTIFICATION_SERVICE_HOST: 'localhost',
      NOTIFICATION_SERVICE_PORT: '8096',
      ...xray('User-Management-Microservice'),
    },
    entrypoint,
  )
  const up = await Promise.all(
    [
      { role: notification, url: `${notificationUrl}/notification/health-status` },
      { role: usermgmt, url: `${usermgmtUrl}/usermgmt/health/readiness` },
    ].map(({ role, url }) =>
      check(`${role.name} starts from ENTRYPOINT`, async () => {
        const began = performance.now()
        await waitUntil(`${url} did not answer 200`, 120_000, async () => {
          if (role.process.exitCode !== null) {
            throw new Hopeless(`exited ${role.process.exitCode}: ${lastLines(role.output())}`)
          }
          const answer = await getText(url)
          if (answer.status !== 200) throw new Error(`${answer.status} ${answer.body.slice(0, 200)}`)
          // The log is written in batches a few milliseconds apart, so the line may follow the first answer.
          if (!jsonLine(role.output(), `${role.name} listening`))
            throw new Error(`no "${role.name} listening" log line`)
        })
        return `role from the environment, ready in ${seconds(performance.now() - began)}`
      }),
    ),
  )
  if (up.includes(false)) return

  for (const role of [usermgmt, notification]) {
    await check(`${role.name} runs as uid 10001`, () => {
      const pid = role.appPid()
      if (pid === undefined) throw new Error('no /app process found under buildah run')
      const { uid, gid } = ids(pid)
      expectEqual({ uid, gid }, { uid: '10001', gid: '10001' }, `/proc/${pid}/status`)
      return `pid ${pid}: uid ${uid}, gid ${gid} (real, effective, saved, fs)`
    })
  }

  await check('GET /usermgmt/health-status', async () => {
    const answer = await getText(`${usermgmtUrl}/usermgmt/health-status`)
    expectEqual(answer, { status: 200, body: 'User Management Service UP and RUNNING - V1' }, 'answer')
    return `200 "${answer.body}"`
  })

  const user = {
    username: 'imagecheck',
    email: 'image-check@example.com',
    role: 'ROLE_USER',
    enabled: true,
    firstname: 'Image',
    lastname: 'Check',
    password: 'Passw0rd!',
  }
  const created = await check('POST /usermgmt/user', async () => {
    const response = await fetch(`${usermgmtUrl}/usermgmt/user`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(user),
      signal: AbortSignal.timeout(10_000),
    })
    if (response.status !== 200) throw new Error(`${response.status} ${await response.text()}`)
    const [found] = (await admin.query(`select username, email from \`${dbName}\`.users where username = ?`, [
      user.username,
    ])) as unknown as [{ username: string; email: string }[]]
    expectEqual(found, [{ username: user.username, email: user.email }], 'users row')
    return `200, row in ${dbName}.users`
  })
  if (created) {
    await check('its mail reaches the SMTP server', () =>
      waitUntil('no mail to the new user', 60_000, async () => {
        const mails = (await (await fetch(`${consoleUrl}/api/mail`)).json()) as {
          envelopeTo: string[]
          subject: string
          text: string
        }[]
        const mail = mails.find((m) => m.envelopeTo.includes(user.email))
        if (!mail) throw new Error(`${mails.length} mails, none to ${user.email}`)
        expectEqual(mail.subject, 'Stack Simplify account creation.', 'subject')
        return `"${mail.subject}" to ${user.email}`
      }),
    )
  }

  await check('GET /usermgmt/notification-xray', async () => {
    const answer = await getText(`${usermgmtUrl}/usermgmt/notification-xray`)
    expectEqual(
      { status: answer.status, body: JSON.parse(answer.body) },
      {
        status: 200,
        body: { applicationname: 'Notification Microservice', appversion: 'V1', message: 'Enabled AWS XRay' },
      },
      'answer',
    )
    return `200 ${answer.body}`
  })

  await check('its trace reaches the daemon', () =>
    waitUntil('no trace joining both roles', 60_000, async () => {
      // A trace per call: the first one in a second is sampled by the default rule, even before the rules poll.
      await getText(`${usermgmtUrl}/usermgmt/notification-xray`)
      const traces = (await (await fetch(`${consoleUrl}/api/traces`)).json()) as {
        services: string[]
        url: string | null
      }[]
      const joined = traces.find(
        (t) =>
          t.url?.endsWith('/usermgmt/notification-xray') &&
          t.services.includes('User-Management-Microservice') &&
          t.services.includes('V1-Notification-Microservice'),
      )
      if (!joined) throw new Error(`${traces.length} traces, none of notification-xray through both roles`)
      return `${joined.url}: ${joined.services.join(' -> ')} (UDP from the image's sender worker)`
    }),
  )

  const probe = () => {
    const began = performance.now()
    const result = run(runInImageArgs(usermgmtContainer, {}, courseProbe), 30_000)
    return { ...result, ms: performance.now() - began }
  }
  await check('liveness probe, usermgmt up', () => {
    const result = probe()
    if (result.code !== 0) throw new Error(`exit ${result.code}: ${lastLines(result.err)}`)
    return `${JSON.stringify(courseProbe)} exit 0`
  })
  await check('usermgmt stops on SIGTERM', () => stopGracefully(usermgmt))
  await check('liveness probe, usermgmt down', () => {
    const result = probe()
    // nc's own failure (1), not a shell that could not run it (126, 127).
    if (result.code !== 1)
      throw new Error(`exit ${result.code} with nothing on 8095, not nc's 1: ${lastLines(result.err)}`)
    return `same command, exit 1 (nc: nothing listens)`
  })
  await check('notification stops on SIGTERM', () => stopGracefully(notification))
  await check('image size', () => {
    const listed = JSON.parse(run([...buildah, 'images', '--json', tag]).out) as { size: string }[]
    return `${listed[0]?.size ?? '?'} uncompressed (buildah images), ${megabytes(compressedSize())} compressed layers`
  })
}

function devEnv(): Record<string, string> {
  return {
    DEV_USERMGMT_PORT: '0',
    DEV_NOTIFICATION_PORT: '0',
    DEV_SMTP_PORT: '0',
    DEV_XRAY_PORT: '0',
    DEV_DATA_DIR: '/tmp/image-check-dev',
    LOG_LEVEL: 'info',
  }
}

async function buildImage(): Promise<boolean> {
  const missing = bases.filter((base) => run([...buildah, 'inspect', '--type', 'image', base]).code !== 0)
  if (missing.length > 0) {
    const made = await check('base images', () => {
      const began = performance.now()
      const result = run(['bash', join(root, 'scripts', 'image-bases.sh')], 1_800_000)
      if (result.code !== 0) throw new Error(`scripts/image-bases.sh: ${lastLines(result.err)}`)
      return `made from Debian's packages by scripts/image-bases.sh in ${seconds(performance.now() - began)}`
    })
    if (!made) return false
  }
  return check('build', () => {
    const began = performance.now()
    const log = join(tmpdir(), 'image-check-build.log')
    const result = run(
      [...buildah, 'bud', '--isolation', 'chroot', '--pull=never', '--layers=false', '-t', tag, root],
      1_800_000,
    )
    writeFileSync(log, result.out + result.err)
    if (result.code !== 0) throw new Error(`buildah bud exit ${result.code}, see ${log}: ${lastLines(result.err)}`)
    buildSeconds = seconds(performance.now() - began)
    return `buildah bud --isolation chroot --layers=false: ${buildSeconds} (log: ${log})`
  })
}

async function stopEverything() {
  for (const role of running) {
    if (role.process.exitCode !== null) continue
    const pid = role.appPid()
    if (pid !== undefined) process.kill(pid, 'SIGTERM')
    else role.process.kill('SIGTERM')
  }
  for (const role of running) {
    const exited = await Promise.race([role.process.exited.then(() => true), Bun.sleep(30_000).then(() => false)])
    if (exited) continue
    for (const pid of descendants(role.process.pid)) process.kill(pid, 'SIGKILL')
    role.process.kill('SIGKILL')
  }
  for (const container of containers.splice(0)) run([...buildah, 'rm', container])
  running.splice(0)
}

function printReport() {
  const width = Math.max(...rows.map((row) => row.check.length))
  const lines = [
    `image-check ${startedAt.toISOString()}  ${tag}`,
    ...rows.map((row) => `${row.ok ? 'ok  ' : 'FAIL'}  ${row.check.padEnd(width)}  ${row.detail}`),
    '',
    `buildah ${run(['buildah', '--version'])
      .out.trim()
      .replace(/^buildah version /, '')}, storage ${storageDriver}, isolation chroot`,
    `host: Debian ${readFileSync('/etc/debian_version', 'utf8').trim()}, kernel ${run(['uname', '-r']).out.trim()}, ${navigator.hardwareConcurrency} CPUs`,
    ...versions,
    `total ${seconds(Date.now() - startedAt.getTime())}${buildSeconds ? ` (build ${buildSeconds})` : ''}`,
    rows.every((row) => row.ok) ? `all ${rows.length} checks passed` : `${rows.filter((r) => !r.ok).length} failed`,
  ]
  process.stdout.write(`${lines.join('\n')}\n`)
}

try {
  await main()
} catch (error) {
  rows.push({ check: 'image-check', ok: false, detail: error instanceof Error ? error.message : String(error) })
  await stopEverything()
} finally {
  rmSync(work, { recursive: true, force: true })
}
printReport()
process.exit(rows.length > 0 && rows.every((row) => row.ok) ? 0 : 1)
