export {
  CliProblems,
  type Command,
  type CommandContext,
  type Env,
  type FlagSpec,
  type FlagSpecs,
  type FlagValues,
  nearest,
  orExit,
  type Parsed,
  type Problems,
  parseFlags,
  printUsage,
} from './cli'
export {
  type ConfigResult,
  type ContextMissing,
  type DatabaseConfig,
  type DevConfig,
  type HostPort,
  inferRole,
  type KubernetesConfig,
  loadConfig,
  loadDevConfig,
  type MailConfig,
  type NotificationConfig,
  parseHostPort,
  type Role,
  type RoleConfig,
  roles,
  type SmtpTlsMode,
  type UsermgmtConfig,
  type XrayConfig,
} from './config'
export {
  type DeploymentRecord,
  defaultAppNamespace,
  defaultCollectorNamespace,
  deploymentRecord,
  deploymentRecordKey,
  deploymentRecordName,
} from './deployment'
export {
  type ApiErrorBody,
  AppError,
  apiErrorBody,
  apiErrorResponse,
  type ErrorKind,
  formatApiTimestamp,
  type SubError,
  statusOf,
} from './errors'
export { createServiceApp, readJson, validateBody, validateParam } from './http'
export {
  createKubernetesClient,
  type KubernetesClient,
  type KubernetesClientOptions,
  KubernetesError,
  type KubernetesObjectRef,
  type KubernetesProblem,
  type KubernetesResource,
  type KubernetesSource,
  type ListQuery,
} from './kubernetes'
export { type RunningService, runningService, type Stoppable, stopOnSignal } from './lifecycle'
export { createLogger, type LogFields, type Logger, type LogLevel } from './logger'
export { addResponseHeaderSource, empty, json, type ResponseHeaderSource, text } from './responses'
export { Secret } from './secret'
export {
  type HttpServer,
  maxBodyBytes,
  type PeerAddress,
  pathOf,
  type RequestScope,
  startHttpServer,
} from './server'
