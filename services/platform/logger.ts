import { writeSync } from 'node:fs'

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
  /** Whether lines of this level are written, so that a caller builds nothing for a line that would be dropped. */
  enabled(level: LogLevel): boolean
}

export interface LoggerOptions {
  /** Lines below this level are dropped. @default 'info' */
  readonly level?: LogLevel
  /** Where each JSON line goes. @default stdout, buffered (see writeToStdout) */
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

// Lines for stdout wait here and leave together: one write every few milliseconds instead of one per request
// line. They are flushed on a timer, when the buffer grows, on flushLogs() (a stop), and as the process exits
// (an uncaught error included), so only a kill that skips all of those (SIGKILL, the OOM killer) loses a line,
// and at most one flush interval of them.
const flushEveryMs = 5
const flushAtChars = 64 * 1024
// One growing string: JSC joins appended strings lazily, which costs less than an array joined at each flush.
let pending = ''
let flushTimer: ReturnType<typeof setTimeout> | undefined
let exitHooked = false

/** Writes every buffered log line now. */
export function flushLogs(): void {
  clearTimeout(flushTimer)
  flushTimer = undefined
  if (pending === '') return
  const text = pending
  pending = ''
  process.stdout.write(text)
}

function flushAtExit(): void {
  if (pending === '') return
  const text = pending
  pending = ''
  try {
    writeSync(1, text)
  } catch {
    // stdout is gone or would block: nothing more can be done as the process exits.
  }
}

/** The default writer: a buffered line on stdout. */
function writeToStdout(line: string): void {
  if (!exitHooked) {
    exitHooked = true
    process.on('exit', flushAtExit)
  }
  pending += `${line}\n`
  if (pending.length >= flushAtChars) flushLogs()
  else flushTimer ??= setTimeout(flushLogs, flushEveryMs)
}

// Many lines are written within one millisecond (one per request at info): the time is formatted once for them.
let clockMs = -1
let clockText = ''

function timeNow(): string {
  const ms = Date.now()
  if (ms !== clockMs) {
    clockMs = ms
    clockText = new Date(ms).toISOString()
  }
  return clockText
}

/** The members of a JSON object as text, each after a comma: `,"a":1,"b":"x"`, or '' for none. */
function members(fields: LogFields): string {
  const text =
    fields['error'] === undefined
      ? JSON.stringify(fields)
      : JSON.stringify({ ...fields, error: describeError(fields['error']) })
  return text.length > 2 ? `,${text.slice(1, -1)}` : ''
}

/** JSON lines: level, time, the bound fields (role), message, then the line's own fields. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const threshold = rank[options.level ?? 'info']
  const write = options.write ?? writeToStdout
  const bound = options.fields ?? {}
  // The fields every line carries are the same each time: serialized once.
  const boundText = members(bound)
  const emit = (level: LogLevel, message: string, fields?: LogFields): void => {
    if (rank[level] < threshold) return
    const context = options.context?.()
    write(
      `{"level":"${level}","time":"${timeNow()}"${boundText}${context ? members(context) : ''},"message":${JSON.stringify(message)}${fields ? members(fields) : ''}}`,
    )
  }
  return {
    debug: (message, fields) => emit('debug', message, fields),
    info: (message, fields) => emit('info', message, fields),
    warn: (message, fields) => emit('warn', message, fields),
    error: (message, fields) => emit('error', message, fields),
    child: (fields) => createLogger({ ...options, fields: { ...bound, ...fields } }),
    withContext: (context) => createLogger({ ...options, context }),
    enabled: (level) => rank[level] >= threshold,
  }
}
