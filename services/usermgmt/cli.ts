// `./app migrate`: the usermgmt schema brought up to date, once, for an operator or a Kubernetes Job.
// `./app outbox`: the account mails waiting, delivered or failed, and failed ones put back in the queue.
import {
  AppError,
  CliProblems,
  type Command,
  type Env,
  loadConfig,
  nearest,
  orExit,
  parseFlags,
  printUsage,
} from '../platform'
import type { UsermgmtDatabase } from './db'
import { describeDatabaseError } from './db-errors'
import { createMysqlDatabase } from './db-mysql'
import type { OutboxStatus } from './db-schema'
import { countOutbox, listOutbox, type OutboxEntry, requeueFailed } from './outbox'
import { migrateOnce } from './serve'

const usage = `Usage: app migrate

Creates or adopts the usermgmt schema in the database named by DB_HOSTNAME, DB_PORT, DB_NAME,
DB_USERNAME and DB_PASSWORD (over TLS as DB_SSL_MODE and DB_SSL_CA say), then exits: 0 when up
to date, 1 when a migration failed, with the database's own error.
The server also runs this at start-up; replicas take a MySQL named lock so they never race.

Options:
  -h, --help    this help`

export const migrateCommand: Command = {
  usage,
  async run(args, { env }) {
    const values = orExit(parseFlags('migrate', args, {}))
    if (values.help) return printUsage(usage)
    const config = orExit(loadConfig('usermgmt', env))
    if (config.role !== 'usermgmt') return 0
    const report = await migrateOnce(config)
    if (!report.ok) {
      // The database's own words (ER_BAD_DB_ERROR: Unknown database 'x'), not the 503's "Database unavailable".
      const { reason, hint } = describeDatabaseError(report.error)
      throw new CliProblems([`migration of ${report.database} failed: ${reason}${hint ? `; ${hint}` : ''}`], 1)
    }
    process.stdout.write(
      report.applied.length === 0
        ? `${report.database}: schema already up to date\n`
        : `${report.database}: applied ${report.applied.join(', ')}\n`,
    )
    return 0
  },
}

const outboxUsage = `Usage: app outbox list [--status pending|delivered|failed] [--limit N]
       app outbox retry ID... | --all-failed

The account mails usermgmt keeps in its outbox, in the database named by DB_HOSTNAME, DB_PORT, DB_NAME,
DB_USERNAME and DB_PASSWORD (as for migrate).

  list    the newest entries first: id, status, attempts, when created, the recipients and the last error,
          then how many entries have each status
  retry   puts failed entries back in the queue, due now and with their attempts counted afresh; a running
          usermgmt delivers them within seconds. Every ID must name a failed entry, or nothing changes.

An entry is failed when the mail server refused it for good (an SMTP 5xx) or the notification service kept
refusing it (a 4xx), each on 10 attempts; outages are retried for as long as they last. Fix the cause (the
address, the SES identity, the credentials), then retry.

Options:
  --status S      list only pending, delivered or failed entries
  --limit N       list at most N entries (default 100)
  --all-failed    retry every failed entry
  -h, --help      this help`

const statuses = ['pending', 'delivered', 'failed'] as const satisfies readonly OutboxStatus[]

function formatTime(ms: number | null): string {
  return ms === null ? '-' : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z')
}

function formatEntries(entries: readonly OutboxEntry[]): string {
  const rows = [
    ['ID', 'STATUS', 'ATTEMPTS', 'CREATED', 'TO', 'LAST ERROR'],
    ...entries.map((e) => [
      String(e.id),
      e.status,
      String(e.attempts),
      formatTime(e.createdAt),
      e.recipients.join(',') || '-',
      e.status === 'delivered' ? '-' : (e.lastError ?? '-'),
    ]),
  ]
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => row[column]?.length ?? 0))) ?? []
  return rows
    .map((row) =>
      row
        .map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')
}

