// The one test command (npm test): type-check, lint, build the binary the CLI tests spawn, then every test.
// Each step runs even when an earlier one failed, so one run shows every problem; the exit code is 1 if any did.
const steps: { name: string; cmd: string[] }[] = [
  { name: 'prerequisites', cmd: ['bash', 'scripts/prerequisites.sh'] },
  { name: 'typecheck', cmd: ['tsc', '--noEmit'] },
  { name: 'lint', cmd: ['biome', 'ci', '.'] },
  { name: 'build', cmd: [process.execPath, 'scripts/build.ts'] },
  // Bun's default of 5 s per test is a race against the clock on a loaded machine (a test that starts the
  // 120 MB binary three times can take that long); the tests wait for conditions, and this only stops a hang.
  { name: 'test', cmd: [process.execPath, 'test', '--timeout', '60000', ...process.argv.slice(2)] },
]

const failed: string[] = []
for (const step of steps) {
  process.stderr.write(`\n== ${step.name}: ${step.cmd.join(' ')}\n`)
  const result = Bun.spawnSync(step.cmd, { stdout: 'inherit', stderr: 'inherit' })
  if (result.exitCode !== 0) failed.push(step.name)
}
process.stderr.write(failed.length === 0 ? '\n== all steps passed\n' : `\n== failed steps: ${failed.join(', ')}\n`)
process.exit(failed.length === 0 ? 0 : 1)
