// `./app console`: the local X-Ray daemon stand-in and console, on its own.
import { statSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import {
  CliProblems,
  type Command,
  createLogger,
  type HostPort,
  orExit,
  parseFlags,
  parseHostPort,
  printUsage,
  stopOnSignal,
} from '../platform'
import { loadSamplingRules, type SamplingRules } from '../xray'
import { startConsole } from './console'

const usage = `Usage: app console [options]

A stand-in for the X-Ray daemon plus a small X-Ray console: receives segment documents on UDP and OpenTelemetry
spans over OTLP/HTTP (POST /v1/traces, protobuf or JSON, gzip or not), answers the SDKs' centralized sampling
calls (POST /GetSamplingRules, /SamplingTargets), joins documents and spans into traces, and serves a page
(service map, traces, timelines, mail) and a JSON API (/api/traces, /api/traces/{id}, /api/service-graph,
/api/mail, /api/stats, POST /api/save) on the TCP address. Malformed datagrams and OTLP requests are counted in
/api/stats.

Options:
  --udp HOST:PORT          where segments arrive (port 0: any free)  default 127.0.0.1:2000
  --otlp HOST:PORT         where OTLP/HTTP arrives (port 0: any free) default 127.0.0.1:4318
  --http HOST:PORT         page, API and sampling endpoints          default 127.0.0.1:2000
  --forward HOST:PORT      also send every datagram, unchanged, to a real daemon
  --max-traces N           traces kept, oldest dropped first         default 1000
  --save FILE              POST /api/save writes every trace kept to FILE
  --sampling-rules FILE    rules GetSamplingRules serves (version-2 JSON)
                           default 1 a second then 5%, health checks never
  -h, --help               this help`

const flags = {
  udp: { type: 'string', placeholder: 'HOST:PORT' },
  otlp: { type: 'string', placeholder: 'HOST:PORT' },
  http: { type: 'string', placeholder: 'HOST:PORT' },
  forward: { type: 'string', placeholder: 'HOST:PORT' },
  'max-traces': { type: 'string', placeholder: 'N' },
  save: { type: 'string', placeholder: 'FILE' },
  'sampling-rules': { type: 'string', placeholder: 'FILE' },
} as const

export const consoleCommand: Command = {
  usage,
  async run(args) {
    const values = orExit(parseFlags('console', args, flags))
    if (values.help) return printUsage(usage)
    const problems: string[] = []
    // Where the console listens, port 0 picks a free one (reported in the log), as for ./app dev.
    const address = (flag: string, text: string | undefined, fallback: string | undefined): HostPort | undefined => {
      if (text === undefined && fallback === undefined) return undefined
      const given = (text ?? fallback ?? '').trim()
      const anyPort = fallback !== undefined && /:0+$/.test(given)
      const parsed = parseHostPort(anyPort ? given.replace(/:0+$/, ':1') : given)
      if (!parsed) problems.push(`--${flag}: must be host:port (got ${JSON.stringify(text)})`)
      return parsed && anyPort ? { ...parsed, port: 0 } : parsed
    }
    const udp = address('udp', values.udp, '127.0.0.1:2000')
    const otlp = address('otlp', values.otlp, '127.0.0.1:4318')
    const http = address('http', values.http, '127.0.0.1:2000')
    const forward = address('forward', values.forward, undefined)
    const save = values.save
    const isFolder = (path: string) => statSync(path, { throwIfNoEntry: false })?.isDirectory() === true
    if (save !== undefined && (save.trim() === '' || isFolder(save) || !isFolder(dirname(resolve(save))))) {
      problems.push(`--save: must be a file in a folder that exists (got ${JSON.stringify(save)})`)
    }
    const maxTraces = Number(values['max-traces'] ?? '1000')
    if (!Number.isInteger(maxTraces) || maxTraces < 1 || maxTraces > 1_000_000) {
      problems.push(
        `--max-traces: must be a whole number from 1 to 1000000 (got ${JSON.stringify(values['max-traces'])})`,
      )
    }
    let rules: SamplingRules | undefined
    if (values['sampling-rules'] !== undefined) {
      try {
        rules = loadSamplingRules(values['sampling-rules'])
      } catch (error) {
        problems.push(
          error instanceof Error ? error.message.replace('AWS_XRAY_SAMPLING_RULES', '--sampling-rules') : String(error),
        )
      }
    }
    if (problems.length > 0 || !udp || !http || !otlp) throw new CliProblems(problems)
    const log = createLogger({ fields: { role: 'console' } })
    const running = await startConsole({
      udp,
      http,
      otlp,
      forward,
      maxTraces,
      saveFile: save,
      samplingRules: rules,
      log,
    }).catch((error: unknown) => {
      const failed = error as { code?: unknown; listener?: unknown } | null
      // A local collector already on 4318 is the likely clash: one line that says how to move.
      if (failed?.listener === 'otlp' && failed.code === 'EADDRINUSE') {
        throw new CliProblems([
          `--otlp: port ${otlp.port} is already in use; stop what holds it, or pass --otlp HOST:PORT (port 0 picks a free one)`,
        ])
      }
      throw error
    })
    process.stderr.write(
      `\n  x-ray console  ${running.url}\n  segments      udp://${udp.host}:${running.udpPort}\n  otlp/http     ${running.otlpUrl}/v1/traces\n\n`,
    )
    await stopOnSignal(running, log)
    return 0
  },
}
