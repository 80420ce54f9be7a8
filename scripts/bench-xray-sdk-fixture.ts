// Benchmark peer: Bun.serve with aws-xray-sdk-core used the way its README documents outside Express, at 100%
// sampling: per request, the trace header parsed, a Segment opened, the sampling decision and the request data
// recorded as the SDK's own middleware does (mw_utils.traceRequestResponseCycle), then closed, which sends it to
// the daemon (AWS_XRAY_DAEMON_ADDRESS) over UDP. Manual mode: Bun has no cls-hooked context to carry it.
// Usage: bun scripts/bench-xray-sdk-fixture.ts PORT
import type { IncomingMessage, ServerResponse } from 'node:http'
import AWSXRay from 'aws-xray-sdk-core'

AWSXRay.enableManualMode()
AWSXRay.middleware.disableCentralizedSampling()
AWSXRay.middleware.setSamplingRules({ version: 2, rules: [], default: { fixed_target: 1, rate: 1 } })
AWSXRay.middleware.setDefaultName('bench-xray-sdk')

const body = { applicationname: 'Notification Microservice', appversion: 'V1', message: 'Enabled AWS XRay' }

const server = Bun.serve({
  hostname: '127.0.0.1',
  port: Number(process.argv[2]),
  development: false,
  routes: {
    '/notification/xray': (request) => {
      const url = new URL(request.url)
      // The shape of a Node request that the SDK's helpers read: method, url, headers, connection.
      const req = {
        method: request.method,
        url: url.pathname,
        headers: {
          host: request.headers.get('host') ?? '',
          'user-agent': request.headers.get('user-agent') ?? undefined,
          'x-forwarded-for': request.headers.get('x-forwarded-for') ?? undefined,
          'x-amzn-trace-id': request.headers.get('x-amzn-trace-id') ?? undefined,
        },
        connection: { remoteAddress: server.requestIP(request)?.address },
      } as unknown as IncomingMessage
      const header = AWSXRay.middleware.processHeaders(req)
      const segment = new AWSXRay.Segment(
        AWSXRay.middleware.resolveName(req.headers.host),
        header['root'],
        header['parent'],
      )
      AWSXRay.middleware.resolveSampling(header, segment, { req } as unknown as ServerResponse)
      const requestData = new AWSXRay.middleware.IncomingRequestData(req)
      segment.addIncomingRequestData(requestData)
      const response = Response.json(body)
      requestData.close({ statusCode: response.status } as ServerResponse)
      segment.close()
      return response
    },
  },
  fetch: () => new Response('Not Found', { status: 404 }),
})
