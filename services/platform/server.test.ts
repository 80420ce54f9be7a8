import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { Elysia } from 'elysia'
import { captureLog, openRequest, rawHttp, waitUntil } from '../testing'
import { answersAtOnce, createServiceApp, type HttpServer, type Middleware, readJson, startHttpServer, text } from '.'

describe('the HTTP server every role runs on', () => {
  const captured = captureLog()
  const arrivals: string[] = []
  let server: HttpServer

  beforeAll(() => {
    const routes = new Elysia({ prefix: '/svc' })
      .get('/items', () => text('items'))
      .post('/items', async ({ request }) => text(JSON.stringify(await readJson(request))))
    const app = createServiceApp({ log: captured.log }).use(routes)
    // Records each request as it arrives, before its body is read: lets a test hang up at a known point.
    const middleware: Middleware = (context, next) => {
      arrivals.push(`${context.request.method} ${context.path}`)
      return next()
    }
    server = startHttpServer(app, { port: 0, hostname: '127.0.0.1', log: captured.log, middleware })
  })
  afterAll(() => server.stop())

  test.each(['a', 'ab', 'abc', 'abcd', 'localhost:8095', '[::1]:8095', '10.0.0.1'])(
    'routes a request whatever the length of its Host header (%s)',
    async (host) => {
      const answer = await rawHttp(server.port, `GET /svc/items HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`)
      expect([answer.status, answer.body]).toEqual([200, 'items'])
    },
  )

  test('serves a request without a Host header (HTTP/1.0 allows that) as if sent to localhost', async () => {
    const answer = await rawHttp(server.port, 'GET /svc/items?x=1 HTTP/1.0\r\n\r\n')
    expect([answer.status, answer.body]).toEqual([200, 'items'])
    // The access log and the middleware name the path the client asked for.
    const line = captured.lines.findLast((l) => l['message'] === 'request')
    expect([line?.['path'], arrivals.at(-1)]).toEqual(['/svc/items', 'GET /svc/items'])
  })

  test.each(['a b', 'a/b', 'a@b', ''])('answers 400 with an ApiError to a Host that is no host (%j)', async (host) => {
    const answer = await rawHttp(server.port, `GET /svc/items HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`)
    expect(answer.status).toBe(400)
    expect(JSON.parse(answer.body)).toMatchObject({
      apierror: { status: 'BAD_REQUEST', message: 'Invalid Host header' },
    })
  })

  test.each(['[zz]', 'a:99999'])(
    'answers 404, not 500, to an unknown path under a Host no URL can hold (%s)',
    async (host) => {
      const answer = await rawHttp(server.port, `GET /nowhere HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`)
      expect(answer.status).toBe(404)
      expect(captured.lines.filter((l) => l['level'] === 'error')).toEqual([])
    },
  )

  test.each(['PATCH', 'PROPFIND', 'TRACE', 'QUERY'])(
    'answers a method no route has (%s) with 405, Allow and an ApiError body',
    async (method) => {
      const answer = await rawHttp(
        server.port,
        `${method} /svc/items HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`,
      )
      expect(answer.status).toBe(405)
      expect(answer.headers['allow']).toBe('GET, POST')
      expect(JSON.parse(answer.body)).toMatchObject({
        apierror: { status: 'METHOD_NOT_ALLOWED', message: `Request method '${method}' is not supported` },
      })
    },
  )

  test.each([
    ['a Content-Length body', 'Content-Length: 1000\r\n\r\n{"name":'],
    ['a chunked body', 'Transfer-Encoding: chunked\r\n\r\n8\r\n{"name":\r\n'],
  ])('treats a client that hangs up in the middle of %s as gone: 499 at debug, no error', async (_name, rest) => {
    const before = arrivals.length
    const posts = () => captured.lines.filter((l) => l['message'] === 'request' && l['method'] === 'POST')
    const answered = posts().length
    const request = await openRequest(server.port, `POST /svc/items HTTP/1.1\r\nHost: localhost\r\n${rest}`)
    await waitUntil(() => expect(arrivals.length).toBe(before + 1))
    await request.hangUp()
    await waitUntil(() => expect(posts().length).toBe(answered + 1))
    expect(posts().at(-1)?.['status']).toBe(499)
    expect(captured.lines.filter((l) => l['level'] === 'error' || l['level'] === 'warn')).toEqual([])
  })
})

describe('a handler that answers at once', () => {
  const captured = captureLog()
  const seen: Record<string, string> = {}
  let server: HttpServer

  beforeAll(() => {
    const routes = new Elysia()
      .get(
        '/marked',
        answersAtOnce(() => text('marked')),
      )
      .get('/unmarked', () => text('unmarked'))
    // What the tracing layer gets back from the handler: an answer it can finish at once, or a promise.
    const middleware: Middleware = (context, next) => {
      const answer = next()
      seen[context.path] = answer instanceof Promise ? 'promise' : 'response'
      return answer
    }
    server = startHttpServer(createServiceApp({ log: captured.log }).use(routes), {
      port: 0,
      hostname: '127.0.0.1',
      log: captured.log,
      middleware,
    })
  })
  afterAll(() => server.stop())

  test('reaches the middleware as a response, where Elysia would otherwise make it a promise', async () => {
    for (const path of ['/marked', '/unmarked']) {
      const response = await fetch(`${server.url}${path}`)
      expect([response.status, await response.text()]).toEqual([200, path.slice(1)])
    }
    expect(seen).toEqual({ '/marked': 'response', '/unmarked': 'promise' })
  })
})
