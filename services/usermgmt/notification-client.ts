import { AppError, type FetchLike, mailDeliveryDeadlineMs, permanentRefusalHeader, type Secret } from '../platform'
import type { NotificationRequest } from './schemas'

/** The notification service answered, but not with success. */
export class UpstreamStatusError extends AppError {
  readonly upstreamStatus: number
  /** The SMTP reply code (or `local`) when notification says the mail server refused the mail for good. */
  readonly permanentRefusal: string | undefined

  constructor(upstreamStatus: number, path: string, permanentRefusal?: string) {
    const refusal = permanentRefusal === undefined ? '' : ` (mail refused permanently: ${permanentRefusal})`
    super('upstream_rejected', `Notification service answered ${upstreamStatus} for ${path}${refusal}`)
    this.upstreamStatus = upstreamStatus
    this.permanentRefusal = permanentRefusal
  }

  /** 4xx other than 408/429, and a mail server's permanent refusal, will not get better by retrying. */
  get isPermanent(): boolean {
    if (this.permanentRefusal !== undefined) return true
    return (
      this.upstreamStatus >= 400 &&
      this.upstreamStatus < 500 &&
      this.upstreamStatus !== 408 &&
      this.upstreamStatus !== 429
    )
  }
}

export interface SendOptions {
  readonly idempotencyKey: string
  readonly traceHeader?: string | null
}

export interface NotificationClient {
  /** How long one send may take before it counts as failed: longer than notification's whole SMTP budget. */
  readonly sendDeadlineMs: number
  healthStatus(): Promise<string>
  info(): Promise<string>
  xray(): Promise<unknown>
  send(mail: NotificationRequest, options: SendOptions): Promise<void>
}

export interface NotificationClientOptions {
  /** http://{NOTIFICATION_SERVICE_HOST}:{NOTIFICATION_SERVICE_PORT} */
  readonly baseUrl: string
  /** The fetch to call with: the traced one when tracing is on. @default globalThis.fetch */
  readonly fetch?: FetchLike
  /** How long one call may take before it counts as unavailable. @default 5000 */
  readonly timeoutMs?: number
  /**
   * How long one send may take: above notification's whole SMTP budget, so that usermgmt never gives up (and
   * retries, perhaps on another replica) while the first attempt can still deliver. @default mailDeliveryDeadlineMs
   */
  readonly sendDeadlineMs?: number
  /** NOTIFICATION_AUTH_TOKEN, sent as `Authorization: Bearer` on every call. @default none */
  readonly token?: Secret | undefined
}

export function createNotificationClient(options: NotificationClientOptions): NotificationClient {
  const fetchFn = options.fetch ?? fetch
  const timeoutMs = options.timeoutMs ?? 5000
  const sendDeadlineMs = options.sendDeadlineMs ?? mailDeliveryDeadlineMs

  const authorization = options.token && `Bearer ${options.token.reveal()}`

  async function call(
    path: string,
    init: RequestInit & { headers?: Record<string, string> } = {},
    deadlineMs = timeoutMs,
  ): Promise<Response> {
    const headers = authorization ? { ...init.headers, authorization } : init.headers
    let response: Response
    try {
      response = await fetchFn(new URL(path, options.baseUrl), {
        ...init,
        headers,
        signal: AbortSignal.timeout(deadlineMs),
      })
    } catch (error) {
      throw new AppError('upstream_unavailable', 'Notification service unavailable', {
        cause: error,
        debugMessage: error instanceof Error ? error.message : undefined,
      })
    }
    if (!response.ok) {
      await response.body?.cancel()
      throw new UpstreamStatusError(response.status, path, response.headers.get(permanentRefusalHeader) ?? undefined)
    }
    return response
  }

  async function readBody<T>(response: Response, read: (r: Response) => Promise<T>): Promise<T> {
    try {
      return await read(response)
    } catch (error) {
      throw new AppError('upstream_rejected', 'Notification service sent an unreadable answer', { cause: error })
    }
  }

  return {
    sendDeadlineMs,
    healthStatus: async () => readBody(await call('/notification/health-status'), (r) => r.text()),
    info: async () => readBody(await call('/notification/info'), (r) => r.text()),
    xray: async () => readBody(await call('/notification/xray'), (r) => r.json()),
    async send(mail, sendOptions) {
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        'idempotency-key': sendOptions.idempotencyKey,
      }
      if (sendOptions.traceHeader) headers['x-amzn-trace-id'] = sendOptions.traceHeader
      const response = await call(
        '/notification/send',
        { method: 'POST', headers, body: JSON.stringify(mail) },
        sendDeadlineMs,
      )
      await response.body?.cancel()
    },
  }
}
