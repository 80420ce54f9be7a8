export { type Check, checkDeployment, createKubeReader, formatChecks, type StatusOptions } from './checks'
export { statusCommand } from './cli'
