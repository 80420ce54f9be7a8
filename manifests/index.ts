export { iamCommand, synthesizeManifests } from './chart'
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
