import { flushLogs, type Logger } from './logger'
import { mailDeliveryDeadlineMs } from './mail-contract'
import type { HttpServer } from './server'

export interface Stoppable {
  stop(): Promise<void>
}

/**
 * How long a stop may take before the process exits anyway: above the longest drain (an in-flight mail send and
 * its answer), and below Kubernetes' default termination grace period of 30 s.
 */
export const shutdownGraceMs = mailDeliveryDeadlineMs + 5000

/**
 * Stops everything on SIGTERM or SIGINT (Ctrl-C) and exits 0; a second signal, or a stop that takes longer
 * than the grace period, exits at once with 1 so that nothing ever hangs.
 */
export function stopOnSignal(target: Stoppable, log: Logger, graceMs = shutdownGraceMs): Promise<void> {
  return new Promise((resolve) => {
    let stopping = false
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) {
        log.warn('second signal; exiting now', { signal })
        process.exit(1)
      }
      stopping = true
      log.info('shutting down', { signal })
      const force = setTimeout(() => {
        log.error('shutdown took too long; exiting', { graceMs })
        process.exit(1)
      }, graceMs)
      force.unref()
      target
        .stop()
        .then(() => {
          clearTimeout(force)
          flushLogs()
          resolve()
        })
        .catch((error: unknown) => {
          log.error('shutdown failed', { error })
          process.exit(1)
        })
    }
    process.on('SIGTERM', onSignal)
    process.on('SIGINT', onSignal)
  })
}

/** A started role: its server, and one stop that runs once however often it is called. */
export interface RunningService {
  readonly server: HttpServer
  readonly url: string
  stop(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

export function runningService(server: HttpServer, shutdown: () => Promise<void>): RunningService {
  let stopping: Promise<void> | undefined
  const stop = () => {
    stopping ??= shutdown()
    return stopping
  }
  return { server, url: server.url, stop, [Symbol.asyncDispose]: stop }
}
