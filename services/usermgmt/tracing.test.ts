// The course's point: one request crossing both services is one trace, and create-user's SQL and mail join it.
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { type MailSink, startMailSink } from '../console'
import { createSmtpMailer, localSinkMail, type RunningNotification, startNotification } from '../notification'
import {
  allSubsegments,
  captureLog,
  createTestDatabase,
  type FakeDaemon,
  type SegmentDocument,
  startFakeDaemon,
  type TestDatabase,
  testXrayConfig,
  userFixture,
  waitUntil,
} from '../testing'
import { createTracer, traceEverything } from '../xray'
import { createMysqlDatabase, type RunningRole, startUsermgmt } from '.'

let daemon: FakeDaemon
let testDb: TestDatabase
let sink: MailSink
let notification: RunningNotification
let usermgmt: RunningRole

beforeAll(async () => {
  daemon = await startFakeDaemon()
  testDb = await createTestDatabase()
  sink = await startMailSink({ port: 0 })
  notification = startNotification({
    mailer: createSmtpMailer(localSinkMail(sink.port)),
    appVersion: 'V1',
    port: 0,
    log: captureLog().log,
    tracer: createTracer({
      config: testXrayConfig(daemon.port, { tracingName: 'V1-Notification-Microservice' }),
      log: captureLog().log,
      samplingRules: traceEverything,
      centralizedSampling: false,
    }),
  })
  usermgmt = startUsermgmt({
    database: createMysqlDatabase(testDb.config),
    notificationBaseUrl: notification.url,
    port: 0,
    log: captureLog().log,
    tracer: createTracer({
      config: testXrayConfig(daemon.port, { tracingName: 'User-Management-Microservice' }),
      log: captureLog().log,
      samplingRules: traceEverything,
      centralizedSampling: false,
    }),
  })
  await waitUntil(async () => expect((await fetch(`${usermgmt.url}/usermgmt/health/readiness`)).status).toBe(200))
})

afterAll(async () => {
  await usermgmt.stop()
  await notification.stop()
  await sink.stop()
  await testDb.drop()
  expect(daemon.invalid).toEqual([])
  daemon.close()
})

const segmentsOf = (docs: readonly SegmentDocument[], traceId: string, name: string) =>
  docs.filter((d) => d.trace_id === traceId && d.name === name && d.type === undefined)

test("GET /usermgmt/notification-xray is one trace: the notification segment hangs off usermgmt's remote subsegment", async () => {
  const response = await fetch(`${usermgmt.url}/usermgmt/notification-xray`)
  expect(response.status).toBe(200)
  const traceId = /Root=([^;]+)/.exec(response.headers.get('x-amzn-trace-id') ?? '')?.[1] ?? ''
  const docs = await daemon.waitFor(
    (all) =>
      segmentsOf(all, traceId, 'User-Management-Microservice').length === 1 &&
      segmentsOf(all, traceId, 'V1-Notification-Microservice').length === 1,
  )
  const [user] = segmentsOf(docs, traceId, 'User-Management-Microservice')
  const [notify] = segmentsOf(docs, traceId, 'V1-Notification-Microservice')
  const call = allSubsegments(user as SegmentDocument).find((s) => s.http?.request?.url?.endsWith('/notification/xray'))
  expect(call).toMatchObject({
    name: '127.0.0.1',
    namespace: 'remote',
    traced: true,
    http: { request: { method: 'GET' }, response: { status: 200 } },
  })
  expect(notify?.parent_id).toBe(call?.id)
  expect(user?.parent_id).toBeUndefined()
  expect(user?.http?.response?.status).toBe(200)
})

test('create-user: SQL subsegments without secrets, and the mail delivered through the outbox joins the same trace', async () => {
  const user = userFixture('traced')
  const response = await fetch(`${usermgmt.url}/usermgmt/user`, { method: 'POST', body: JSON.stringify(user) })
  expect(response.status).toBe(200)
  const traceId = /Root=([^;]+)/.exec(response.headers.get('x-amzn-trace-id') ?? '')?.[1] ?? ''
  await sink.waitFor(1)
  const docs = await daemon.waitFor(
    (all) =>
      segmentsOf(all, traceId, 'V1-Notification-Microservice').length === 1 &&
      all.some((d) => d.trace_id === traceId && d.type === 'subsegment'),
  )
  const [created] = segmentsOf(docs, traceId, 'User-Management-Microservice')
  const sqlCalls = allSubsegments(created as SegmentDocument).filter((s) => s.sql)
  expect(sqlCalls.length).toBeGreaterThanOrEqual(4)
  for (const call of sqlCalls) {
    expect(call.name).toBe(`${testDb.config.name}@${testDb.config.host}`)
    expect(call.namespace).toBe('remote')
    expect(call.sql).toMatchObject({
      url: `mysql://${testDb.config.host}:${testDb.config.port}/${testDb.config.name}`,
      database_type: 'MySQL',
      user: testDb.config.user,
      preparation: 'statement',
    })
    expect(String(call.sql?.['database_version'])).toMatch(/MariaDB|^\d+\./)
    expect(String(call.sql?.['driver_version'])).toStartWith('mysql2 ')
    expect(call.sql?.['sanitized_query']).toBeUndefined()
  }
  // The outbox delivered later, outside the request: an independent subsegment continues the trace...
  const delivery = docs.find(
    (d) => d.trace_id === traceId && d.type === 'subsegment' && d.http?.request?.url?.endsWith('/notification/send'),
  )
  expect(delivery).toMatchObject({ parent_id: created?.id, namespace: 'remote', http: { response: { status: 200 } } })
  // ...and the notification segment hangs off it, with its SMTP subsegment.
  const [mailSegment] = segmentsOf(docs, traceId, 'V1-Notification-Microservice')
  expect(mailSegment?.parent_id).toBe(delivery?.id)
  const smtp = allSubsegments(mailSegment as SegmentDocument).find((s) => s.name === '127.0.0.1')
  expect(smtp).toMatchObject({ namespace: 'remote', annotations: { smtp_response_code: 250 } })
  const everythingSent = daemon.datagrams.map((d) => d.raw).join('\n')
  expect(everythingSent).not.toContain('traced@example.com')
  expect(everythingSent).not.toContain('Passw0rd!')
  expect(everythingSent).not.toContain('Hello First')
})
