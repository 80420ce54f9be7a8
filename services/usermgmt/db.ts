import type { RawBuilder } from 'kysely'
import type { QueryTrace } from './db-driver'
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
  destroy(): Promise<void>
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
