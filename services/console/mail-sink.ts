import { simpleParser } from 'mailparser'
import { SMTPServer, type SMTPServerOptions } from 'smtp-server'

export interface ReceivedMail {
  readonly id: number
  readonly receivedAt: string
  readonly envelopeFrom: string | undefined
  readonly envelopeTo: readonly string[]
  readonly from: string
  readonly to: string
  readonly cc: string
  readonly subject: string
  readonly text: string
  readonly raw: string
}

export interface MailSinkOptions {
  /** 0 picks a free port. */
  readonly port: number
  /** @default '127.0.0.1' */
  readonly host?: string
  /** Offer STARTTLS with this key and certificate (PEM); without it the sink speaks plain SMTP only. */
  readonly tls?: { readonly key: string; readonly cert: string }
  /** Require AUTH PLAIN/LOGIN with these credentials. */
  readonly auth?: { readonly user: string; readonly pass: string }
  /** Called per recipient; return an SMTP error text with a code to refuse it (e.g. [550, 'no such user']). */
  readonly onRecipient?: (address: string) => readonly [number, string] | undefined
  /** Messages kept; the oldest is dropped first. @default 200 */
  readonly keep?: number
  /** Awaited before a message is accepted: lets a test hold a mail in flight. */
  readonly beforeAccept?: () => Promise<void>
  /** Awaited before each recipient is answered: lets a test hold a transaction before its message is sent. */
  readonly beforeRecipient?: () => Promise<void>
  /** Awaited before a message is refused or accepted; a returned [code, text] refuses it (e.g. [554, 'no']). */
  readonly onMessage?: () => Promise<readonly [number, string] | undefined> | readonly [number, string] | undefined
  /** Called after each message is stored. */
  readonly onMail?: (mail: ReceivedMail) => void
}

export interface MailSink {
  readonly port: number
  messages(): readonly ReceivedMail[]
  /** Resolves once `count` messages in all have arrived. */
  waitFor(count: number): Promise<readonly ReceivedMail[]>
  /** Drop every client connection now (an outage in the middle of a conversation). */
  dropConnections(): void
  /** Client connections open now. */
  connections(): number
  clear(): void
  stop(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

function smtpError(code: number, message: string): Error {
  return Object.assign(new Error(message), { responseCode: code })
}

function addressText(value: unknown): string {
  if (value === undefined || value === null) return ''
  if (Array.isArray(value)) return value.map(addressText).join(', ')
  const text = (value as { text?: unknown }).text
  return typeof text === 'string' ? text : ''
}

/** A real SMTP server (smtp-server) that keeps what it receives: the dev mailbox and the tests' mail server. */
export async function startMailSink(options: MailSinkOptions): Promise<MailSink> {
  const keep = options.keep ?? 200
  const received: ReceivedMail[] = []
  const waiters: { count: number; resolve: (mails: readonly ReceivedMail[]) => void }[] = []
  const sockets = new Set<{ destroy(): void }>()
  let nextId = 1
  let total = 0

  const serverOptions: SMTPServerOptions = {
    secure: false,
    logger: false,
    banner: 'app mail sink',
    size: 10 * 1024 * 1024,
    disabledCommands: [...(options.tls ? [] : ['STARTTLS']), ...(options.auth ? [] : ['AUTH'])],
    authOptional: options.auth === undefined,
    ...(options.tls ? { key: options.tls.key, cert: options.tls.cert } : {}),
    onAuth(auth, _session, callback) {
      const expected = options.auth
      if (expected && auth.username === expected.user && auth.password === expected.pass) {
        callback(null, { user: auth.username })
        return
      }
      callback(smtpError(535, 'Authentication credentials invalid'))
    },
    onRcptTo(address, _session, callback) {
      Promise.resolve(options.beforeRecipient?.()).then(
        () => {
          const refusal = options.onRecipient?.(address.address)
          callback(refusal ? smtpError(refusal[0], refusal[1]) : undefined)
        },
        (error: unknown) => callback(error instanceof Error ? error : new Error(String(error))),
      )
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = []
      stream.on('data', (chunk: Buffer) => chunks.push(chunk))
      stream.on('end', () => {
        const raw = Buffer.concat(chunks)
        Promise.resolve(options.beforeAccept?.())
          .then(() => options.onMessage?.())
          .then((refusal) => {
            if (refusal) throw smtpError(refusal[0], refusal[1])
            return simpleParser(raw)
          })
          .then((parsed) => {
            const mail: ReceivedMail = {
              id: nextId++,
              receivedAt: new Date().toISOString(),
              envelopeFrom: session.envelope.mailFrom === false ? undefined : session.envelope.mailFrom.address,
              envelopeTo: session.envelope.rcptTo.map((r) => r.address),
              from: addressText(parsed.from),
              to: addressText(parsed.to),
              cc: addressText(parsed.cc),
              subject: parsed.subject ?? '',
              text: parsed.text ?? '',
              raw: raw.toString('utf8'),
            }
            received.push(mail)
            total++
            if (received.length > keep) received.shift()
            options.onMail?.(mail)
            for (const waiter of [...waiters]) {
              if (total >= waiter.count) {
                waiters.splice(waiters.indexOf(waiter), 1)
                waiter.resolve([...received])
              }
            }
            callback()
          })
          .catch((error: unknown) => callback(error instanceof Error ? error : new Error(String(error))))
      })
    },
  }
  const server = new SMTPServer(serverOptions)
  server.server.on('connection', (socket: { destroy(): void; once(event: string, fn: () => void): void }) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  })
  server.on('error', () => {
    // A client that hangs up mid-conversation is not the sink's problem; smtp-server reports it here.
  })
  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject)
    server.listen(options.port, options.host ?? '127.0.0.1', () => resolve())
  })
  const address = server.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : options.port
  const stop = () =>
    new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy()
      server.close(() => resolve())
    })
  return {
    port,
    messages: () => [...received],
    waitFor(count) {
      if (total >= count) return Promise.resolve([...received])
      return new Promise((resolve) => waiters.push({ count, resolve }))
    },
    dropConnections() {
      for (const socket of sockets) socket.destroy()
    },
    connections: () => sockets.size,
    clear() {
      received.length = 0
      total = 0
    },
    stop,
    [Symbol.asyncDispose]: stop,
  }
}
