export { type Collector, createCollector, type Entity, type RejectReason } from './collector'
export { type ConsoleOptions, type LocalRules, type RunningConsole, startConsole } from './console'
export { buildServiceGraph, type GraphEdge, type GraphNode, type ServiceGraph } from './graph'
export { type MailSink, type MailSinkOptions, type ReceivedMail, startMailSink } from './mail-sink'
