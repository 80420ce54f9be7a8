// The one entry point: find the command, load only its code, run it, print its problems, set the exit code.
// Each command owns its flags and usage beside its code; nothing here knows them.
import packageJson from '../package.json' with { type: 'json' }
import { CliProblems, type Command, messageOf, nearest } from '../services/platform'

interface Entry {
  /** The command line the main usage shows, and what it does. */
  readonly synopsis: string
  readonly summary: string
  /** Loaded only when run, so that `serve` does not pay for cdk8s or the Kubernetes client at start-up. */
  readonly load: () => Promise<Command>
}

const commands: Readonly<Record<string, Entry>> = {
  serve: {
    synopsis: 'serve --role=usermgmt|notification [--port N]',
    summary: 'run one role (configured by environment variables)',
    load: async () => (await import('./serve')).serveCommand,
  },
  migrate: {
    synopsis: 'migrate',
    summary: 'bring the usermgmt database schema up to date, then exit',
    load: async () => (await import('../services/usermgmt')).migrateCommand,
  },
  outbox: {
    synopsis: 'outbox list|retry [options]',
    summary: 'the account mails usermgmt keeps: list them, retry failed ones',
    load: async () => (await import('../services/usermgmt')).outboxCommand,
  },
  dev: {
    synopsis: 'dev [--data-dir DIR]',
    summary: 'both roles, SQLite and a mail sink on one machine',
    load: async () => (await import('../services/dev')).devCommand,
  },
  manifests: {
    synopsis: 'manifests [options] | kubectl apply -f -',
    summary: 'the whole EKS deployment as YAML (see app manifests --help)',
    load: async () => (await import('../manifests')).manifestsCommand,
  },
  status: {
    synopsis: 'status [--namespace NS] [--wait]',
    summary: 'is that deployment healthy? (one line per check)',
    load: async () => (await import('../services/status')).statusCommand,
  },
  console: {
    synopsis: 'console [--udp H:P] [--http H:P]',
    summary: 'a local X-Ray daemon stand-in with a service map page',
    load: async () => (await import('../services/console')).consoleCommand,
  },
}

function mainUsage(): string {
  const rows = [
    ...Object.values(commands).map((c) => [`app ${c.synopsis}`, c.summary]),
    ['app --version', 'print the version'],
    ['app <command> --help', 'help for one command'],
  ]
  const width = Math.max(...rows.map(([left]) => left?.length ?? 0)) + 3
  return [
    `app ${packageJson.version}: the EKS X-Ray course's two microservices in one binary`,
    '',
    'Usage:',
    ...rows.map(([left = '', right = '']) => `  ${left.padEnd(width)}${right}`),
  ].join('\n')
}

async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv
  switch (name) {
    case undefined:
    case '--help':
    case '-h':
    case 'help':
      process.stdout.write(`${mainUsage()}\n`)
      return 0
    case '--version':
    case '-v':
    case 'version':
      process.stdout.write(`${packageJson.version}\n`)
      return 0
  }
  const entry = commands[name]
  if (entry === undefined) {
    if (name.startsWith('-')) {
      const guess = nearest(name, ['--help', '--version'])
      throw new CliProblems([
        `unknown option ${name}${guess ? ` (did you mean ${guess}?)` : ''}; a command comes first (${Object.keys(commands).join(', ')}); see app --help`,
      ])
    }
    const guess = nearest(name, Object.keys(commands))
    throw new CliProblems([
      `unknown command ${JSON.stringify(name)}${guess ? ` (did you mean ${guess}?)` : ''}; see app --help`,
    ])
  }
  const command = await entry.load()
  return command.run(rest, { env: process.env, version: packageJson.version })
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof CliProblems) {
      for (const problem of error.problems) process.stderr.write(`app: ${problem}\n`)
      process.exit(error.exitCode)
    }
    process.stderr.write(`app: failed: ${messageOf(error)}\n`)
    process.exit(1)
  },
)
