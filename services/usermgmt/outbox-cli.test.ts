// `./app outbox list|retry`, run as an operator would: the compiled binary against a real MariaDB database.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'bun:test'
import { createTestDatabase, runApp, type TestDatabase } from '../testing'

let db: TestDatabase
let env: Record<string, string>

beforeAll(async () => {
  db = await createTestDatabase()
  env = db.env
})
afterAll(() => db.drop())

const created = Date.UTC(2026, 0, 2, 3, 4, 5)

async function insert(id: number, status: string, attempts: number, lastError: string | null, to: string) {
  await db.query(
    `insert into notification_outbox (id, idempotency_key, payload, status, attempts, created_at, next_attempt_at,
      claimed_until, delivered_at, last_error) values (?, ?, ?, ?, ?, ?, ?, null, ?, ?)`,
    [
      id,
      `key-${id}`,
      JSON.stringify({ subject: 's', content: 'c', toEmails: [to] }),
      status,
      attempts,
      created,
      created + 60_000,
      status === 'delivered' ? created + 1000 : null,
      lastError,
    ],
  )
}

const rows = () => db.query('select * from notification_outbox order by id')

describe('app outbox before the schema exists', () => {
  test('says to run migrate first, and exits 1', () => {
    const result = runApp(['outbox', 'list'], env)
    expect(result.code).toBe(1)
    expect(result.stderr).toStartWith(
      `app: ${db.config.name}@${db.config.host} has no outbox yet: run app migrate first`,
    )
  })
})

describe('app outbox on a migrated database', () => {
  beforeAll(() => {
    expect(runApp(['migrate'], env).code).toBe(0)
  })
  beforeEach(async () => {
    await db.query('delete from notification_outbox')
    await insert(1, 'delivered', 1, null, 'ann@example.com')
    await insert(
      2,
      'failed',
      10,
      'Notification service answered 502 for /notification/send (mail refused permanently: 550)',
      'bob@example.com',
    )
    await insert(3, 'pending', 2, 'Notification service unavailable', 'cat@example.com')
    await insert(4, 'failed', 10, 'Notification service answered 400 for /notification/send', 'dan@example.com')
  })

  test('list shows the newest entries first with their recipients and last errors, then the counts', () => {
    const result = runApp(['outbox', 'list'], env)
    expect(result).toEqual({
      code: 0,
      stderr: '',
      stdout: [
        'ID  STATUS     ATTEMPTS  CREATED               TO               LAST ERROR',
        '4   failed     10        2026-01-02T03:04:05Z  dan@example.com  Notification service answered 400 for /notification/send',
        '3   pending    2         2026-01-02T03:04:05Z  cat@example.com  Notification service unavailable',
        '2   failed     10        2026-01-02T03:04:05Z  bob@example.com  Notification service answered 502 for /notification/send (mail refused permanently: 550)',
        '1   delivered  1         2026-01-02T03:04:05Z  ann@example.com  -',
        '',
        '1 pending, 1 delivered, 2 failed',
        '',
      ].join('\n'),
    })
  })

  test('list --status failed --limit 1 shows only the newest failed entry', () => {
    const result = runApp(['outbox', 'list', '--status', 'failed', '--limit', '1'], env)
    expect(result.code).toBe(0)
    expect(result.stdout.split('\n').slice(1, 3)).toEqual([
      '4   failed  10        2026-01-02T03:04:05Z  dan@example.com  Notification service answered 400 for /notification/send',
      '',
    ])
  })

  test('retry puts a failed entry back in the queue, due now, its attempts counted afresh', async () => {
    const before = Date.now()
    const result = runApp(['outbox', 'retry', '2'], env)
    expect(result).toEqual({ code: 0, stderr: '', stdout: 're-queued 1 entry: 2\n' })
    const [, two, three, four] = await rows()
    expect(two).toMatchObject({ status: 'pending', attempts: 0, claimed_until: null })
    expect(Number(two?.['next_attempt_at'])).toBeGreaterThanOrEqual(before)
    expect(three).toMatchObject({ status: 'pending', attempts: 2 })
    expect(four).toMatchObject({ status: 'failed', attempts: 10 })
  })

  test('retry --all-failed re-queues every failed entry and nothing else', async () => {
    expect(runApp(['outbox', 'retry', '--all-failed'], env).stdout).toBe('re-queued 2 entries: 2, 4\n')
    expect((await rows()).map((row) => row['status'])).toEqual(['delivered', 'pending', 'pending', 'pending'])
    expect(runApp(['outbox', 'retry', '--all-failed'], env).stdout).toBe('no failed entries to retry\n')
  })

  test('retry of an entry that is not failed changes nothing and says why, one line each, exit 2', async () => {
    const before = await rows()
    const result = runApp(['outbox', 'retry', '2', '1', '3', '99'], env)
    expect(result.code).toBe(2)
    expect(result.stderr.split('\n')).toEqual([
      'app: outbox entry 1 is delivered, not failed; only failed entries are retried',
      'app: outbox entry 3 is pending, not failed; only failed entries are retried',
      'app: outbox entry 99 does not exist; see app outbox list',
      '',
    ])
    expect(await rows()).toEqual(before)
  })
})

describe('app outbox with bad arguments', () => {
  test.each([
    [[], ['outbox needs an action, list or retry; see app outbox --help']],
    [['lst'], ['unknown outbox action "lst" (did you mean list?); use list or retry; see app outbox --help']],
    [
      ['list', '--status', 'lost', '--limit', 'ten'],
      [
        '--status must be one of pending, delivered, failed (got "lost")',
        '--limit must be a whole number from 1 to 100000 (got "ten")',
      ],
    ],
    [['retry'], ['name the entries to retry: app outbox retry ID..., or app outbox retry --all-failed']],
    [
      ['retry', '0', 'x', '--bogus'],
      [
        'unknown option --bogus for outbox retry; see app outbox retry --help',
        '"0" is not an outbox entry ID (a whole number, as app outbox list shows)',
        '"x" is not an outbox entry ID (a whole number, as app outbox list shows)',
      ],
    ],
    [['retry', '3', '--all-failed'], ['give either IDs or --all-failed, not both']],
  ])('app outbox %j says what is wrong, one line each, and exits 2', (args, problems) => {
    const result = runApp(['outbox', ...args], env)
    expect(result.stderr.split('\n').filter(Boolean)).toEqual(problems.map((p) => `app: ${p}`))
    expect(result.code).toBe(2)
  })

  test('app outbox --help prints the usage', () => {
    const result = runApp(['outbox', '--help'])
    expect(result.code).toBe(0)
    expect(result.stdout).toStartWith('Usage: app outbox list [--status pending|delivered|failed] [--limit N]\n')
  })
})
