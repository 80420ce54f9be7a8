import { authorizerFromConfig, type Logger, type UsermgmtConfig } from '../platform'
import { tracerFromConfig } from '../xray'
import { createMysqlDatabase } from './db-mysql'
import { type MigrationReport, migrateToLatest } from './migrations'
import { neverTracedPaths } from './routes'
import { type RunningRole, startUsermgmt } from './start'

/** `./app serve --role=usermgmt`: MySQL from the contract's DB_* variables, notification over HTTP. */
export function serveUsermgmt(config: UsermgmtConfig, log: Logger, version: string): RunningRole {
  return startUsermgmt({
    tracer: tracerFromConfig(config.xray, log, version, { neverSample: neverTracedPaths }),
    collectSqlQueries: config.xray.collectSqlQueries,
    database: createMysqlDatabase(config.db, { log: log.child({ component: 'database' }) }),
    notificationBaseUrl: `http://${config.notification.host}:${config.notification.port}`,
    port: config.port,
    log,
    authorizer: authorizerFromConfig(config.auth, log.child({ component: 'auth' })),
    notificationToken: config.notificationToken,
    accountLimit: config.accountLimit,
  })
}

/** `./app migrate`: run the migrations once and report; the caller turns the report into an exit code. */
export async function migrateOnce(config: UsermgmtConfig): Promise<MigrationReport & { readonly database: string }> {
  const database = createMysqlDatabase(config.db)
  try {
    return { ...(await migrateToLatest(database)), database: database.label }
  } finally {
    await database.destroy()
  }
}
