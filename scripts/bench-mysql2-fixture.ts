// Benchmark fixture: bare Bun.serve + mysql2 answering GET /usermgmt/users with the query the usermgmt role runs
// (Kysely's text for listUsers) on a pool of the same size, and the same JSON. The limit for that route.
// Usage: DB_HOSTNAME=.. DB_PORT=.. DB_USERNAME=.. DB_PASSWORD=.. DB_NAME=.. bun scripts/bench-mysql2-fixture.ts PORT
import { createPool, type RowDataPacket } from 'mysql2/promise'

const pool = createPool({
  host: process.env['DB_HOSTNAME'],
  port: Number(process.env['DB_PORT']),
  user: process.env['DB_USERNAME'],
  password: process.env['DB_PASSWORD'],
  database: process.env['DB_NAME'],
  connectionLimit: 10,
  charset: 'utf8mb4',
})
const listUsers =
  'select `username`, `email`, `role`, `enabled`, `firstname`, `lastname` from `users` order by `username`'

/** The users table's enabled column: BIT(1) on MySQL and MariaDB (a Buffer here), a number elsewhere. */
const isEnabled = (value: unknown) => (Buffer.isBuffer(value) ? value[0] === 1 : value === 1 || value === true)

Bun.serve({
  hostname: '127.0.0.1',
  port: Number(process.argv[2]),
  development: false,
  routes: {
    '/usermgmt/users': async () => {
      const [rows] = await pool.query<RowDataPacket[]>(listUsers)
      return Response.json(
        rows.map((row) => ({
          username: row['username'],
          email: row['email'],
          role: row['role'],
          enabled: isEnabled(row['enabled']),
          firstname: row['firstname'],
          lastname: row['lastname'],
          appversion: 'V1',
        })),
      )
    },
  },
  fetch: () => new Response('Not Found', { status: 404 }),
})
