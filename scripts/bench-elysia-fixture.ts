// Benchmark fixture: bare Elysia, as its documentation starts, answering GET /notification/xray with the same JSON as
// the notification role. What the framework costs before anything of ours runs.
// Usage: bun scripts/bench-elysia-fixture.ts PORT
import { Elysia } from 'elysia'

new Elysia()
  .get('/notification/xray', () => ({
    applicationname: 'Notification Microservice',
    appversion: 'V1',
    message: 'Enabled AWS XRay',
  }))
  .listen({ hostname: '127.0.0.1', port: Number(process.argv[2]) })
