export {
  type Authorizer,
  authorizerFromConfig,
  createJwtAuthorizer,
  createServiceTokenCheck,
  grantsOf,
  type JwtAuthorizerOptions,
  type Permission,
  type ServiceTokenCheck,
} from './auth'
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
  type AuthConfig,
  type ConfigResult,
  type ContextMissing,
  type DatabaseCa,
  type DatabaseConfig,
  type DatabaseSslMode,
  type DatabaseTls,
  type DevConfig,
  databaseSslModes,
  type HostPort,
  inferRole,
  type KubernetesConfig,
  loadConfig,
  loadDevConfig,
  type MailConfig,
  type NotificationConfig,
  type Propagator,
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
  failureOf,
  formatApiTimestamp,
  noteFailure,
  type SubError,
  statusOf,
} from './errors'
export { createServiceApp, type FetchLike, readJson, validateBody, validateParam } from './http'
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
export { type RunningService, runningService, type Stoppable, shutdownGraceMs, stopOnSignal } from './lifecycle'
export { createLogger, flushLogs, type LogFields, type Logger, type LogLevel } from './logger'
export {
  idempotencyKey,
  type MailRequest,
  type MailRequestBody,
  mailAddress,
  mailDeliveryDeadlineMs,
  mailLimits,
  mailRequest,
  mailSendBudgetMs,
  permanentRefusalHeader,
} from './mail-contract'
export {
  clientAddressOf,
  createRouteRateLimit,
  createTokenBuckets,
  peerKeyOf,
  type RateLimitConfig,
  type RouteRateLimit,
  type RouteRateLimitOptions,
  type Taken,
  type TokenBuckets,
} from './rate-limit'
export { empty, json, text } from './responses'
export { Secret } from './secret'
export {
  type HttpServer,
  type Middleware,
  maxBodyBytes,
  type PeerAddress,
  pathOf,
  type RequestContext,
  startHttpServer,
} from './server'
