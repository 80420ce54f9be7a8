import { describe, expect, test } from 'bun:test'
import { mailLimits, mailRequest } from '../platform'
import { accountCreatedMail, newUser } from './schemas'

/** An address of exactly `length` characters whose part before the @ is `local` characters long. */
function addressOf(length: number, local: number): string {
  const domainLength = length - local - 1 - '.com'.length
  const labels: string[] = []
  for (let left = domainLength; left > 0; left -= 64) labels.push('d'.repeat(Math.min(63, left)))
  const domain = `${labels.join('.')}.com`
  return `${'l'.repeat(local)}@${domain.slice(domain.length - (length - local - 1))}`
}

const user = (overrides: Record<string, unknown>) => ({
  username: 'bob',
  email: 'bob@example.com',
  role: 'ROLE_USER',
  enabled: true,
  firstname: 'Bob',
  lastname: 'Builder',
  password: 'Passw0rd!',
  ...overrides,
})

describe('usermgmt accepts only users whose account mail notification will send', () => {
  test('the longest e-mail and first name usermgmt accepts make a mail notification accepts', () => {
    const email = addressOf(mailLimits.addressLength, mailLimits.localPartLength)
    expect(email).toHaveLength(254)
    for (const firstname of ['F'.repeat(20), '😀'.repeat(10), 'Ünïcødé-名前'.padEnd(20, 'é')]) {
      const parsed = newUser.safeParse(user({ email, firstname }))
      expect(parsed.success).toBe(true)
      if (!parsed.success) continue
      expect(mailRequest.safeParse(accountCreatedMail(parsed.data)).error?.issues).toBeUndefined()
    }
  })

  test.each([
    ['255 characters', addressOf(255, 60), 'size must be between 3 and 254'],
    ['65 characters before the @', addressOf(100, 65), 'the part before @ must be at most 64 characters'],
  ])('refuses an e-mail of %s, which notification could never send', (_name, email, message) => {
    const parsed = newUser.safeParse(user({ email }))
    expect(parsed.error?.issues.map((issue) => [issue.path.join('.'), issue.message])).toEqual([['email', message]])
    expect(mailRequest.safeParse(accountCreatedMail({ firstname: 'Bob', email })).success).toBe(false)
  })
})
