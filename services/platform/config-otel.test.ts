// The OpenTelemetry variables: which exporters, the OTLP exporter's settings and the service's name.
import { describe, expect, test } from 'bun:test'
import { defaultOtlpConfig, loadConfig, loadDevConfig, type XrayConfig } from '.'

const mail = {
  AWS_MAIL_SERVER_HOST: 'smtp',
  AWS_MAIL_SERVER_TLS: 'none',
  AWS_MAIL_SERVER_FROM_ADDRESS: 'a@example.com',
}

function xray(env: Record<string, string>): XrayConfig {
  const result = loadConfig('usermgmt', env)
  if (!result.ok) throw new Error(result.problems.join('\n'))
  return result.value.xray
}

function problems(env: Record<string, string>): readonly string[] {
  const result = loadConfig('notification', { ...mail, ...env })
  return result.ok ? [] : result.problems
}

describe('OTEL_TRACES_EXPORTER and the off switches', () => {
  test('X-Ray alone by default, as the course teaches; otlp, both, or none on request', () => {
    expect(xray({}).exporters).toEqual(['xray'])
    expect(xray({ OTEL_TRACES_EXPORTER: 'otlp' }).exporters).toEqual(['otlp'])
    expect(xray({ OTEL_TRACES_EXPORTER: ' xray , OTLP ' }).exporters).toEqual(['xray', 'otlp'])
    expect(xray({ OTEL_TRACES_EXPORTER: 'none' })).toMatchObject({ enabled: true, exporters: [] })
  })

  test('OTEL_SDK_DISABLED=true turns tracing off like AWS_XRAY_SDK_ENABLED=false', () => {
    expect(xray({ OTEL_SDK_DISABLED: 'true' }).enabled).toBe(false)
    expect(xray({ OTEL_SDK_DISABLED: 'false' }).enabled).toBe(true)
    expect(xray({ AWS_XRAY_SDK_ENABLED: 'false', OTEL_SDK_DISABLED: 'false' }).enabled).toBe(false)
  })
})

describe('the service name', () => {
  test('AWS_XRAY_TRACING_NAME, else OTEL_SERVICE_NAME, else service.name in OTEL_RESOURCE_ATTRIBUTES, else the role', () => {
    const all = {
      AWS_XRAY_TRACING_NAME: 'From-XRay',
      OTEL_SERVICE_NAME: 'from-otel',
      OTEL_RESOURCE_ATTRIBUTES: 'service.name=from-resource',
    }
    expect(xray(all).tracingName).toBe('From-XRay')
    expect(xray({ ...all, AWS_XRAY_TRACING_NAME: '' }).tracingName).toBe('from-otel')
    expect(xray({ OTEL_RESOURCE_ATTRIBUTES: 'service.name=from-resource' }).tracingName).toBe('from-resource')
    expect(xray({}).tracingName).toBe('User-Management-Microservice')
  })

  test('OTEL_RESOURCE_ATTRIBUTES is a percent-decoded key=value list', () => {
    expect(
      xray({
        OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=course%20demo, team=a%2Cb,,k8s.namespace.name=default',
      }).resourceAttributes,
    ).toEqual({ 'deployment.environment.name': 'course demo', team: 'a,b', 'k8s.namespace.name': 'default' })
  })
})

