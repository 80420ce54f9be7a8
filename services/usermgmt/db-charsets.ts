import { sql } from 'kysely'
import type { UsermgmtDatabase } from './db'
import type { UsermgmtDb } from './db-schema'

/** The `users` columns that hold text a client sends. */
export type UserTextColumn = 'username' | 'email' | 'role' | 'firstname' | 'lastname'

// Character sets that hold every Unicode character. Any other (latin1, as Hibernate made the table on
// MySQL 5.7, or utf8mb3) cannot hold some, and MySQL then fails the query or stores '?'.
const fullUnicode = new Set(['utf8mb4', 'utf16', 'utf16le', 'utf32'])
// Character sets in which printable ASCII is always stored as itself: no need to ask about such text.
const asciiSafe = new Set(['latin1', 'latin2', 'utf8', 'utf8mb3', 'ascii', 'ucs2', 'cp1250', 'cp1251', 'cp1256'])

// Per database handle: which columns are narrower than utf8mb4, learned once the schema is migrated.
const narrowColumnsOf = new WeakMap<UsermgmtDb, ReadonlyMap<string, string>>()

/**
 * Learns which `users` columns use a character set narrower than utf8mb4 (an adopted table), so that values
 * they cannot store are refused up front. The table is left as it is: converting it could merge rows its
 * collation kept apart, and the original service may still be using it.
 */
export async function learnColumnCharsets(database: UsermgmtDatabase): Promise<ReadonlyMap<string, string>> {
  if (database.dialect !== 'mysql') return new Map()
  const { rows } = await sql<{ name: string; charset: string }>`
    select column_name as name, character_set_name as charset from information_schema.columns
    where table_schema = database() and table_name = 'users' and character_set_name is not null`.execute(database.db)
  const narrow = new Map(
    rows
      .map((row) => [row.name.toLowerCase(), row.charset.toLowerCase()] as const)
      .filter(([, charset]) => !fullUnicode.has(charset) && /^[a-z0-9_]+$/.test(charset)),
  )
  narrowColumnsOf.set(database.db, narrow)
  return narrow
}

export interface Unstorable {
  readonly field: UserTextColumn
  readonly charset: string
}

/** The fields whose value the `users` table cannot store as given; the database itself is asked. */
export async function unstorableFields(
  db: UsermgmtDb,
  values: Partial<Record<UserTextColumn, string>>,
): Promise<Unstorable[]> {
  const narrow = narrowColumnsOf.get(db)
  if (narrow === undefined || narrow.size === 0) return []
  const questions: { field: UserTextColumn; charset: string; value: string }[] = []
  for (const field of ['username', 'email', 'role', 'firstname', 'lastname'] as const) {
    const value = values[field]
    const charset = narrow.get(field)
    if (value === undefined || charset === undefined) continue
    if (asciiSafe.has(charset) && /^[\x20-\x7e]*$/.test(value)) continue
    questions.push({ field, charset, value })
  }
  if (questions.length === 0) return []
  // Converted there and back, text the character set cannot hold comes back changed ('?' in its place).
  const checks = questions.map(
    (q, index) =>
      sql`convert(convert(${q.value} using ${sql.raw(q.charset)}) using utf8mb4) = ${q.value} collate utf8mb4_bin as ${sql.ref(`f${index}`)}`,
  )
  const { rows } = await sql<Record<string, unknown>>`select ${sql.join(checks)}`.execute(db)
  const answers = rows[0] ?? {}
  return questions
    .filter((_, index) => Number(answers[`f${index}`]) !== 1)
    .map(({ field, charset }) => ({ field, charset }))
}
