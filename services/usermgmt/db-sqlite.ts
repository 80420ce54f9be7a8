import { Database as SqliteDatabase } from 'bun:sqlite'
import { Kysely, SqliteDialect, sql } from 'kysely'
import { onceVersion, probeWith, type UsermgmtDatabase } from './db'
import { guardedDialect, type Instrumentation } from './db-driver'
import type { UsermgmtSchema } from './db-schema'

/** bun:sqlite behind Kysely's SqliteDialect: the same queries and migrations as MySQL, for `./app dev`. */
export function createSqliteDatabase(file: string): UsermgmtDatabase {
  const sqlite = new SqliteDatabase(file, { create: true, strict: true })
  sqlite.run('pragma journal_mode = wal')
  sqlite.run('pragma busy_timeout = 5000')
  sqlite.run('pragma foreign_keys = on')
  const instrumentation: Instrumentation = { trace: undefined }
  const db = new Kysely<UsermgmtSchema>({
    dialect: guardedDialect(
      new SqliteDialect({
        database: {
          close: () => sqlite.close(),
          prepare(text) {
            const statement = sqlite.prepare(text)
            return {
              reader: statement.columnNames.length > 0,
              all: (parameters) => statement.all(...(parameters as never[])),
              run: (parameters) => statement.run(...(parameters as never[])),
              iterate: (parameters) => statement.iterate(...(parameters as never[])),
            }
          },
        },
      }),
      instrumentation,
    ),
  })
  const name = file.split('/').pop() ?? file
  return {
    db,
    dialect: 'sqlite',
    label: `${name}@localhost`,
    url: `sqlite://localhost/${name}`,
    databaseType: 'SQLite',
    driverVersion: `bun:sqlite ${Bun.version}`,
    user: undefined,
    instrument: (trace) => {
      instrumentation.trace = trace
    },
    serverVersion: onceVersion(db, sql<{ v: string }>`select sqlite_version() as v`),
    // bun:sqlite answers synchronously (or after busy_timeout): there is nothing to put a deadline on.
    probe: () => probeWith(db, (work) => work()),
    migrating: (work) => work(),
    poolStats: () => ({ inUse: 0, waiting: 0 }),
    destroy: () => db.destroy(),
  }
}
