// What usermgmt and notification must agree on about a mail: field limits, the request body of
// POST /notification/send, the idempotency key, and the time budgets. One definition both roles import, so that
// usermgmt never stores a mail notification would refuse, and never gives up on an attempt still in progress.
import { z } from 'zod'

/** Field limits of a mail, in characters (addresses are ASCII, so characters are octets). */
export const mailLimits = {
  /** RFC 5321 4.5.3.1.3: a path is at most 256 octets, angle brackets included. */
  addressLength: 254,
  /** RFC 5321 4.5.3.1.1: the part before the @. */
  localPartLength: 64,
  /** Recipients in each of to, cc and bcc. */
  recipientsPerList: 50,
  /** RFC 5322 2.1.1: a header line, so a subject that fits one line. */
  subjectLength: 998,
  contentLength: 512 * 1024,
  idempotencyKeyLength: 128,
} as const

const addressSize = `size must be between 3 and ${mailLimits.addressLength}`

/** An address an SMTP server can be asked to deliver to: well-formed, and within RFC 5321's lengths. */
export const mailAddress = z
  .string({ error: 'must be a string' })
  .max(mailLimits.addressLength, addressSize)
  .pipe(
    z
      .string()
      .refine(
        (address) => address.lastIndexOf('@') <= mailLimits.localPartLength,
        `the part before @ must be at most ${mailLimits.localPartLength} characters`,
      ),
  )
  .pipe(z.email('must be a well-formed email address'))

const addressList = z
  .array(mailAddress, { error: 'must be a list of e-mail addresses' })
  .max(mailLimits.recipientsPerList, `size must be between 0 and ${mailLimits.recipientsPerList}`)
  .nullish()
  .transform((list) => list ?? [])

/** The body of POST /notification/send, as the course's services exchanged it. */
export const mailRequest = z
  .object({
    subject: z
      .string({ error: 'must be a string' })
      .max(mailLimits.subjectLength, `size must be between 0 and ${mailLimits.subjectLength}`)
      .nullish(),
    content: z
      .string({ error: 'must be a string' })
      .max(mailLimits.contentLength, `size must be between 0 and ${mailLimits.contentLength}`)
      .nullish(),
    // Accepted for compatibility and ignored: From is always AWS_MAIL_SERVER_FROM_ADDRESS.
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
/** A mail request as notification reads it (lists always present). */
export type MailRequest = z.infer<typeof mailRequest>
/** A mail request as a sender writes it. */
export type MailRequestBody = z.input<typeof mailRequest>

/** The Idempotency-Key header of a send: usermgmt's outbox puts one UUID per mail in it. */
export const idempotencyKey = z
  .string()
  .regex(
    new RegExp(`^[\\x21-\\x7e]{1,${mailLimits.idempotencyKeyLength}}$`),
    `must be 1 to ${mailLimits.idempotencyKeyLength} printable characters`,
  )

/**
 * How long notification may spend on one mail, from taking the request to the SMTP server's final reply: the
 * transaction is aborted when it runs out, so by the time notification answers, the attempt is over.
 */
export const mailSendBudgetMs = 15_000

/** How long usermgmt waits for notification's answer to one send: the whole budget, plus the HTTP exchange. */
export const mailDeliveryDeadlineMs = mailSendBudgetMs + 5_000

/**
 * Set on notification's 502 when the mail was refused for good: the SMTP server's 5xx reply code, or `local` when
 * the mail library refused it before asking the server. The outbox stops retrying such a mail after a bounded
 * number of attempts; a 502 without it (from a proxy, say) is retried like an outage.
 */
export const permanentRefusalHeader = 'mail-refused-permanently'
