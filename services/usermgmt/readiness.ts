import { type Logger, messageOf } from '../platform'
import type { UsermgmtDatabase } from './db'
import type { OutboxDeliverer } from './outbox'
import type { SchemaState } from './routes'
import { createThrottle } from './throttle'

export interface ReadinessDeps {
  readonly database: Pick<UsermgmtDatabase, 'label' | 'probe'>
  readonly schema: () => SchemaState
  readonly outbox: () => OutboxDeliverer | undefined
  readonly log: Logger
}

const whileDownEveryMs = 60_000
const whileUpEveryMs = 10 * 60_000

/**
 * Whether the role can serve now: the schema is migrated and the database answers a short-deadline probe.
 * The world only learns up or down; why (the database's name, its error) and the outbox's counts go to the
 * log, on every change and otherwise now and then, so a probe every few seconds does not flood it.
 */
export function createReadinessCheck(deps: ReadinessDeps): () => Promise<boolean> {
  const { database, log } = deps
  const throttle = createThrottle(whileDownEveryMs)
  const upThrottle = createThrottle(whileUpEveryMs)
  let wasUp: boolean | undefined

  const outboxCounts = async () => {
    try {
      return (await deps.outbox()?.stats()) ?? null
    } catch (error) {
      return { error: messageOf(error) }
    }
  }

  return async () => {
    const schema = deps.schema()
    const probe = await database.probe()
    const up = probe.up && schema.ready
    const changed = up !== wasUp
    wasUp = up
    if (!up) {
      if (throttle('down', changed)) {
        log.warn('not ready', {
          database: database.label,
          reason: probe.up ? 'the schema is not migrated yet' : 'the database does not answer',
          ...(probe.up ? { error: schema.lastError } : { error: probe.error }),
        })
      }
    } else if (upThrottle('up', changed)) {
      log.info('ready', { database: database.label, outbox: await outboxCounts() })
    }
    return up
  }
}
