import { isIP } from 'node:net'
import type { ConnectionOptions } from 'node:tls'
import type nodemailer from 'nodemailer'
import { AppError, type MailConfig, mailSendBudgetMs, permanentRefusalHeader, Secret } from '../platform'

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
  /** Connect and greeting timeouts (each also bounded by the budget). @default 5000 */
  readonly timeoutMs?: number
  /**
   * One send's whole budget, from the request to the server's final reply; the SMTP transaction is aborted when
   * it runs out. @default mailSendBudgetMs
   */
  readonly budgetMs?: number
}

/** Why the SMTP server did not take a mail, as far as the log may say: never credentials or the message. */
export interface SmtpFailure {
  /** The SMTP command that failed (e.g. RCPT TO, DATA, AUTH PLAIN, CONN), never its arguments. */
  readonly command: string | undefined
  /** The server's reply, when it gave one. */
  readonly reply: { readonly code: number; readonly text: string } | undefined
  /** The socket or library error, when the server gave no reply. */
  readonly error: { readonly code: string | undefined; readonly message: string } | undefined
  /** The budget ran out and the transaction was aborted. */
  readonly budgetExceeded: boolean
}

/** A send that did not end with the server taking the mail; `smtp` says why, for the log. */
export class MailNotSent extends AppError {
  readonly smtp: SmtpFailure

  constructor(
    kind: 'upstream_unavailable' | 'upstream_rejected',
    message: string,
    smtp: SmtpFailure,
    options: { cause: unknown; debugMessage: string; headers?: Record<string, string> },
  ) {
    super(kind, message, options)
    this.smtp = smtp
  }
}

const unreachableCodes = new Set(['ECONNECTION', 'ETIMEDOUT', 'ESOCKET', 'EDNS', 'ETLS', 'EPROTOCOL', 'ECONNRESET'])

interface NodemailerError {
  readonly code?: unknown
  readonly originalCode?: unknown
  readonly responseCode?: unknown
  readonly response?: unknown
  readonly command?: unknown
  readonly permanent?: unknown
  readonly message?: unknown
}

const text = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined)

function describeFailure(error: NodemailerError, budgetExceeded: boolean): SmtpFailure {
  const code = typeof error.responseCode === 'number' ? error.responseCode : undefined
  const command = text(error.command)
  return {
    // AUTH commands are named by their mechanism only; anything longer could hold a credential.
    command: command?.startsWith('AUTH') ? command.split(' ').slice(0, 2).join(' ') : command,
    reply: code === undefined ? undefined : { code, text: (text(error.response) ?? '').slice(0, 500) },
    error:
      code === undefined
        ? { code: text(error.originalCode) ?? text(error.code), message: (text(error.message) ?? '').slice(0, 500) }
        : undefined,
    budgetExceeded,
  }
}

function translate(caught: unknown, budgetMs: number): MailNotSent {
  const error: NodemailerError = caught !== null && typeof caught === 'object' ? caught : { message: String(caught) }
  const code = text(error.code)
  const smtp = describeFailure(error, code === 'EABORT')
  const options = { cause: caught }
  if (smtp.budgetExceeded) {
    return new MailNotSent('upstream_unavailable', 'Mail server did not finish in time', smtp, {
      ...options,
      debugMessage: `The send was aborted after its budget of ${budgetMs} ms`,
    })
  }
  if (smtp.reply === undefined && code !== undefined && unreachableCodes.has(code)) {
    return new MailNotSent('upstream_unavailable', 'Mail server unavailable', smtp, { ...options, debugMessage: code })
  }
  if (smtp.reply !== undefined && error.permanent !== true) {
    // 4xx replies are the server saying "not now" (greylisting, throttling): a retry may work.
    return new MailNotSent('upstream_unavailable', 'Mail server temporarily refused the message', smtp, {
      ...options,
      debugMessage: `SMTP ${smtp.reply.code}`,
    })
  }
  const refusal = smtp.reply === undefined ? 'local' : String(smtp.reply.code)
  return new MailNotSent('upstream_rejected', 'Mail server rejected the message', smtp, {
    ...options,
    debugMessage: smtp.reply === undefined ? (code ?? 'refused') : `SMTP ${smtp.reply.code}`,
    headers: { [permanentRefusalHeader]: refusal },
  })
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

/**
 * A mail server on this machine that takes plain SMTP without AUTH: ./app dev's sink, and the tests'. The From is
 * the course's own address unless given.
 */
export function localSinkMail(port: number, from = 'stacksimplify@gmail.com'): MailConfig {
  return {
    host: '127.0.0.1',
    port,
    tls: 'none',
    username: '',
    password: new Secret(''),
    from,
    tlsServername: undefined,
  }
}

export function createSmtpMailer(config: MailConfig, options: SmtpMailerOptions = {}): Mailer {
  const budgetMs = options.budgetMs ?? mailSendBudgetMs
  const timeoutMs = Math.min(options.timeoutMs ?? 5000, budgetMs)
  type Transport = ReturnType<typeof nodemailer.createTransport>
  let transport: Promise<Transport> | undefined
  // nodemailer is loaded with the first mail, not at start-up: most requests this role answers send none.
  const transportNow = (): Promise<Transport> =>
    (transport ??= import('nodemailer').then(({ default: mailer }) => mailer.createTransport(transportOptions)))
  const transportOptions = {
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
    dnsTimeout: timeoutMs,
    socketTimeout: budgetMs,
    // An aborted send destroys its socket at once: no byte of the message goes out after the budget ran out.
    socketCloseTimeout: 0,
    tls: { ...certificateCheck(config), ...options.tls },
  }
  return {
    host: config.host,
    async send(mail) {
      try {
        const info = await (await transportNow()).sendMail({
          from: config.from,
          to: [...mail.to],
          cc: [...mail.cc],
          bcc: [...mail.bcc],
          subject: mail.subject,
          text: mail.text,
          signal: AbortSignal.timeout(budgetMs),
        })
        const code = /^(\d{3})/.exec(String(info.response ?? ''))?.[1]
        return {
          messageId: String(info.messageId ?? ''),
          responseCode: code === undefined ? undefined : Number(code),
          rejected: (info.rejected ?? []).map(String),
        }
      } catch (error) {
        throw translate(error, budgetMs)
      }
    },
    close: () => void transport?.then((opened) => opened.close()),
  }
}
