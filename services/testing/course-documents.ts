// Segment documents as the tracer writes them for the course's traffic (field for field what tracer.ts builds):
// the input the OTLP tests convert, encode and send.
import type { EntityDocument } from '../xray'

const t0 = Math.floor(Date.now() / 1000) - 60

export const courseTraceIds = {
  notification: `1-${t0.toString(16)}-0123456789abcdef01234567`,
  failed: `1-${t0.toString(16)}-fedcba9876543210fedcba98`,
  outbox: `1-${t0.toString(16)}-00000000000000000000abcd`,
}

const sdk = { xray: { sdk: 'app X-Ray layer for Bun', sdk_version: '1.2.3' } }
const service = { name: 'app', version: '1.2.3', runtime: 'bun', runtime_version: '1.4.5' }

/**
 * usermgmt's GET /usermgmt/notification-xray (two SQL queries, a call to notification), notification's segment
 * for that call (a mail), a failed create-user (a 500 with its cause, a refused SQL query), and the outbox's later
 * delivery as an independent subsegment.
 */
export function courseDocuments(): EntityDocument[] {
  const usermgmt: EntityDocument = {
    trace_id: courseTraceIds.notification,
    id: '1000000000000001',
    name: 'User-Management-Microservice',
    start_time: t0 + 0.1,
    end_time: t0 + 0.25,
    aws: sdk,
    service,
    http: {
      request: {
        method: 'GET',
        url: 'http://usermgmt.example:8095/usermgmt/notification-xray',
        client_ip: '203.0.113.7',
        x_forwarded_for: true,
        user_agent: 'curl/8.5.0',
      },
      response: { status: 200, content_length: 61 },
    },
    subsegments: [
      {
        id: '1000000000000002',
        name: 'usermgmt@mysql',
        start_time: t0 + 0.101,
        end_time: t0 + 0.103,
        namespace: 'remote',
        sql: {
          url: 'mysql://mysql:3306/usermgmt',
          database_type: 'MySQL',
          database_version: '8.0.36',
          driver_version: 'mysql2 3.24.6',
          user: 'dbadmin',
          preparation: 'statement',
          sanitized_query: 'select `username` from `users` where `username` = ?',
        },
      },
      {
        id: '1000000000000003',
        name: 'notification-clusterip-service',
        start_time: t0 + 0.11,
        end_time: t0 + 0.24,
        namespace: 'remote',
        http: {
          request: { method: 'POST', url: 'http://notification-clusterip-service:8096/notification/send' },
          response: { status: 200, content_length: 2 },
        },
        traced: true,
      },
    ],
  }
  const notification: EntityDocument = {
    trace_id: courseTraceIds.notification,
    id: '2000000000000001',
    parent_id: '1000000000000003',
    name: 'V1-Notification-Microservice',
    start_time: t0 + 0.12,
    end_time: t0 + 0.23,
    origin: 'AWS::EKS::Container',
    aws: { ...sdk, eks: { cluster_name: 'eksdemo1', pod: 'notification-6d4b7-x2x9p' } },
    service,
    http: {
      request: {
        method: 'POST',
        url: 'http://notification-clusterip-service:8096/notification/send',
        client_ip: '10.0.1.23',
        user_agent: 'Bun/1.4.5',
      },
      response: { status: 200 },
    },
    subsegments: [
      {
        id: '2000000000000002',
        name: 'email-smtp.us-east-1.amazonaws.com',
        start_time: t0 + 0.13,
        end_time: t0 + 0.22,
        namespace: 'remote',
        annotations: { smtp_response_code: 250 },
      },
    ],
  }
  const failed: EntityDocument = {
    trace_id: courseTraceIds.failed,
    id: '3000000000000001',
    name: 'User-Management-Microservice',
    start_time: t0 + 1,
    end_time: t0 + 1.05,
    aws: sdk,
    service,
    http: {
      request: { method: 'POST', url: 'http://127.0.0.1:8095/usermgmt/user', client_ip: '127.0.0.1' },
      response: { status: 500, content_length: 120 },
    },
    fault: true,
    cause: {
      working_directory: '/app',
      exceptions: [
        {
          id: '3000000000000009',
          message: 'Connection lost: The server closed the connection.',
          type: 'Error',
          stack: [
            { path: '/app/services/usermgmt/users.ts', line: 42, label: 'createUser' },
            { path: 'node:internal/process/task_queues', line: 105, label: 'processTicksAndRejections' },
          ],
        },
      ],
    },
    subsegments: [
      {
        id: '3000000000000002',
        name: 'usermgmt@mysql',
        start_time: t0 + 1.01,
        end_time: t0 + 1.04,
        namespace: 'remote',
        sql: { url: 'mysql://mysql:3306/usermgmt', database_type: 'MySQL', driver_version: 'mysql2 3.24.6' },
        fault: true,
        cause: {
          working_directory: '/app',
          exceptions: [{ id: '3000000000000008', message: 'Connection lost', type: 'Error', remote: true }],
        },
      },
      {
        id: '3000000000000003',
        name: 'notification-clusterip-service',
        start_time: t0 + 1.041,
        end_time: t0 + 1.045,
        namespace: 'remote',
        http: {
          request: { method: 'POST', url: 'http://notification-clusterip-service:8096/notification/send' },
          response: { status: 429 },
        },
        traced: true,
        error: true,
        throttle: true,
      },
    ],
  }
  const outbox: EntityDocument = {
    id: '4000000000000001',
    name: 'notification-clusterip-service',
    start_time: t0 + 5,
    end_time: t0 + 5.2,
    namespace: 'remote',
    type: 'subsegment',
    trace_id: courseTraceIds.outbox,
    parent_id: '4000000000000000',
    http: {
      request: { method: 'POST', url: 'http://notification-clusterip-service:8096/notification/send' },
      response: { status: 200 },
    },
    traced: true,
  }
  return [usermgmt, notification, failed, outbox]
}
