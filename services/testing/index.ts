export { type Balancer, startBalancer } from './balancer'
export { type AppProcess, appBinary, ensureBinary, runApp, spawnApp } from './binary'
export { courseDocuments, courseTraceIds } from './course-documents'
export {
  allSubsegments,
  type Datagram,
  type FakeDaemon,
  freeUdpPort,
  type SegmentDocument,
  schemaErrors,
  startFakeDaemon,
  testXrayConfig,
} from './daemon'
export { type CapturedLog, captureLog } from './logs'
export { createTestDatabase, type TestDatabase, testServer } from './mariadb'
export {
  type MariadbServer,
  type MariadbServerOptions,
  type ServerTlsFiles,
  startMariadbServer,
  type TestCertificateAuthority,
  testCertificateAuthority,
} from './mariadb-server'
export {
  createSigningKey,
  type OidcIssuer,
  type SigningKey,
  type SignOptions,
  startOidcIssuer,
  testAudience,
  unsignedToken,
} from './oidc'
export {
  normalizeOtlp,
  officialDecode,
  officialJson,
  officialProtobuf,
  readableSpans,
} from './otlp-oracle'
export { type OtlpSink, type ReceivedExport, type SinkAnswer, startOtlpSink } from './otlp-sink'
export { startTcpProxy, type TcpProxy } from './proxy'
export { type OpenRequest, openRequest, type RawAnswer, rawHttp } from './raw-http'
export { isSampled, type SamplingTracer, sampleEverythingRulesFile } from './sampling'
export { type TestCertificate, testCertificate } from './tls'
export { userFixture } from './users'
export { waitUntil } from './wait'
