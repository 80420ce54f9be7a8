// Builds the single executable ./app. The binary must not read a .env or bunfig.toml from wherever it runs.
const result = Bun.spawnSync(
  [
    process.execPath,
    'build',
    '--compile',
    '--minify-syntax',
    // Compiled to bytecode ahead of time: a role starts on far less CPU, for a bigger binary (docs/performance.md).
    '--bytecode',
    // Each command's dynamic import becomes its own chunk, so a role loads none of the other commands' code.
    '--format=esm',
    '--splitting',
    '--sourcemap',
    '--no-compile-autoload-dotenv',
    '--no-compile-autoload-bunfig',
    'cmd/app.ts',
    // The X-Ray emitter's UDP sender runs in a Worker; a compiled binary must carry the worker's entry point too.
    'services/xray/udp-worker.ts',
    '--outfile',
    'app',
  ],
  { stdout: 'inherit', stderr: 'inherit' },
)
process.exit(result.exitCode ?? 1)
