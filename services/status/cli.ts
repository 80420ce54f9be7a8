// `./app status`: is the deployment `./app manifests` made healthy? One line per finding.
import {
  CliProblems,
  type Command,
  createKubernetesClient,
  defaultAppNamespace,
  defaultCollectorNamespace,
  type Env,
  type KubernetesClient,
  messageOf,
  orExit,
  parseFlags,
  printUsage,
} from '../platform'
import { type Check, checkDeployment, formatChecks, isFatal, recordCheck } from './checks'
import {
  type Collector,
  collectorNames,
  isNamespaceName,
  type Overrides,
  type RecordLookup,
  readRecord,
  resolveTarget,
} from './target'

const usage = `Usage: app status [--namespace NS] [--kubeconfig FILE] [--wait [--timeout SECONDS]]
                  [--collector NAME] [--collector-namespace NS] [--fargate] [--pod-identity]

Checks the deployment that app manifests made, as the record it keeps in the cluster (configmap xray-eks-app)
describes it: the trace collector (its DaemonSet and pods, or on Fargate its sidecar in every app pod) and the
IAM role of its service account; each Deployment's rollout, replicas and containers (crashes, OOM kills,
restarts) and its autoscaler; the Services' ready endpoints; the Ingress's address and the load balancer
controller's warnings. Without a record it checks the defaults, which the last four options change (they also
win over a record). The kubeconfig is found as kubectl finds it (KUBECONFIG, ~/.kube/config, or the pod's own
service account). docs/status.md says what each failure means and what to do.

One line per finding, ok, WARN or FAIL. Exit 0 when nothing fails (warnings included), 1 when something fails,
or with one line on stderr when the API cannot be reached or refuses the credentials; 2 for bad options or no
usable kubeconfig.

Options:
  --namespace NS            the app's namespace, where the record is          default ${defaultAppNamespace}
  --kubeconfig FILE         use this kubeconfig
  --wait                    keep checking until nothing fails, showing progress
  --timeout SECONDS         how long --wait waits                             default 300
  --collector NAME          the collector: ${collectorNames.join(', ')}
                                                                              default xray-daemon
  --collector-namespace NS  the collector runs in NS                          default ${defaultCollectorNamespace}
  --fargate                 the app runs on Fargate, the collector as a sidecar in each pod
  --pod-identity            the collector uses EKS Pod Identity (no role annotation expected)
  -h, --help                this help`

const flags = {
  namespace: { type: 'string', placeholder: 'NS' },
  kubeconfig: { type: 'string', placeholder: 'FILE' },
  wait: { type: 'boolean' },
  timeout: { type: 'string', placeholder: 'SECONDS' },
  collector: { type: 'string', placeholder: 'NAME' },
  'collector-namespace': { type: 'string', placeholder: 'NS' },
  fargate: { type: 'boolean' },
  'pod-identity': { type: 'boolean' },
} as const

/** A problem no check can get past, as one line: 2 when it is on this machine, 1 when it is the cluster's. */
function stopWith(error: unknown): never {
  if (!isFatal(error)) throw error
  const hint =
    error.problem === 'no-kubeconfig' ? '; run aws eks update-kubeconfig --name CLUSTER, or pass --kubeconfig FILE' : ''
  const onThisMachine = error.problem === 'no-kubeconfig' || error.problem === 'config'
  throw new CliProblems([`status: ${error.message}${hint}`], onThisMachine ? 2 : 1)
}

async function connect(kubeconfig: string | undefined, env: Env): Promise<KubernetesClient> {
  try {
    return await createKubernetesClient(
      kubeconfig === undefined ? { kind: 'default', env } : { kind: 'kubeconfig', file: kubeconfig },
    )
  } catch (error) {
    return stopWith(error)
  }
}

async function checkOnce(kube: KubernetesClient, namespace: string, overrides: Overrides): Promise<Check[]> {
  let lookup: RecordLookup
  try {
    lookup = await readRecord(kube, namespace)
  } catch (error) {
    if (isFatal(error)) throw error
    lookup = { kind: 'invalid', why: messageOf(error) }
  }
  const { target, problems } = resolveTarget(namespace, lookup.kind === 'found' ? lookup.record : undefined, overrides)
  if (problems.length > 0) throw new CliProblems(problems)
  const flagsGiven = Object.values(overrides).some((value) => value !== undefined)
  return [recordCheck(lookup, target, flagsGiven), ...(await checkDeployment(kube, target))]
}

export const statusCommand: Command = {
  usage,
  async run(args, context) {
    const values = orExit(parseFlags('status', args, flags))
    if (values.help) return printUsage(usage)
    const problems: string[] = []
    const namespace = values.namespace ?? defaultAppNamespace
    for (const [flag, value] of [
      ['--namespace', namespace],
      ['--collector-namespace', values['collector-namespace']],
    ] as const) {
      if (value !== undefined && !isNamespaceName(value))
        problems.push(`${flag}: must be a namespace name (got ${JSON.stringify(value)})`)
    }
    const timeout = Number(values.timeout ?? '300')
    if (!Number.isInteger(timeout) || timeout < 1 || timeout > 3600) {
      problems.push(`--timeout: must be whole seconds from 1 to 3600 (got ${JSON.stringify(values.timeout)})`)
    }
    const collector = values.collector
    const isCollector = (name: string): name is Collector => collectorNames.some((known) => known === name)
    if (collector !== undefined && !isCollector(collector)) {
      problems.push(`--collector: must be one of ${collectorNames.join(', ')} (got ${JSON.stringify(collector)})`)
    }
    const overrides: Overrides = {
      collector: collector !== undefined && isCollector(collector) ? collector : undefined,
      collectorNamespace: values['collector-namespace'],
      fargate: values.fargate,
      podIdentity: values['pod-identity'],
    }
    // Flags that contradict each other are refused before asking the cluster anything.
    problems.push(...resolveTarget(namespace, undefined, overrides).problems)
    if (problems.length > 0) throw new CliProblems(problems)

    const kube = await connect(values.kubeconfig, context.env)
    const check = () => checkOnce(kube, namespace, overrides).catch(stopWith)
    let checks = await check()
    const started = Date.now()
    const failing = () => checks.filter((c) => c.verdict === 'fail')
    while (values.wait && failing().length > 0 && Date.now() - started < timeout * 1000) {
      const waiting = [...new Set(failing().map((c) => c.name))].join(', ')
      const passing = `${checks.length - failing().length}/${checks.length}`
      process.stderr.write(
        `waiting ${Math.round((Date.now() - started) / 1000)}s: ${passing} ok; not yet: ${waiting}\n`,
      )
      await Bun.sleep(2000)
      checks = await check()
    }
    process.stdout.write(`${formatChecks(checks)}\n`)
    return failing().length === 0 ? 0 : 1
  },
}
