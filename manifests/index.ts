export { iamCommand, synthesizeManifests } from './chart'
export { manifestsCommand } from './cli'
export {
  defaultDaemonImage,
  defaultSmtpHost,
  flagNames,
  type ManifestOptions,
  type ManifestSecrets,
  manifestOptionsSchema,
  type OptionsResult,
  parseManifestOptions,
} from './options'
