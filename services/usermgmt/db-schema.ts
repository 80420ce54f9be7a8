import type { Generated, Kysely } from 'kysely'

/** The `users` table exactly as the original's JPA mapping created it (all NOT NULL). */
export interface UsersTable {
  username: string
  password: string
  // bit(1) on MySQL (as Hibernate made it, read back as a Buffer), integer on SQLite.
  enabled: boolean | number | Uint8Array
  role: string
  email: string
  firstname: string
  lastname: string
}

export type OutboxStatus = 'pending' | 'delivered' | 'failed'

export interface NotificationOutboxTable {
  id: Generated<number>
  idempotency_key: string
  payload: string
  trace_header: string | null
  status: OutboxStatus
  attempts: number
  created_at: number
  next_attempt_at: number
  claimed_until: number | null
  delivered_at: number | null
  last_error: string | null
}

export interface UsermgmtSchema {
  users: UsersTable
  notification_outbox: NotificationOutboxTable
}

export type UsermgmtDb = Kysely<UsermgmtSchema>
export type SqlDialectName = 'mysql' | 'sqlite'
