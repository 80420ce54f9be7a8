export { devCommand } from './cli'
export { type DevEnvironment, startDev } from './dev'