describe('the OTLP exporter settings', () => {
  test('are the specification defaults when nothing is set', () => {
    expect(xray({}).otlp).toEqual(defaultOtlpConfig)
  })

  test('the general endpoint gets /v1/traces appended; the traces endpoint is used as it is', () => {
    const endpoint = (env: Record<string, string>) => xray(env).otlp?.endpoint
    expect(endpoint({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toBe('http://collector:4318/v1/traces')
    expect(endpoint({ OTEL_EXPORTER_OTLP_ENDPOINT: 'https://gw.example/otlp/' })).toBe(
      'https://gw.example/otlp/v1/traces',
    )
    expect(
      endpoint({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://traces:9999/custom',
      }),
    ).toBe('http://traces:9999/custom')
  })

  test('the traces-only variables win over the general ones, header by header', () => {
    const otlp = xray({
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/protobuf',
      OTEL_EXPORTER_OTLP_COMPRESSION: 'gzip',
      OTEL_EXPORTER_OTLP_TIMEOUT: '2500',
      OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: '3000',
      OTEL_EXPORTER_OTLP_HEADERS: 'x-api-key=abc%3D%3D,x-tenant=one',
      OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'X-Tenant=two',
      OTEL_BSP_SCHEDULE_DELAY: '200',
      OTEL_BSP_EXPORT_TIMEOUT: '9000',
      OTEL_BSP_MAX_QUEUE_SIZE: '100',
      OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '100',
    }).otlp
    expect({ ...otlp, headers: otlp?.headers.map((h) => [h.name, h.value.reveal()]) }).toEqual({
      endpoint: 'http://localhost:4318/v1/traces',
      protocol: 'http/protobuf',
      compression: 'gzip',
      timeoutMs: 3000,
      headers: [
        ['x-api-key', 'abc=='],
        ['x-tenant', 'two'],
      ],
      batch: { scheduleDelayMs: 200, exportTimeoutMs: 9000, maxQueueSize: 100, maxExportBatchSize: 100 },
    })
    // Headers hold API keys: they print as *** wherever the configuration is logged.
    expect(JSON.stringify(otlp)).not.toContain('abc==')
  })

  test('every invalid value is one line, all in one pass, and header values are never shown', () => {
    expect(
      problems({
        OTEL_SDK_DISABLED: 'yes',
        OTEL_TRACES_EXPORTER: 'jaeger,otlp',
        OTEL_SERVICE_NAME: 'bad(name)',
        OTEL_RESOURCE_ATTRIBUTES: 'novalue',
        OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://user:secret@collector/v1/traces',
        OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
        OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/thrift',
        OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer%ZZsecret',
        OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'content-type=text/plain',
        OTEL_EXPORTER_OTLP_COMPRESSION: 'zstd',
        OTEL_EXPORTER_OTLP_TIMEOUT: '0',
        OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: '10s',
        OTEL_BSP_SCHEDULE_DELAY: '-5',
        OTEL_BSP_EXPORT_TIMEOUT: 'soon',
        OTEL_BSP_MAX_QUEUE_SIZE: '0',
        OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '20000',
      }),
    ).toEqual([
      'OTEL_SDK_DISABLED: must be true or false (got "yes")',
      'OTEL_TRACES_EXPORTER: must be xray, otlp, xray,otlp or none (jaeger is not offered) (got "jaeger,otlp")',
      'OTEL_SERVICE_NAME: may hold only letters, digits, spaces and _.:/%&#=+\\-@ (got "bad(name)")',
      'OTEL_RESOURCE_ATTRIBUTES: must be key=value pairs separated by commas (item 1 has no valid key=) (got "novalue")',
      'OTEL_EXPORTER_OTLP_ENDPOINT: must be an http:// or https:// URL without credentials (put those in the headers) (got "collector:4318")',
      'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: must be an http:// or https:// URL without credentials (put those in the headers) (got "https://***@collector/v1/traces")',
      'OTEL_EXPORTER_OTLP_PROTOCOL: grpc is not offered: use http/protobuf (the default, port 4318) or http/json (got "grpc")',
      'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: must be http/protobuf or http/json (got "http/thrift")',
      'OTEL_EXPORTER_OTLP_HEADERS: the value of authorization is not valid percent-encoding (got ***)',
      'OTEL_EXPORTER_OTLP_TRACES_HEADERS: content-type is set by the exporter, not by this variable (got ***)',
      'OTEL_EXPORTER_OTLP_COMPRESSION: must be gzip or none (got "zstd")',
      'OTEL_EXPORTER_OTLP_TIMEOUT: must be a whole number of milliseconds from 1 to 120000 (got "0")',
      'OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: must be a whole number of milliseconds from 1 to 120000 (got "10s")',
      'OTEL_BSP_SCHEDULE_DELAY: must be a whole number of milliseconds from 1 to 60000 (got "-5")',
      'OTEL_BSP_EXPORT_TIMEOUT: must be a whole number of milliseconds from 1 to 600000 (got "soon")',
      'OTEL_BSP_MAX_QUEUE_SIZE: must be a whole number of spans from 1 to 100000 (got "0")',
      'OTEL_BSP_MAX_EXPORT_BATCH_SIZE: must be a whole number of spans from 1 to 10000 (got "20000")',
    ])
  })

  test('a batch larger than the queue, none beside an exporter, and a bad service.name are refused too', () => {
    expect(
      problems({
        OTEL_TRACES_EXPORTER: 'none,xray',
        OTEL_RESOURCE_ATTRIBUTES: 'service.name=a%28b%29',
        OTEL_BSP_MAX_QUEUE_SIZE: '100',
        OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '200',
      }),
    ).toEqual([
      'OTEL_TRACES_EXPORTER: must be xray, otlp, xray,otlp or none: none cannot be combined with an exporter (got "none,xray")',
      'OTEL_BSP_MAX_EXPORT_BATCH_SIZE: must not be larger than OTEL_BSP_MAX_QUEUE_SIZE (100) (got "200")',
      'OTEL_RESOURCE_ATTRIBUTES: service.name may hold only letters, digits, spaces and _.:/%&#=+\\-@ (got "service.name=a%28b%29")',
    ])
  })
})

describe('./app dev', () => {
  test('takes OTEL_TRACES_EXPORTER, the protocol and DEV_OTLP_PORT (4318 by default)', () => {
    expect(loadDevConfig({})).toMatchObject({
      ok: true,
      value: { otlpPort: 4318, exporters: ['xray'], otlpProtocol: 'http/protobuf' },
    })
    expect(
      loadDevConfig({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', DEV_OTLP_PORT: '0' }),
    ).toMatchObject({ ok: true, value: { otlpPort: 0, exporters: ['otlp'], otlpProtocol: 'http/json' } })
    expect(loadDevConfig({ DEV_OTLP_PORT: '99999', OTEL_TRACES_EXPORTER: 'zipkin' })).toEqual({
      ok: false,
      problems: [
        'DEV_OTLP_PORT: must be a port number from 0 to 65535 (got "99999")',
        'OTEL_TRACES_EXPORTER: must be xray, otlp, xray,otlp or none (zipkin is not offered) (got "zipkin")',
      ],
    })
  })
})
