import { randomUUID } from 'node:crypto'
import { sql } from 'kysely'
import { AppError } from '../platform'
import { type UserTextColumn, unstorableFields } from './db-charsets'
import { isDuplicateKey } from './db-errors'
import type { UsermgmtDb, UsersTable } from './db-schema'
import type { NewUser, NotificationRequest, UserUpdate, UserView } from './schemas'

const appVersion = 'V1'
const bcryptCost = 10

type UserRow = Omit<UsersTable, 'password'>

function isEnabled(value: UsersTable['enabled']): boolean {
  if (typeof value === 'boolean') return value
  if (typeof value === 'number') return value !== 0
  return value[0] === 1
}

function toView(row: UserRow): UserView {
  return {
    username: row.username,
    email: row.email,
    role: row.role,
    enabled: isEnabled(row.enabled),
    firstname: row.firstname,
    lastname: row.lastname,
    appversion: appVersion,
  }
}

const visibleColumns = ['username', 'email', 'role', 'enabled', 'firstname', 'lastname'] as const

const notFound = (username: string) => new AppError('not_found', `User with user name ${username} doesn't exist!`)
const usernameTaken = (username: string) => new AppError('duplicate', `User with user name ${username} already exists!`)
const emailTaken = (email: string) => new AppError('duplicate', `User with email ${email} already exists!`)

/** 400 with one sub-error per field the table's character set cannot hold (an adopted latin1 table). */
async function requireStorable(db: UsermgmtDb, values: Partial<Record<UserTextColumn, string>>): Promise<void> {
  const unstorable = await unstorableFields(db, values)
  if (unstorable.length === 0) return
  throw new AppError('invalid', 'Validation error', {
    subErrors: unstorable.map(({ field, charset }) => ({
      object: 'user',
      field,
      rejectedValue: values[field] ?? null,
      message: `contains characters the database cannot store (${charset})`,
    })),
  })
}

/** A user name the table cannot hold belongs to nobody: 404, without asking the table (which would fail). */
async function requireLookup(db: UsermgmtDb, username: string): Promise<void> {
  if ((await unstorableFields(db, { username })).length > 0) throw notFound(username)
}

const listQuery = (db: UsermgmtDb) => db.selectFrom('users').select(visibleColumns).orderBy('username')
// The list is the same query every time: built and compiled once per database, not on every request.
const compiledLists = new WeakMap<UsermgmtDb, ReturnType<ReturnType<typeof listQuery>['compile']>>()

export async function listUsers(db: UsermgmtDb): Promise<UserView[]> {
  let compiled = compiledLists.get(db)
  if (compiled === undefined) {
    compiled = listQuery(db).compile()
    compiledLists.set(db, compiled)
  }
  const { rows } = await db.executeQuery(compiled)
  return rows.map(toView)
}

export async function getUser(db: UsermgmtDb, username: string): Promise<UserView> {
  await requireLookup(db, username)
  const row = await db.selectFrom('users').select(visibleColumns).where('username', '=', username).executeTakeFirst()
  if (!row) throw notFound(username)
  return toView(row)
}

async function emailOwner(db: UsermgmtDb, email: string): Promise<string | undefined> {
  const row = await db
    .selectFrom('users')
    .select('username')
    .where((eb) => eb(eb.fn('lower', ['email']), '=', email.toLowerCase()))
    .executeTakeFirst()
  return row?.username
}

export interface CreateUserOptions {
  /** The trace to continue when the account mail is delivered later. */
  readonly traceHeader?: string | undefined
}

/**
 * Stores the user and, in the same transaction, the account-creation mail in the outbox, so the mail is
 * never lost and never blocks or fails the request (the original lost it when notification was down).
 */
