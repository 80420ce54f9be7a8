import { type RawBuilder, sql } from 'kysely'
import type { QueryTrace } from './db-driver'
import type { PoolStats } from './db-pool'
import type { SqlDialectName, UsermgmtDb } from './db-schema'

export type { UsermgmtDb } from './db-schema'

/** What traces say about the database: never the password. */
export interface DatabaseDescription {
  /** `<database>@<host>`, the name the database has in traces and logs. */
  readonly label: string
  readonly url: string
  readonly databaseType: 'MySQL' | 'SQLite'
  readonly driverVersion: string
  readonly user: string | undefined
}

/** The database handle the role is given: MySQL in production, SQLite for `./app dev`. */
export interface UsermgmtDatabase extends DatabaseDescription {
  readonly db: UsermgmtDb
  readonly dialect: SqlDialectName
  /** Every query from now on runs through this (the tracing layer's SQL subsegments). */
  instrument(trace: QueryTrace): void
  /** The server's version, e.g. 10.11.19-MariaDB; read once. */
  serverVersion(): Promise<string | undefined>
  /** Whether the database answers now, asked with a short deadline. Never throws. */
  probe(): Promise<ProbeResult>
  /** Runs schema migrations, whose statements may take longer than a request's. */
  migrating<T>(work: () => Promise<T>): Promise<T>
  /** Connections handed out and requests waiting for one. */
  poolStats(): PoolStats
  destroy(): Promise<void>
}

export type ProbeResult = { readonly up: true } | { readonly up: false; readonly error: unknown }

/** `select 1`, run the way `scope` says (with the probe's deadlines), as a result instead of a throw. */
export async function probeWith(
  db: UsermgmtDb,
  scope: (work: () => Promise<unknown>) => Promise<unknown>,
): Promise<ProbeResult> {
  try {
    await scope(() => sql`select 1`.execute(db))
    return { up: true }
  } catch (error) {
    return { up: false, error }
  }
}

/** The server's version, asked once and remembered; undefined while the server cannot be asked. */
export function onceVersion(db: UsermgmtDb, query: RawBuilder<{ v: string }>): () => Promise<string | undefined> {
  let version: string | undefined
  return async () => {
    if (version !== undefined) return version
    try {
      version = (await query.execute(db)).rows[0]?.v
    } catch {
      return undefined
    }
    return version
  }
}
