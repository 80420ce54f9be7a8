import { createLogger, type Logger, type LogLevel } from '../platform'

export interface CapturedLog {
  readonly log: Logger
  readonly lines: Record<string, unknown>[]
  readonly text: () => string
}

/** A real logger whose JSON lines are kept for assertions (and not printed). */
export function captureLog(level: LogLevel = 'debug'): CapturedLog {
  const raw: string[] = []
  const lines: Record<string, unknown>[] = []
  const log = createLogger({
    level,
    write: (line) => {
      raw.push(line)
      lines.push(JSON.parse(line) as Record<string, unknown>)
    },
  })
  return { log, lines, text: () => raw.join('\n') }
}
