import { existsSync } from 'node:fs'
import { join } from 'node:path'

const root = join(import.meta.dir, '..', '..')
export const appBinary = join(root, 'app')

/** The compiled ./app; built here if the test command did not build it first. */
export function ensureBinary(): string {
  if (!existsSync(appBinary)) {
    const build = Bun.spawnSync([process.execPath, join(root, 'scripts', 'build.ts')], { cwd: root })
    if (build.exitCode !== 0) throw new Error(`build failed: ${build.stderr.toString()}`)
  }
  return appBinary
}

export interface AppProcess {
  readonly lines: Record<string, unknown>[]
  readonly stderr: () => string
  readonly stdout: () => string
  /** Resolves with the first JSON log line that matches. */
  waitForLog(match: (line: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>
  readonly exited: Promise<number>
  kill(signal?: NodeJS.Signals): void
  [Symbol.asyncDispose](): Promise<void>
}

/** Spawns ./app with only the given environment (plus PATH), collecting its JSON log lines. */
export function spawnApp(args: readonly string[], env: Record<string, string> = {}): AppProcess {
  const child = Bun.spawn([ensureBinary(), ...args], {
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...env },
    stdout: 'pipe',
    stderr: 'pipe',
  })
  const lines: Record<string, unknown>[] = []
  let out = ''
  let err = ''
  const waiters: {
    match: (line: Record<string, unknown>) => boolean
    resolve: (line: Record<string, unknown>) => void
  }[] = []
  const pump = async (stream: ReadableStream<Uint8Array>, onText: (text: string) => void) => {
    const decoder = new TextDecoder()
    for await (const chunk of stream) onText(decoder.decode(chunk, { stream: true }))
  }
  let partial = ''
  const stdoutDone = pump(child.stdout, (text) => {
    out += text
    partial += text
    const parts = partial.split('\n')
    partial = parts.pop() ?? ''
    for (const part of parts) {
      if (!part.startsWith('{')) continue
      const line = JSON.parse(part) as Record<string, unknown>
      lines.push(line)
      for (const waiter of [...waiters]) {
        if (waiter.match(line)) {
          waiters.splice(waiters.indexOf(waiter), 1)
          waiter.resolve(line)
        }
      }
    }
  })
  const stderrDone = pump(child.stderr, (text) => {
    err += text
  })
  const exited = (async () => {
    const code = await child.exited
    await Promise.all([stdoutDone, stderrDone])
    return code
  })()
  return {
    lines,
    stderr: () => err,
    stdout: () => out,
    waitForLog(match) {
      const found = lines.find(match)
      if (found) return Promise.resolve(found)
      return new Promise((resolve, reject) => {
        waiters.push({ match, resolve })
        void exited.then((code) => reject(new Error(`app exited with ${code} first; stderr: ${err}`)))
      })
    },
    exited,
    kill: (signal = 'SIGTERM') => child.kill(signal),
    async [Symbol.asyncDispose]() {
      if (child.exitCode === null) child.kill('SIGKILL')
      await exited
    },
  }
}

/** Runs ./app to completion. */
export function runApp(args: readonly string[], env: Record<string, string> = {}) {
  const result = Bun.spawnSync([ensureBinary(), ...args], {
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...env },
  })
  return { code: result.exitCode, stdout: result.stdout.toString(), stderr: result.stderr.toString() }
}
