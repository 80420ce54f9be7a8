// The one door to the Kubernetes API (the only importer of @kubernetes/client-node): reads a kubeconfig or the
// pod's service account as kubectl would, and GETs and lists objects with a deadline on every call and errors
// that say in one line what happened.
import { existsSync } from 'node:fs'
import { delimiter, join } from 'node:path'
import type { KubeConfig } from '@kubernetes/client-node'
import { z } from 'zod'
import type { Env } from './cli'
import { type HostPort, hostForUrl } from './config'
import { describeIssue, messageOf } from './errors'

/** Where the API's address and credentials come from. */
export type KubernetesSource =
  /** This kubeconfig file. */
  | { readonly kind: 'kubeconfig'; readonly file: string }
  /** As kubectl finds them: KUBECONFIG (files separated by `:`), ~/.kube/config, else the pod's service account. */
  | { readonly kind: 'default'; readonly env: Env }
  /** The pod's own service account (token and CA in its directory), at the address the kubelet gives the pod. */
  | { readonly kind: 'in-cluster'; readonly api: HostPort; readonly serviceAccountDir: string }

/**
 * Why a call failed: `no-kubeconfig` and `config` are on this machine (nothing to load; unreadable, incomplete, no
 * credentials), `unreachable` and `unauthorized` (401) mean no call can succeed, `forbidden` (403) and `failed`
 * concern this one call.
 */
export type KubernetesProblem = 'no-kubeconfig' | 'config' | 'unreachable' | 'unauthorized' | 'forbidden' | 'failed'

export class KubernetesError extends Error {
  readonly problem: KubernetesProblem

  constructor(problem: KubernetesProblem, message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'KubernetesError'
    this.problem = problem
  }
}

/** A kind of object in a namespace, as its URL names it. */
export interface KubernetesResource {
  /** `v1` for the core group, else `group/version` (`apps/v1`). */
  readonly apiVersion: string
  /** The plural resource name, as in the URL (`deployments`). */
  readonly resource: string
  readonly namespace: string
}

export interface KubernetesObjectRef extends KubernetesResource {
  readonly name: string
}

export interface ListQuery {
  /** `key=value` pairs separated by commas. */
  readonly labelSelector?: string
  /** `path=value` pairs separated by commas. */
  readonly fieldSelector?: string
}

export interface KubernetesClient {
  /** The API server's URL. */
  readonly server: string
  /** The object, validated by the schema, or undefined when it does not exist (404). */
  get<T>(ref: KubernetesObjectRef, schema: z.ZodType<T>): Promise<T | undefined>
  /** Every matching object, each validated by the schema, all pages read. */
  list<T>(resource: KubernetesResource, item: z.ZodType<T>, query?: ListQuery): Promise<T[]>
}

export interface KubernetesClientOptions {
  /** Deadline of each call, from sending the request to the last byte of the answer. @default 5000 */
  readonly timeoutMs?: number
  /**
   * Deadline of getting credentials, longer because an exec plugin (`aws eks get-token`) starts a whole CLI.
   * @default 20000
   */
  readonly credentialsTimeoutMs?: number
}

type NewKubeConfig = new () => KubeConfig

const defaultServiceAccountDir = '/var/run/secrets/kubernetes.io/serviceaccount'
const pageSize = 500

/** An error's message on one line (an exec plugin's error is its whole stderr). */
function oneLineMessageOf(error: unknown): string {
  return messageOf(error)
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .join(' ')
}

function loadFile(Kc: NewKubeConfig, file: string): KubeConfig {
  const kc = new Kc()
  try {
    kc.loadFromFile(file)
  } catch (error) {
    throw new KubernetesError('config', `cannot read kubeconfig ${file}: ${oneLineMessageOf(error)}`, { cause: error })
  }
  return kc
}

/** kubectl's merge of several kubeconfig files: the first file to name a cluster, user or context wins. */
function loadFiles(Kc: NewKubeConfig, files: readonly string[]): KubeConfig {
  const [first, ...rest] = files.map((file) => loadFile(Kc, file))
  if (first === undefined) throw new KubernetesError('config', 'no kubeconfig file given')
  for (const other of rest) {
    const has = (list: readonly { name: string }[], name: string) => list.some((entry) => entry.name === name)
    for (const cluster of other.clusters) if (!has(first.clusters, cluster.name)) first.addCluster(cluster)
    for (const user of other.users) if (!has(first.users, user.name)) first.addUser(user)
    for (const context of other.contexts) if (!has(first.contexts, context.name)) first.addContext(context)
    if (!first.currentContext && other.currentContext) first.setCurrentContext(other.currentContext)
  }
  return first
}

