import { z } from 'zod'

const address = z.email('must be a well-formed email address').max(254, 'size must be between 3 and 254')
const addressList = z
  .array(address, { error: 'must be a list of e-mail addresses' })
  .max(50, 'size must be between 0 and 50')
  .nullish()
  .transform((list) => list ?? [])

export const notificationRequest = z
  .object({
    subject: z.string({ error: 'must be a string' }).max(998, 'size must be between 0 and 998').nullish(),
    content: z
      .string({ error: 'must be a string' })
      .max(512 * 1024, 'size must be between 0 and 524288')
      .nullish(),
    // Accepted for compatibility and ignored: From is always AWS_MAIL_SERVER_FROM_ADDRESS (api-contract.md).
    from: z.unknown().optional(),
    toEmails: addressList,
    ccEmails: addressList,
    bccEmails: addressList,
  })
  .superRefine((body, ctx) => {
    if (body.toEmails.length + body.ccEmails.length + body.bccEmails.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['toEmails'], message: 'must not be empty' })
    }
  })
export type NotificationRequest = z.infer<typeof notificationRequest>

export const idempotencyKey = z.string().regex(/^[\x21-\x7e]{1,128}$/, 'must be 1 to 128 printable characters')

/** Keeps the first spelling of each address, comparing case-insensitively. */
export function uniqueAddresses(list: readonly string[]): string[] {
  const seen = new Set<string>()
  const out: string[] = []
  for (const item of list) {
    const key = item.trim().toLowerCase()
    if (seen.has(key)) continue
    seen.add(key)
    out.push(item.trim())
  }
  return out
}
