import { isIP } from 'node:net'
import type { ConnectionOptions } from 'node:tls'
import nodemailer from 'nodemailer'
import { AppError, type MailConfig } from '../platform'

export interface OutgoingMail {
  readonly to: readonly string[]
  readonly cc: readonly string[]
  readonly bcc: readonly string[]
  readonly subject: string
  readonly text: string
}

export interface SentMail {
  readonly messageId: string
  /** The SMTP server's final reply code (250 when accepted). */
  readonly responseCode: number | undefined
  readonly rejected: readonly string[]
}

/** What the notification role needs from a mail transport; only this file knows nodemailer. */
export interface Mailer {
  readonly host: string
  send(mail: OutgoingMail): Promise<SentMail>
  close(): void
}

export interface SmtpMailerOptions {
  /** Extra TLS options, e.g. a CA for a private server in tests. */
  readonly tls?: ConnectionOptions
  /** Connect, greeting and socket timeouts. @default 5000 */
  readonly timeoutMs?: number
}

const unreachableCodes = new Set(['ECONNECTION', 'ETIMEDOUT', 'ESOCKET', 'EDNS', 'ETLS', 'EPROTOCOL', 'ECONNRESET'])

function translate(error: unknown): AppError {
  const code = (error as { code?: unknown } | null)?.code
  const responseCode = (error as { responseCode?: unknown } | null)?.responseCode
  const detail = typeof responseCode === 'number' ? `SMTP ${responseCode}` : typeof code === 'string' ? code : undefined
  if (typeof code === 'string' && unreachableCodes.has(code)) {
    return new AppError('upstream_unavailable', 'Mail server unavailable', { cause: error, debugMessage: detail })
  }
  if (typeof responseCode === 'number' && responseCode >= 400 && responseCode < 500) {
    // 4xx replies are the server saying "not now" (greylisting, throttling): a retry may work.
    return new AppError('upstream_unavailable', 'Mail server temporarily refused the message', {
      cause: error,
      debugMessage: detail,
    })
  }
  return new AppError('upstream_rejected', 'Mail server rejected the message', { cause: error, debugMessage: detail })
}

/**
 * How the server's certificate is checked: always the chain; the name is AWS_MAIL_SERVER_TLS_SERVERNAME, or the
 * host. A single-label host is a cluster alias (the course points AWS_MAIL_SERVER_HOST at the ExternalName
 * `smtp-service`, whose certificate says email-smtp.<region>.amazonaws.com): there only the chain is checked, as
 * the original's JavaMail did, so the course's manifests keep working; `./app manifests` sets the real name.
 */
function certificateCheck(config: MailConfig): ConnectionOptions {
  if (config.tlsServername !== undefined) return { servername: config.tlsServername }
  if (!config.host.includes('.') && isIP(config.host) === 0 && config.host !== 'localhost') {
    return { checkServerIdentity: () => undefined }
  }
  return {}
}

export function createSmtpMailer(config: MailConfig, options: SmtpMailerOptions = {}): Mailer {
  const timeoutMs = options.timeoutMs ?? 5000
  const transport = nodemailer.createTransport({
    pool: true,
    maxConnections: 5,
    maxMessages: 100,
    host: config.host,
    port: config.port,
    secure: config.tls === 'tls',
    requireTLS: config.tls === 'starttls',
    ignoreTLS: config.tls === 'none',
    ...(config.username === '' ? {} : { auth: { user: config.username, pass: config.password.reveal() } }),
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: timeoutMs * 3,
    tls: { ...certificateCheck(config), ...options.tls },
  })
  return {
    host: config.host,
    async send(mail) {
      try {
        const info = await transport.sendMail({
          from: config.from,
          to: [...mail.to],
          cc: [...mail.cc],
          bcc: [...mail.bcc],
          subject: mail.subject,
          text: mail.text,
        })
        const code = /^(\d{3})/.exec(String(info.response ?? ''))?.[1]
        return {
          messageId: String(info.messageId ?? ''),
          responseCode: code === undefined ? undefined : Number(code),
          rejected: (info.rejected ?? []).map(String),
        }
      } catch (error) {
        throw translate(error)
      }
    },
    close: () => transport.close(),
  }
}
