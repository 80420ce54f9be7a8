import { expect, test } from 'bun:test'
import { captureLog } from '../testing'
import type { ProbeResult } from './db'
import { createReadinessCheck } from './readiness'

/** A readiness check over a database whose answer the test sets, with the schema migrated. */
function checkWith(answers: { next: ProbeResult }) {
  const captured = captureLog()
  const ready = createReadinessCheck({
    database: { label: 'usermgmt@db', probe: async () => answers.next },
    schema: () => ({ ready: true, lastError: undefined }),
    outbox: () => undefined,
    log: captured.log,
  })
  const logged = () => captured.lines.map((line) => line['message'])
  return { ready, logged }
}

const down: ProbeResult = { up: false, error: new Error('Database unavailable') }

test('a database that goes down is logged once, however many probes see it down, and once when it is back', async () => {
  const answers: { next: ProbeResult } = { next: { up: true } }
  const { ready, logged } = checkWith(answers)
  expect(await ready()).toBe(true)
  answers.next = down
  for (let i = 0; i < 3; i++) expect(await ready()).toBe(false)
  answers.next = { up: true }
  for (let i = 0; i < 3; i++) expect(await ready()).toBe(true)
  expect(logged()).toEqual(['ready', 'not ready', 'ready'])
})

test('each change is logged, even when the last line about that state was written moments ago', async () => {
  const answers: { next: ProbeResult } = { next: down }
  const { ready, logged } = checkWith(answers)
  for (const next of [down, down, { up: true }, down, down] as ProbeResult[]) {
    answers.next = next
    await ready()
  }
  expect(logged()).toEqual(['not ready', 'ready', 'not ready'])
})