/** Runs `work` against the database the DB_* variables name, with its errors in an operator's words. */
async function withOutboxDatabase<T>(env: Env, work: (database: UsermgmtDatabase) => Promise<T>): Promise<T> {
  const config = orExit(loadConfig('usermgmt', env))
  if (config.role !== 'usermgmt') throw new CliProblems(['outbox needs the usermgmt configuration'])
  const database = createMysqlDatabase(config.db)
  try {
    return await work(database)
  } catch (error) {
    if (error instanceof CliProblems) throw error
    const code = (error as { code?: unknown } | null)?.code
    const cause = error instanceof AppError && error.cause instanceof Error ? error.cause : error
    const reason = cause instanceof Error ? cause.message : String(cause)
    if (code === 'ER_NO_SUCH_TABLE') {
      throw new CliProblems([`${database.label} has no outbox yet: run app migrate first (${reason})`], 1)
    }
    throw new CliProblems([`outbox of ${database.label}: ${reason}`], 1)
  } finally {
    await database.destroy()
  }
}

async function listCommand(args: readonly string[], env: Env): Promise<number> {
  const values = orExit(
    parseFlags('outbox list', args, {
      status: { type: 'string', placeholder: 'pending|delivered|failed' },
      limit: { type: 'string', placeholder: 'N' },
    }),
  )
  if (values.help) return printUsage(outboxUsage)
  const problems: string[] = []
  const status = values.status === undefined ? undefined : statuses.find((known) => known === values.status)
  if (values.status !== undefined && status === undefined) {
    problems.push(`--status must be one of ${statuses.join(', ')} (got ${JSON.stringify(values.status)})`)
  }
  const limitText = values.limit ?? '100'
  const limit = Number(limitText)
  if (!/^\d{1,6}$/.test(limitText) || limit < 1 || limit > 100_000) {
    problems.push(`--limit must be a whole number from 1 to 100000 (got ${JSON.stringify(values.limit)})`)
  }
  if (problems.length > 0) throw new CliProblems(problems)
  const { entries, counts } = await withOutboxDatabase(env, async (database) => ({
    entries: await listOutbox(database.db, { ...(status === undefined ? {} : { status }), limit }),
    counts: await countOutbox(database.db),
  }))
  if (entries.length > 0) process.stdout.write(`${formatEntries(entries)}\n\n`)
  process.stdout.write(`${statuses.map((s) => `${counts[s]} ${s}`).join(', ')}\n`)
  return 0
}

async function retryCommand(args: readonly string[], env: Env): Promise<number> {
  // IDs are positional; the only options are flags without values, so the two never mix.
  const ids = args.filter((arg) => !arg.startsWith('-'))
  const parsed = parseFlags(
    'outbox retry',
    args.filter((arg) => arg.startsWith('-')),
    { 'all-failed': { type: 'boolean' } },
  )
  const values = parsed.ok ? parsed.value : {}
  if (values.help) return printUsage(outboxUsage)
  const problems = [
    ...(parsed.ok ? [] : parsed.problems),
    ...ids
      .filter((id) => !/^[1-9]\d{0,15}$/.test(id))
      .map((id) => `${JSON.stringify(id)} is not an outbox entry ID (a whole number, as app outbox list shows)`),
  ]
  const allFailed = values['all-failed'] === true
  if (allFailed && ids.length > 0) problems.push('give either IDs or --all-failed, not both')
  if (parsed.ok && !allFailed && ids.length === 0) {
    problems.push('name the entries to retry: app outbox retry ID..., or app outbox retry --all-failed')
  }
  if (problems.length > 0) throw new CliProblems(problems)
  const result = await withOutboxDatabase(env, (database) =>
    requeueFailed(database.db, allFailed ? 'all-failed' : ids.map(Number)),
  )
  if (!result.ok) throw new CliProblems(result.problems)
  process.stdout.write(
    result.requeued.length === 0
      ? 'no failed entries to retry\n'
      : `re-queued ${result.requeued.length} ${result.requeued.length === 1 ? 'entry' : 'entries'}: ${result.requeued.join(', ')}\n`,
  )
  return 0
}

export const outboxCommand: Command = {
  usage: outboxUsage,
  async run(args, { env }) {
    const [action, ...rest] = args
    switch (action) {
      case 'list':
        return listCommand(rest, env)
      case 'retry':
        return retryCommand(rest, env)
      case undefined:
        throw new CliProblems(['outbox needs an action, list or retry; see app outbox --help'])
      case '-h':
      case '--help':
        return printUsage(outboxUsage)
      default: {
        const guess = nearest(action, ['list', 'retry'])
        throw new CliProblems([
          `unknown outbox action ${JSON.stringify(action)}${guess ? ` (did you mean ${guess}?)` : ''}; use list or retry; see app outbox --help`,
        ])
      }
    }
  },
}
