import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createTestDatabase, type TestDatabase } from '../testing'
import { createMysqlDatabase, createSqliteDatabase, migrateToLatest, type UsermgmtDatabase } from '.'

const row = (username: string) => ({
  username,
  password: 'x',
  enabled: 1,
  role: 'ROLE_USER',
  email: `${username}@example.com`,
  firstname: 'F',
  lastname: 'L',
})

async function savepointOutcome(database: UsermgmtDatabase): Promise<string[]> {
  const report = await migrateToLatest(database)
  expect(report.ok).toBe(true)
  const trx = await database.db.startTransaction().execute()
  await trx.insertInto('users').values(row('kept')).execute()
  const afterKept = await trx.savepoint('after_kept').execute()
  await afterKept.insertInto('users').values(row('undone')).execute()
  const rolledBack = await afterKept.rollbackToSavepoint('after_kept').execute()
  const again = await rolledBack.savepoint('again').execute()
  await again.insertInto('users').values(row('released')).execute()
  await (await again.releaseSavepoint('again').execute()).commit().execute()
  const rows = await database.db.selectFrom('users').select('username').orderBy('username').execute()
  return rows.map((r) => r.username)
}

describe('savepoints through the guarded driver', () => {
  let testDb: TestDatabase
  beforeAll(async () => {
    testDb = await createTestDatabase()
  })
  afterAll(async () => {
    await testDb.drop()
  })

  test('on MariaDB: rolling back to a savepoint undoes only what came after it', async () => {
    const database = createMysqlDatabase(testDb.config)
    try {
      expect(await savepointOutcome(database)).toEqual(['kept', 'released'])
    } finally {
      await database.destroy()
    }
  })

  test('on SQLite: rolling back to a savepoint undoes only what came after it', async () => {
    const database = createSqliteDatabase(join(mkdtempSync(join(tmpdir(), 'savepoint-')), 'db.sqlite'))
    try {
      expect(await savepointOutcome(database)).toEqual(['kept', 'released'])
    } finally {
      await database.destroy()
    }
  })
})
