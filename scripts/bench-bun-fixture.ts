// Benchmark fixture: bare Bun.serve answering GET /notification/xray with the same JSON as the notification role,
// built per request as a handler must. The runtime's limit that bench.ts measures everything against.
// Usage: bun scripts/bench-bun-fixture.ts PORT (also compiled by bench.ts for the cold-start baseline)
const body = { applicationname: 'Notification Microservice', appversion: 'V1', message: 'Enabled AWS XRay' }

Bun.serve({
  hostname: '127.0.0.1',
  port: Number(process.argv[2]),
  development: false,
  routes: { '/notification/xray': () => Response.json(body) },
  fetch: () => new Response('Not Found', { status: 404 }),
})
