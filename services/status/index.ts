export { type Check, checkDeployment, formatChecks, type Verdict } from './checks'
export { statusCommand } from './cli'
export { describeTarget, type Target } from './target'
