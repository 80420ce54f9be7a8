// `./app status`: is the deployment `./app manifests` made healthy? One line per check.
import { CliProblems, type Command, orExit, parseFlags, printUsage } from '../platform'
import { type Check, checkDeployment, formatChecks } from './checks'

const usage = `Usage: app status [--namespace NS] [--kubeconfig FILE] [--pod-identity] [--wait [--timeout SECONDS]]

Checks what the course checks by hand with kubectl: the X-Ray DaemonSet has every pod ready, its service account
carries the IAM role ARN, both Deployments are available, the Services have ready endpoints, and the Ingress has
an address. One line per check; exit 0 when all pass, 1 when any fails. The kubeconfig is found as kubectl finds
it (KUBECONFIG, ~/.kube/config, or the pod's own service account).

Options:
  --namespace NS      namespace of the deployment                    default default
  --kubeconfig FILE   use this kubeconfig
  --pod-identity      the daemon uses EKS Pod Identity (no role annotation expected)
  --wait              keep checking until all pass, showing progress
  --timeout SECONDS   how long --wait waits                            default 300
  -h, --help          this help`

const flags = {
  namespace: { type: 'string', placeholder: 'NS' },
  kubeconfig: { type: 'string', placeholder: 'FILE' },
  'pod-identity': { type: 'boolean' },
  wait: { type: 'boolean' },
  timeout: { type: 'string', placeholder: 'SECONDS' },
} as const

export const statusCommand: Command = {
  usage,
  async run(args) {
    const values = orExit(parseFlags('status', args, flags))
    if (values.help) return printUsage(usage)
    const problems: string[] = []
    const namespace = values.namespace ?? 'default'
    if (!/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(namespace))
      problems.push(`--namespace: must be a namespace name (got ${JSON.stringify(namespace)})`)
    const timeout = Number(values.timeout ?? '300')
    if (!Number.isInteger(timeout) || timeout < 1 || timeout > 3600) {
      problems.push(`--timeout: must be whole seconds from 1 to 3600 (got ${JSON.stringify(values.timeout)})`)
    }
    if (problems.length > 0) throw new CliProblems(problems)
    const options = { namespace, podIdentity: values['pod-identity'] ?? false, kubeconfig: values.kubeconfig }
    let checks: Check[]
    try {
      checks = await checkDeployment(options)
    } catch (error) {
      throw new CliProblems([`status: ${error instanceof Error ? error.message : String(error)}`])
    }
    const started = Date.now()
    while (values.wait && checks.some((c) => !c.ok) && Date.now() - started < timeout * 1000) {
      const passing = checks.filter((c) => c.ok).length
      const waiting = checks.filter((c) => !c.ok).map((c) => c.name)
      process.stderr.write(
        `waiting ${Math.round((Date.now() - started) / 1000)}s: ${passing}/${checks.length} ok; not yet: ${waiting.join(', ')}\n`,
      )
      await Bun.sleep(2000)
      checks = await checkDeployment(options)
    }
    process.stdout.write(`${formatChecks(checks)}\n`)
    return checks.every((c) => c.ok) ? 0 : 1
  },
}
