import { type Kysely, type Migration, type MigrationProvider, type MigrationResultSet, Migrator, sql } from 'kysely'
import type { UsermgmtDatabase } from './db'
import type { SqlDialectName } from './db-schema'

// Migrations take Kysely<unknown>: they describe the schema as it was at their time, not as the code sees it now.
type AnyDb = Kysely<unknown>

async function mysqlIndexExists(db: AnyDb, table: string, index: string): Promise<boolean> {
  const result = await sql<{ n: number }>`
    select count(*) as n from information_schema.statistics
    where table_schema = database() and table_name = ${table} and index_name = ${index}`.execute(db)
  return Number(result.rows[0]?.n ?? 0) > 0
}

function migrations(dialect: SqlDialectName): Record<string, Migration> {
  return {
    // The original's table (Hibernate ddl-auto=update). `if not exists` adopts a table it made, rows and all.
    '0001_users': {
      async up(db: AnyDb) {
        await db.schema
          .createTable('users')
          .ifNotExists()
          .addColumn('username', 'varchar(255)', (c) => c.notNull().primaryKey())
          .addColumn('password', 'varchar(255)', (c) => c.notNull())
          .addColumn('enabled', dialect === 'mysql' ? sql`bit(1)` : 'integer', (c) => c.notNull())
          .addColumn('role', 'varchar(255)', (c) => c.notNull())
          .addColumn('email', 'varchar(255)', (c) => c.notNull())
          .addColumn('firstname', 'varchar(255)', (c) => c.notNull())
          .addColumn('lastname', 'varchar(255)', (c) => c.notNull())
          .execute()
      },
    },
    // E-mail is unique case-insensitively (the original checked it in code; the index closes the race).
    '0002_users_email_unique': {
      async up(db: AnyDb) {
        if (dialect === 'sqlite') {
          await sql`create unique index if not exists users_email_unique on users (email collate nocase)`.execute(db)
        } else if (!(await mysqlIndexExists(db, 'users', 'users_email_unique'))) {
          await db.schema.createIndex('users_email_unique').unique().on('users').column('email').execute()
        }
      },
    },
    '0003_notification_outbox': {
      async up(db: AnyDb) {
        await db.schema
          .createTable('notification_outbox')
          .ifNotExists()
          .addColumn('id', dialect === 'mysql' ? 'bigint' : 'integer', (c) =>
            dialect === 'mysql' ? c.primaryKey().autoIncrement() : c.primaryKey(),
          )
          .addColumn('idempotency_key', 'varchar(64)', (c) => c.notNull().unique())
          .addColumn('payload', 'text', (c) => c.notNull())
          .addColumn('trace_header', 'varchar(255)')
          .addColumn('status', 'varchar(16)', (c) => c.notNull())
          .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('next_attempt_at', 'bigint', (c) => c.notNull())
          .addColumn('claimed_until', 'bigint')
          .addColumn('delivered_at', 'bigint')
          .addColumn('last_error', 'varchar(512)')
          .execute()
        await db.schema
          .createIndex('notification_outbox_due')
          .on('notification_outbox')
          .columns(['status', 'next_attempt_at'])
          .execute()
      },
    },
  }
}

function provider(dialect: SqlDialectName): MigrationProvider {
  return { getMigrations: async () => migrations(dialect) }
}

export interface MigrationReport {
  readonly ok: boolean
  readonly applied: readonly string[]
  readonly error?: unknown
}

/**
 * Brings the schema up to date. Never throws: the report says what ran and what failed. On MySQL, Kysely's
 * Migrator holds a named lock (GET_LOCK) for the whole run, so replicas starting together take turns.
 */
export async function migrateToLatest(database: UsermgmtDatabase): Promise<MigrationReport> {
  const migrator = new Migrator({ db: database.db, provider: provider(database.dialect) })
  let resultSet: MigrationResultSet
  try {
    resultSet = await database.migrating(() => migrator.migrateToLatest())
  } catch (error) {
    return { ok: false, applied: [], error }
  }
  const applied = (resultSet.results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName)
  return resultSet.error === undefined ? { ok: true, applied } : { ok: false, applied, error: resultSet.error }
}
