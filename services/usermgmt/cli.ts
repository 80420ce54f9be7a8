// `./app migrate`: the usermgmt schema brought up to date, once, for an operator or a Kubernetes Job.
import { CliProblems, type Command, loadConfig, orExit, parseFlags, printUsage } from '../platform'
import { describeDatabaseError } from './db-errors'
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