function loadInCluster(Kc: NewKubeConfig, api: HostPort, serviceAccountDir: string): KubeConfig {
  const kc = new Kc()
  kc.loadFromClusterAndUser(
    {
      name: 'in-cluster',
      server: `https://${hostForUrl(api.host)}:${api.port}`,
      caFile: join(serviceAccountDir, 'ca.crt'),
      skipTLSVerify: false,
    },
    // client-node's tokenFile provider rereads the token, which the kubelet rotates.
    {
      name: 'service-account',
      authProvider: { name: 'tokenFile', config: { tokenFile: join(serviceAccountDir, 'token') } },
    },
  )
  return kc
}

function loadDefault(Kc: NewKubeConfig, env: Env): KubeConfig {
  const listed = (env['KUBECONFIG'] ?? '').split(delimiter).filter((file) => file !== '')
  if (listed.length > 0) {
    // kubectl skips the files of KUBECONFIG that do not exist, and fails only when none does.
    const present = listed.filter((file) => existsSync(file))
    if (present.length === 0)
      throw new KubernetesError(
        'no-kubeconfig',
        `no kubeconfig found: no file of KUBECONFIG exists (${listed.join(delimiter)})`,
      )
    return loadFiles(Kc, present)
  }
  const home = env['HOME']
  if (home && existsSync(join(home, '.kube', 'config'))) return loadFile(Kc, join(home, '.kube', 'config'))
  const host = env['KUBERNETES_SERVICE_HOST']
  const port = Number(env['KUBERNETES_SERVICE_PORT'] ?? '443')
  if (host && Number.isInteger(port) && existsSync(join(defaultServiceAccountDir, 'token')))
    return loadInCluster(Kc, { host, port }, defaultServiceAccountDir)
  throw new KubernetesError(
    'no-kubeconfig',
    'no kubeconfig found: KUBECONFIG is not set, ~/.kube/config does not exist, and this is not a pod with a service account',
  )
}

function load(Kc: NewKubeConfig, source: KubernetesSource): KubeConfig {
  switch (source.kind) {
    case 'kubeconfig':
      return loadFile(Kc, source.file)
    case 'default':
      return loadDefault(Kc, source.env)
    case 'in-cluster':
      return loadInCluster(Kc, source.api, source.serviceAccountDir)
    default:
      return source satisfies never
  }
}

/** What a call asked for, in the words of `kubectl auth can-i` (`list pods in namespace default`). */
function describe(verb: 'get' | 'list', resource: KubernetesResource, name?: string): string {
  const group = resource.apiVersion.includes('/') ? `.${resource.apiVersion.split('/')[0]}` : ''
  return `${verb} ${resource.resource}${group}${name === undefined ? '' : ` ${name}`} in namespace ${resource.namespace}`
}

function collectionPath(resource: KubernetesResource): string {
  const root = resource.apiVersion.includes('/') ? `/apis/${resource.apiVersion}` : `/api/${resource.apiVersion}`
  return `${root}/namespaces/${encodeURIComponent(resource.namespace)}/${encodeURIComponent(resource.resource)}`
}

/** Bun's fetch errors, said the way an operator reads them. */
function unreachable(server: string, error: unknown, timeoutMs: number): KubernetesError {
  const code = error && typeof error === 'object' && 'code' in error ? String(error.code) : ''
  const name = error instanceof Error ? error.name : ''
  let why: string
  if (name === 'TimeoutError' || name === 'AbortError') why = `no answer within ${timeoutMs / 1000}s`
  else if (code === 'ECONNREFUSED') why = 'connection refused'
  else if (code === 'ENOTFOUND') why = 'host not found'
  else if (/CERT|SIGNATURE|SELF_SIGNED|ISSUER/.test(code))
    why = `its certificate is not trusted with the kubeconfig's CA (${code}: ${oneLineMessageOf(error)})`
  else why = code ? `${code}: ${oneLineMessageOf(error)}` : oneLineMessageOf(error)
  return new KubernetesError('unreachable', `cannot reach the Kubernetes API at ${server}: ${why}`, { cause: error })
}

const statusBody = z.object({ message: z.string().optional() })

/**
 * A client over one kubeconfig context. The config and credentials are @kubernetes/client-node's (kubeconfig
 * files, exec plugins such as `aws eks get-token`, rotated service account tokens); the request is Bun's fetch
 * with `tls`, because client-node 2.x hands the CA to an undici option that Bun ignores (oven-sh/bun#38840:
 * "self signed certificate" against any private cluster CA, which every EKS cluster has).
 */
