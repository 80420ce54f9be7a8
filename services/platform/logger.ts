export type LogLevel = 'debug' | 'info' | 'warn' | 'error'

const rank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 }

export const logLevels = ['debug', 'info', 'warn', 'error'] as const

export type LogFields = Readonly<Record<string, unknown>>

export interface Logger {
  debug(message: string, fields?: LogFields): void
  info(message: string, fields?: LogFields): void
  warn(message: string, fields?: LogFields): void
  error(message: string, fields?: LogFields): void
  /** A logger whose lines all carry these fields (e.g. the role). */
  child(fields: LogFields): Logger
  /** A logger that adds fields known only when the line is written (e.g. the current trace id). */
  withContext(context: () => LogFields | undefined): Logger
}

export interface LoggerOptions {
  /** Lines below this level are dropped. @default 'info' */
  readonly level?: LogLevel
  /** Where each JSON line goes. @default stdout */
  readonly write?: (line: string) => void
  readonly fields?: LogFields
  readonly context?: () => LogFields | undefined
}

function describeError(error: unknown): unknown {
  if (!(error instanceof Error)) return error
  const code = (error as { code?: unknown }).code
  return {
    name: error.name,
    message: error.message,
    ...(code === undefined ? {} : { code }),
    ...(error.cause === undefined ? {} : { cause: describeError(error.cause) }),
  }
}

/** JSON lines: level, time, the bound fields (role), message, then the line's own fields. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const threshold = rank[options.level ?? 'info']
  const write = options.write ?? ((line: string) => process.stdout.write(`${line}\n`))
  const bound = options.fields ?? {}
  const emit = (level: LogLevel, message: string, fields: LogFields = {}): void => {
    if (rank[level] < threshold) return
    const line: Record<string, unknown> = {
      level,
      time: new Date().toISOString(),
      ...bound,
      ...options.context?.(),
      message,
    }
    for (const [key, value] of Object.entries(fields)) {
      line[key] = key === 'error' ? describeError(value) : value
    }
    write(JSON.stringify(line))
  }
  return {
    debug: (message, fields) => emit('debug', message, fields),
    info: (message, fields) => emit('info', message, fields),
    warn: (message, fields) => emit('warn', message, fields),
    error: (message, fields) => emit('error', message, fields),
    child: (fields) => createLogger({ ...options, fields: { ...bound, ...fields } }),
    withContext: (context) => createLogger({ ...options, context }),
  }
}
