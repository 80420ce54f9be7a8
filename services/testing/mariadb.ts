import { randomBytes } from 'node:crypto'
import { createConnection } from 'mysql2/promise'
import { type DatabaseConfig, Secret } from '../platform'

/** The MariaDB/MySQL server the tests use: 127.0.0.1:3306 as root, overridable with TEST_DB_*. */
export function testServer() {
  return {
    host: process.env['TEST_DB_HOST'] ?? '127.0.0.1',
    port: Number(process.env['TEST_DB_PORT'] ?? 3306),
    user: process.env['TEST_DB_USER'] ?? 'root',
    password: process.env['TEST_DB_PASSWORD'] ?? '',
  }
}

export interface TestDatabase {
  readonly config: DatabaseConfig
  /** The DB_* variables that point `./app` at this database. */
  readonly env: Readonly<Record<string, string>>
  /** Runs SQL on the test database directly, as an operator (or the original service) would. */
  query<TRow = Record<string, unknown>>(sql: string, values?: unknown[]): Promise<TRow[]>
  drop(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

/** A database of its own for one test file: test_<pid>_<random>, dropped at the end. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const server = testServer()
  const name = `test_${process.pid}_${randomBytes(4).toString('hex')}`
  const admin = await createConnection({ ...server, multipleStatements: false })
  await admin.query(`create database \`${name}\` character set utf8mb4 collate utf8mb4_general_ci`)
  await admin.query(`use \`${name}\``)
  let dropped = false
  const drop = async () => {
    if (dropped) return
    dropped = true
    await admin.query(`drop database if exists \`${name}\``)
    await admin.end()
  }
  return {
    config: { host: server.host, port: server.port, name, user: server.user, password: new Secret(server.password) },
    env: {
      DB_HOSTNAME: server.host,
      DB_PORT: String(server.port),
      DB_NAME: name,
      DB_USERNAME: server.user,
      DB_PASSWORD: server.password,
    },
    async query<TRow>(sql: string, values: unknown[] = []) {
      const [rows] = await admin.query(sql, values)
      return rows as TRow[]
    },
    drop,
    [Symbol.asyncDispose]: drop,
  }
}