export async function createKubernetesClient(
  source: KubernetesSource,
  options: KubernetesClientOptions = {},
): Promise<KubernetesClient> {
  // Loaded on first use: most commands, and serve outside Kubernetes, never need it.
  const { KubeConfig } = await import('@kubernetes/client-node')
  const kc = load(KubeConfig, source)
  const timeoutMs = options.timeoutMs ?? 5000
  const context = kc.getCurrentContext()
  if (!context) throw new KubernetesError('config', 'the kubeconfig sets no current-context')
  const cluster = kc.getCurrentCluster()
  if (!cluster) throw new KubernetesError('config', `the kubeconfig's context ${context} names no known cluster`)
  let server: string
  try {
    server = new URL(cluster.server).origin
  } catch (error) {
    throw new KubernetesError('config', `the kubeconfig's cluster ${cluster.name} has no valid server URL`, {
      cause: error,
    })
  }

  interface Credentials {
    headers: Record<string, string>
    tls: {
      ca?: string | Buffer
      cert?: string | Buffer
      key?: string | Buffer
      rejectUnauthorized?: boolean
      servername?: string
    }
  }
  let pending: Promise<Credentials> | undefined
  /** One lookup at a time: an exec plugin (`aws eks get-token`) runs once for concurrent calls, then caches. */
  const credentials = () => {
    pending ??= (async () => {
      const applied: Credentials['tls'] & { headers?: Record<string, string> } = { headers: {} }
      const deadline = options.credentialsTimeoutMs ?? 20_000
      let timer: ReturnType<typeof setTimeout> | undefined
      try {
        await Promise.race([
          kc.applyToHTTPSOptions(applied),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error(`no credentials within ${deadline / 1000}s`)), deadline)
          }),
        ])
      } catch (error) {
        throw new KubernetesError(
          'config',
          `cannot get credentials for context ${context}: ${oneLineMessageOf(error)}`,
          {
            cause: error,
          },
        )
      } finally {
        clearTimeout(timer)
      }
      const { headers = {}, ...tls } = applied
      return { headers, tls }
    })().finally(() => {
      pending = undefined
    })
    return pending
  }

  async function call(url: string, what: string): Promise<unknown | undefined> {
    const { headers, tls } = await credentials()
    let response: Response
    let body: string
    try {
      response = await fetch(url, {
        headers: { ...headers, accept: 'application/json' },
        signal: AbortSignal.timeout(timeoutMs),
        tls: {
          ...(tls.ca ? { ca: tls.ca } : {}),
          ...(tls.cert ? { cert: tls.cert } : {}),
          ...(tls.key ? { key: tls.key } : {}),
          ...(tls.servername ? { serverName: tls.servername } : {}),
          rejectUnauthorized: tls.rejectUnauthorized ?? true,
        },
        ...(cluster?.proxyUrl ? { proxy: cluster.proxyUrl } : {}),
      })
      body = await response.text()
    } catch (error) {
      throw unreachable(server, error, timeoutMs)
    }
    if (response.status === 404) return undefined
    let json: unknown
    try {
      json = JSON.parse(body)
    } catch {
      json = undefined
    }
    if (!response.ok) {
      const said = statusBody.safeParse(json).data?.message
      const detail = said ? `: ${said}` : ''
      if (response.status === 401)
        throw new KubernetesError(
          'unauthorized',
          `the Kubernetes API at ${server} refused the credentials of context ${context} (401 Unauthorized) to ${what}`,
        )
      if (response.status === 403) throw new KubernetesError('forbidden', `not allowed to ${what} (403)${detail}`)
      throw new KubernetesError('failed', `cannot ${what}: ${response.status} ${response.statusText}${detail}`)
    }
    if (json === undefined) throw new KubernetesError('failed', `cannot ${what}: the answer is not JSON`)
    return json
  }

  function validate<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
    const parsed = schema.safeParse(value)
    if (parsed.success) return parsed.data
    throw new KubernetesError(
      'failed',
      `cannot ${what}: unexpected answer (${describeIssue(parsed.error.issues[0], 'body')})`,
    )
  }

  return {
    server,
    async get<T>(ref: KubernetesObjectRef, schema: z.ZodType<T>) {
      const what = describe('get', ref, ref.name)
      const json = await call(`${server}${collectionPath(ref)}/${encodeURIComponent(ref.name)}`, what)
      return json === undefined ? undefined : validate(schema, json, what)
    },
    async list<T>(resource: KubernetesResource, item: z.ZodType<T>, query: ListQuery = {}) {
      const what = describe('list', resource)
      const page = z.object({
        items: z.array(item).nullable(),
        metadata: z.object({ continue: z.string().optional() }).optional(),
      })
      const items: T[] = []
      let next: string | undefined
      do {
        const params = new URLSearchParams({ limit: String(pageSize) })
        if (query.labelSelector) params.set('labelSelector', query.labelSelector)
        if (query.fieldSelector) params.set('fieldSelector', query.fieldSelector)
        if (next) params.set('continue', next)
        const json = await call(`${server}${collectionPath(resource)}?${params}`, what)
        if (json === undefined)
          throw new KubernetesError('failed', `cannot ${what}: the API server does not serve ${resource.apiVersion}`)
        const parsed = validate(page, json, what)
        items.push(...(parsed.items ?? []))
        next = parsed.metadata?.continue || undefined
      } while (next)
      return items
    },
  }
}
