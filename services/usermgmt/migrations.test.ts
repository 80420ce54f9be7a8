import { afterEach, beforeEach, describe, expect, test } from 'bun:test'
import { captureLog, createTestDatabase, type TestDatabase, waitUntil } from '../testing'
import { createMysqlDatabase, migrateToLatest, startUsermgmt, verifyPassword } from '.'

// Spring Security's documented BCrypt example: "$2a$10$dXJ3..." is the hash of "password".
const springHash = '$2a$10$dXJ3SW6G7P50lGmMkkmwe.20cQQubK3.HZWzG3YB1tlRy.fqvM/BG'

describe('migrations on MariaDB', () => {
  let testDb: TestDatabase
  beforeEach(async () => {
    testDb = await createTestDatabase()
  })
  afterEach(async () => {
    await testDb.drop()
  })

  test('GIVEN a users table made by the original service WHEN usermgmt starts THEN every row is kept and its $2a$ hash still verifies', async () => {
    // The DDL Hibernate (ddl-auto=update) generated for the original's User entity.
    await testDb.query(
      'create table users (username varchar(255) not null, email varchar(255) not null, enabled bit not null, firstname varchar(255) not null, lastname varchar(255) not null, password varchar(255) not null, role varchar(255) not null, primary key (username)) engine=InnoDB',
    )
    await testDb.query('insert into users values (?, ?, ?, ?, ?, ?, ?), (?, ?, ?, ?, ?, ?, ?)', [
      'legacy1',
      'legacy1@example.com',
      1,
      'Lea',
      'Gacy',
      springHash,
      'ROLE_ADMIN',
      'legacy2',
      'legacy2@example.com',
      0,
      'Leo',
      '',
      springHash,
      'ROLE_USER',
    ])
    const { log } = captureLog()
    await using role = startUsermgmt({
      database: createMysqlDatabase(testDb.config),
      notificationBaseUrl: 'http://127.0.0.1:9',
      port: 0,
      log,
    })
    const users = await waitUntil(async () => {
      const response = await fetch(`${role.url}/usermgmt/users`)
      if (response.status !== 200) throw new Error(`status ${response.status}`)
      return response.json()
    })
    expect(users).toEqual([
      {
        username: 'legacy1',
        email: 'legacy1@example.com',
        role: 'ROLE_ADMIN',
        enabled: true,
        firstname: 'Lea',
        lastname: 'Gacy',
        appversion: 'V1',
      },
      {
        username: 'legacy2',
        email: 'legacy2@example.com',
        role: 'ROLE_USER',
        enabled: false,
        firstname: 'Leo',
        lastname: '',
        appversion: 'V1',
      },
    ])
    const database = createMysqlDatabase(testDb.config)
    try {
      expect(await verifyPassword(database.db, 'legacy1', 'password')).toBe(true)
      expect(await verifyPassword(database.db, 'legacy1', 'Password')).toBe(false)
    } finally {
      await database.destroy()
    }
    const [columns] = await testDb.query<{ n: number }>(
      "select count(*) as n from information_schema.columns where table_schema = database() and table_name = 'users'",
    )
    expect(Number(columns?.n)).toBe(7)
  })

  test('GIVEN two replicas starting at the same moment THEN each migration runs exactly once and both succeed', async () => {
    const first = createMysqlDatabase(testDb.config)
    const second = createMysqlDatabase(testDb.config)
    try {
      const [a, b] = await Promise.all([migrateToLatest(first), migrateToLatest(second)])
      expect(a.ok && b.ok).toBe(true)
      expect([...a.applied, ...b.applied].sort()).toEqual([
        '0001_users',
        '0002_users_email_unique',
        '0003_notification_outbox',
      ])
      const again = await migrateToLatest(first)
      expect(again).toEqual({ ok: true, applied: [] })
    } finally {
      await first.destroy()
      await second.destroy()
    }
  })

  test('stores new passwords only as bcrypt hashes', async () => {
    const { log } = captureLog()
    await using role = startUsermgmt({
      database: createMysqlDatabase(testDb.config),
      notificationBaseUrl: 'http://127.0.0.1:9',
      port: 0,
      log,
    })
    const user = {
      username: 'hashme',
      email: 'h@example.com',
      role: 'ROLE_USER',
      enabled: true,
      firstname: 'H',
      lastname: 'M',
      password: 'Sup3r$ecret',
    }
    const response = await waitUntil(async () => {
      const r = await fetch(`${role.url}/usermgmt/user`, { method: 'POST', body: JSON.stringify(user) })
      if (r.status === 503) throw new Error('not migrated yet')
      return r
    })
    expect(response.status).toBe(200)
    const [row] = await testDb.query<{ password: string }>('select password from users where username = ?', ['hashme'])
    expect(row?.password).toMatch(/^\$2[aby]\$10\$.{53}$/)
    expect(row?.password).not.toContain('Sup3r$ecret')
  })
})
