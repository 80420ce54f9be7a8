// Benchmark fixture: bare Bun.serve answering GET /notification/xray with the same JSON as the notification role,
// built per request as a handler must. The runtime's limit that bench.ts measures everything against.
// Usage: bun scripts/bench-bun-fixture.ts PORT (also compiled by bench.ts for the cold-start baseline). Compiled, it
// also takes ./app's arguments (`serve --role=notification --port PORT`), so that scripts/duel.ts can set it
// against ./app alone; the health route is the one duel.ts waits for.
const body = { applicationname: 'Notification Microservice', appversion: 'V1', message: 'Enabled AWS XRay' }
const portAt = process.argv.indexOf('--port')

Bun.serve({
  hostname: '127.0.0.1',
  port: Number(portAt >= 0 ? process.argv[portAt + 1] : process.argv[2]),
  development: false,
  routes: {
    '/notification/xray': () => Response.json(body),
    '/notification/health-status': () => new Response('UP'),
  },
  fetch: () => new Response('Not Found', { status: 404 }),
})