export async function createUser(
  db: UsermgmtDb,
  user: NewUser,
  mail: NotificationRequest,
  options: CreateUserOptions = {},
): Promise<void> {
  const { username, email, role, firstname, lastname } = user
  await requireStorable(db, { username, email, role, firstname, lastname })
  const hash = await Bun.password.hash(user.password, { algorithm: 'bcrypt', cost: bcryptCost })
  const now = Date.now()
  try {
    await db.transaction().execute(async (trx) => {
      const existing = await trx
        .selectFrom('users')
        .select('username')
        .where('username', '=', user.username)
        .executeTakeFirst()
      if (existing) throw usernameTaken(user.username)
      if ((await emailOwner(trx, user.email)) !== undefined) throw emailTaken(user.email)
      await trx
        .insertInto('users')
        .values({
          username: user.username,
          password: hash,
          enabled: user.enabled,
          role: user.role,
          email: user.email,
          firstname: user.firstname,
          lastname: user.lastname,
        })
        .execute()
      await trx
        .insertInto('notification_outbox')
        .values({
          idempotency_key: randomUUID(),
          payload: JSON.stringify(mail),
          trace_header: options.traceHeader ?? null,
          status: 'pending',
          attempts: 0,
          created_at: now,
          next_attempt_at: now,
        })
        .execute()
    })
  } catch (error) {
    // Two requests raced past the checks: the unique keys decide, and the loser gets the same 400.
    if (!isDuplicateKey(error)) throw error
    const byName = await db
      .selectFrom('users')
      .select('username')
      .where('username', '=', user.username)
      .executeTakeFirst()
    throw byName ? usernameTaken(user.username) : emailTaken(user.email)
  }
}

export async function updateUser(db: UsermgmtDb, update: UserUpdate): Promise<void> {
  await requireStorable(db, { email: update.email, firstname: update.firstname, lastname: update.lastname })
  await requireLookup(db, update.username)
  try {
    await db.transaction().execute(async (trx) => {
      const owner = await emailOwner(trx, update.email)
      if (owner !== undefined && owner !== update.username) throw emailTaken(update.email)
      const result = await trx
        .updateTable('users')
        .set({ email: update.email, firstname: update.firstname, lastname: update.lastname })
        .where('username', '=', update.username)
        .executeTakeFirst()
      if (result.numUpdatedRows === 0n) {
        const exists = await trx
          .selectFrom('users')
          .select('username')
          .where('username', '=', update.username)
          .executeTakeFirst()
        if (!exists) throw notFound(update.username)
      }
    })
  } catch (error) {
    if (isDuplicateKey(error)) throw emailTaken(update.email)
    throw error
  }
}

export async function deleteUser(db: UsermgmtDb, username: string): Promise<void> {
  await requireLookup(db, username)
  const result = await db.deleteFrom('users').where('username', '=', username).executeTakeFirst()
  if (result.numDeletedRows === 0n) throw notFound(username)
}

async function exists(db: UsermgmtDb, username: string): Promise<boolean> {
  const row = await db.selectFrom('users').select('username').where('username', '=', username).executeTakeFirst()
  return row !== undefined
}

/** GET /status/{username}: flips `enabled` in one statement, so racing calls each flip it once. */
export async function toggleUserStatus(db: UsermgmtDb, username: string): Promise<void> {
  await requireLookup(db, username)
  const result = await db
    .updateTable('users')
    .set({ enabled: sql<boolean>`not enabled` })
    .where('username', '=', username)
    .executeTakeFirst()
  if (result.numUpdatedRows === 0n) throw notFound(username)
}

/** One conditional update: among racing activations exactly one changes the row, the rest are told it is done. */
export async function activateUser(db: UsermgmtDb, username: string): Promise<void> {
  await requireLookup(db, username)
  const result = await db
    .updateTable('users')
    .set({ enabled: true })
    .where('username', '=', username)
    .where('enabled', '=', false)
    .executeTakeFirst()
  if (result.numUpdatedRows === 1n) return
  if (!(await exists(db, username))) throw notFound(username)
  throw new AppError('already_done', 'User already activated!')
}

/** Checks a password against the stored bcrypt hash, including the original's `$2a$` hashes. */
export async function verifyPassword(db: UsermgmtDb, username: string, password: string): Promise<boolean> {
  if ((await unstorableFields(db, { username })).length > 0) return false
  const row = await db.selectFrom('users').select('password').where('username', '=', username).executeTakeFirst()
  if (!row?.password.startsWith('$2')) return false
  return Bun.password.verify(password, row.password, 'bcrypt')
}
