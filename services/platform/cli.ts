// What every command of ./app shares: flags read into typed values with every problem reported at once, in
// words that name the cause and the fix, and one way to stop with those problems (one line each, exit 2).
import { type ParseArgsOptionsConfig, parseArgs } from 'node:util'

/** The process environment, as the CLI hands it over (nothing else reads it). */
export type Env = Readonly<Record<string, string | undefined>>

/** One flag: its type, and the placeholder its usage shows for a value (`--port N`). */
export interface FlagSpec {
  readonly type: 'string' | 'boolean'
  readonly multiple?: boolean
  readonly short?: string
  /** Shown in messages about a missing value. @default 'VALUE' */
  readonly placeholder?: string
}

export type FlagSpecs = Readonly<Record<string, FlagSpec>>

type ValueOf<TSpec extends FlagSpec> = TSpec['type'] extends 'boolean'
  ? TSpec['multiple'] extends true
    ? boolean[]
    : boolean
  : TSpec['multiple'] extends true
    ? string[]
    : string

/** The parsed flags: each one given has its value, every other is undefined; `help` is always known. */
export type FlagValues<TSpecs extends FlagSpecs> = { readonly [K in keyof TSpecs]?: ValueOf<TSpecs[K]> } & {
  readonly help?: boolean
}

export type Problems = readonly string[]

export type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly problems: Problems }

/** A command stops with these problems: one line each on stderr, then this exit code. */
export class CliProblems extends Error {
  readonly problems: Problems
  readonly exitCode: number

  constructor(problems: Problems, exitCode = 2) {
    super(problems.join('; '))
    this.name = 'CliProblems'
    this.problems = problems
    this.exitCode = exitCode
  }
}

/** Levenshtein distance, for "did you mean" (the candidate lists are a few dozen words). */
function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + cost)
    }
    previous = current
  }
  return previous[b.length] ?? Math.max(a.length, b.length)
}

/** The candidate closest to a mistyped word, when one is close enough to be what was meant. */
export function nearest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined
  let bestDistance = Number.POSITIVE_INFINITY
  for (const candidate of candidates) {
    const d = candidate.startsWith(word) || word.startsWith(candidate) ? 1 : distance(word, candidate)
    if (d < bestDistance) {
      best = candidate
      bestDistance = d
    }
  }
  const allowed = Math.max(1, Math.floor((best?.length ?? 0) / 3))
  return bestDistance <= allowed ? best : undefined
}

const suggestion = (found: string | undefined) => (found === undefined ? '' : ` (did you mean ${found}?)`)

/**
 * Reads a command's flags. Unlike node:util's strict mode, which stops at the first problem and words it for
 * programmers, every unknown option, missing value and stray argument is reported, each naming the fix.
 */
export function parseFlags<const TSpecs extends FlagSpecs>(
  command: string,
  args: readonly string[],
  specs: TSpecs,
): Parsed<FlagValues<TSpecs>> {
  const options: ParseArgsOptionsConfig = { help: { type: 'boolean', short: 'h' } }
  for (const [name, spec] of Object.entries(specs)) {
    options[name] = {
      type: spec.type,
      ...(spec.multiple ? { multiple: true } : {}),
      ...(spec.short ? { short: spec.short } : {}),
    }
  }
  const known = Object.keys(options).map((name) => `--${name}`)
  const see = `see app ${command} --help`
  const { tokens } = parseArgs({ args: [...args], options, strict: false, allowPositionals: true, tokens: true })
  const problems: string[] = []
  let afterUnknown = false
  for (const token of tokens) {
    if (token.kind === 'positional') {
      // The value of an unknown option (`--prot 80`) is part of that one mistake, not a second one.
      if (!afterUnknown) problems.push(`unexpected argument ${JSON.stringify(token.value)} for ${command}; ${see}`)
      afterUnknown = false
      continue
    }
    afterUnknown = false
    if (token.kind !== 'option') continue
    const spec = options[token.name]
    if (spec === undefined) {
      afterUnknown = token.value === undefined
      const flag = token.rawName.startsWith('--') ? `--${token.name}` : token.rawName
      problems.push(`unknown option ${flag} for ${command}${suggestion(nearest(flag, known))}; ${see}`)
    } else if (spec.type === 'boolean' && token.inlineValue) {
      problems.push(`${token.rawName} takes no value (got ${JSON.stringify(token.value)}); ${see}`)
    } else if (spec.type === 'string' && token.value === undefined) {
      const placeholder = specs[token.name]?.placeholder ?? 'VALUE'
      problems.push(`${token.rawName} needs a value: ${token.rawName} ${placeholder}; ${see}`)
    } else if (spec.type === 'string' && !token.inlineValue && token.value?.startsWith('-')) {
      // `--port --verbose` is a forgotten value more often than a value that starts with a dash.
      const placeholder = specs[token.name]?.placeholder ?? 'VALUE'
      problems.push(
        `${token.rawName} needs a value, not ${JSON.stringify(token.value)}: ${token.rawName} ${placeholder}, or ${token.rawName}=${token.value} if that is the value; ${see}`,
      )
    }
  }
  if (problems.length > 0) return { ok: false, problems }
  // Every token checked: the strict parse cannot fail now, and gives the typed values.
  const { values } = parseArgs({ args: [...args], options, strict: true, allowPositionals: false })
  return { ok: true, value: values as FlagValues<TSpecs> }
}

/** The value of a parse, or the command stops with its problems. */
export function orExit<T>(parsed: Parsed<T>): T {
  if (!parsed.ok) throw new CliProblems(parsed.problems)
  return parsed.value
}

/** What the dispatcher hands every command: the environment (only it reads the process's) and the version. */
export interface CommandContext {
  readonly env: Env
  readonly version: string
}

/** What a command's module gives the dispatcher: its usage, and a run that returns the exit code. */
export interface Command {
  readonly usage: string
  run(args: readonly string[], context: CommandContext): Promise<number>
}

/** Prints a command's usage on stdout (asked for with --help, so not an error). */
export function printUsage(usage: string): number {
  process.stdout.write(`${usage}\n`)
  return 0
}
