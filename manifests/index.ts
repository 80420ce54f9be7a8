export { synthesizeManifests } from './chart'
export { manifestsCommand } from './cli'
export { iamCommand } from './iam'
export {
  type AuthOptions,
  type CollectorOptions,
  type IamOptions,
  type ManifestOptions,
  type ManifestSecrets,
  type OptionsResult,
  parseIamOptions,
  parseManifestOptions,
} from './options'
