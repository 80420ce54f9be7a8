export { buildChart, deploymentRecordOf, synthesizeManifests } from './chart'
export { manifestsCommand } from './cli'
export { iamCommand, roleArnLookup } from './iam'
export {
  type AuthOptions,
  type CollectorOptions,
  dbSslModes,
  defaultDaemonImage,
  flagNames,
  type IamOptions,
  iamOptionsOf,
  type ManifestOptions,
  type ManifestSecrets,
  type OptionsResult,
  parseIamOptions,
  parseManifestOptions,
  partitionOf,
  sesSmtpHost,
} from './options'
