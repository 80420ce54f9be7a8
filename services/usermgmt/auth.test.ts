// usermgmt with AUTH_MODE=jwt against a real OpenID Connect issuer the test starts (its own keys, discovery
// document and JWKS over HTTP), on real MariaDB, over real sockets.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { randomUUID } from 'node:crypto'
import { SignJWT } from 'jose'
import { createJwtAuthorizer, type JwtAuthorizerOptions } from '../platform'
import {
  captureLog,
  createTestDatabase,
  type OidcIssuer,
  startOidcIssuer,
  type TestDatabase,
  testAudience,
  unsignedToken,
  userFixture,
  waitUntil,
} from '../testing'
import { createMysqlDatabase, type RunningRole, startUsermgmt } from '.'
import { createNotificationClient } from './notification-client'
import { createUsermgmtRoutes, routeAccess } from './routes'

// Roles start and schemas migrate inside hooks and tests: 5 s (bun's default) is too short on a loaded machine.
setDefaultTimeout(60_000)

let testDb: TestDatabase
let issuer: OidcIssuer

interface StartedRole {
  readonly role: RunningRole
  readonly log: ReturnType<typeof captureLog>
}

const started: RunningRole[] = []

async function startRole(overrides: Partial<JwtAuthorizerOptions> = {}): Promise<StartedRole> {
  const log = captureLog()
  const role = startUsermgmt({
    database: createMysqlDatabase(testDb.config),
    // Nothing listens there: the account mails stay in the outbox, which these tests do not look at.
    notificationBaseUrl: 'http://127.0.0.1:9',
    port: 0,
    log: log.log,
    authorizer: createJwtAuthorizer({
      issuer: issuer.issuer,
      audiences: [testAudience],
      scopes: { read: 'usermgmt/read', write: 'usermgmt/write' },
      realm: 'usermgmt',
      log: log.log,
      ...overrides,
    }),
  })
  started.push(role)
  await waitUntil(async () => expect((await fetch(`${role.url}/usermgmt/health/readiness`)).status).toBe(200))
  return { role, log }
}

let main: StartedRole

beforeAll(async () => {
  testDb = await createTestDatabase()
  issuer = await startOidcIssuer()
  main = await startRole()
})

afterAll(async () => {
  for (const role of started) await role.stop()
  await issuer.stop()
  await testDb.drop()
})

function call(role: RunningRole, path: string, init: RequestInit & { token?: string } = {}): Promise<Response> {
  const { token, ...rest } = init
  const headers = new Headers(rest.headers)
  if (token !== undefined) headers.set('authorization', `Bearer ${token}`)
  return fetch(`${role.url}/usermgmt${path}`, { ...rest, headers })
}

interface ApiError {
  apierror: { status: string; message: string; debugMessage: string | null }
}

async function expectRefusal(response: Response, status: number, authenticate: string, message: string) {
  expect(response.status).toBe(status)
  expect(response.headers.get('www-authenticate')).toBe(authenticate)
  const body = (await response.json()) as ApiError
  expect(body.apierror.status).toBe(status === 401 ? 'UNAUTHORIZED' : 'FORBIDDEN')
  expect(body.apierror.message).toBe(message)
}

const invalidToken = (description: string) =>
  `Bearer realm="usermgmt", error="invalid_token", error_description="${description}"`

describe('usermgmt with AUTH_MODE=jwt', () => {
  test('answers a caller with a valid token and the read scope', async () => {
    const response = await call(main.role, '/users', { token: await issuer.sign() })
    expect(response.status).toBe(200)
    expect(await response.json()).toBeArray()
  })

  test('answers 401 with WWW-Authenticate and no error code when no token is sent', async () => {
    await expectRefusal(await call(main.role, '/users'), 401, 'Bearer realm="usermgmt"', 'Authentication required')
    const basic = await call(main.role, '/users', { headers: { authorization: 'Basic YWxpY2U6c2VjcmV0' } })
    await expectRefusal(basic, 401, 'Bearer realm="usermgmt"', 'Authentication required')
  })

  test.each([
    ['an expired token', () => issuer.sign({ exp: now() - 3600, iat: now() - 7200 }), 'The token has expired'],
    [
      'a token for another audience',
      () => issuer.sign({ aud: 'another-api' }),
      "The token's aud claim is not accepted",
    ],
    [
      'a token from another issuer',
      () => issuer.sign({ iss: 'https://evil.example.com' }),
      "The token's iss claim is not accepted",
    ],
    [
      'a token signed with a key the issuer does not publish',
      async () => issuer.sign({}, { key: await issuer.newKey() }),
      'The token is signed with a key the issuer does not publish',
    ],
    [
      'an unsigned token (alg: none)',
      async () => unsignedToken({ iss: issuer.issuer, aud: testAudience, exp: now() + 3600, scope: 'usermgmt/read' }),
      'The token is signed with an algorithm that is not accepted',
    ],
    [
      'a token signed with HS256 using the public key as the secret',
      async () => forgeWithPublicKey(),
      'The token is signed with an algorithm that is not accepted',
    ],
    [
      'a token whose signature was altered',
      async () => {
        const [head, payload] = (await issuer.sign()).split('.')
        return `${head}.${payload}.${Buffer.from('not the signature').toString('base64url')}`
      },
      'The token signature does not verify',
    ],
    ['a token without an expiry', () => issuer.sign({}, { omit: ['exp'] }), "The token's exp claim is not accepted"],
    ['something that is not a JWT', async () => 'not-a-jwt', 'The token is malformed'],
    ['a token with characters a bearer token cannot hold', async () => 'a"b', 'The token is malformed'],
  ])('answers 401 invalid_token for %s', async (_name, token, description) => {
    const response = await call(main.role, '/users', { token: await token() })
    await expectRefusal(response, 401, invalidToken(description), 'Invalid bearer token')
  })

  test('answers 403 insufficient_scope for a valid token without the scope a route needs', async () => {
    const reader = await issuer.sign({ scope: 'usermgmt/read' })
    const writer = await issuer.sign({ scope: 'usermgmt/write' })
    expect((await call(main.role, '/users', { token: reader })).status).toBe(200)
    await expectRefusal(
      await call(main.role, '/user', { method: 'POST', token: reader, body: JSON.stringify(userFixture('reader')) }),
      403,
      'Bearer realm="usermgmt", error="insufficient_scope", scope="usermgmt/write"',
      'Insufficient scope',
    )
    // The write scope does not include reading.
    await expectRefusal(
      await call(main.role, '/users', { token: writer }),
      403,
      'Bearer realm="usermgmt", error="insufficient_scope", scope="usermgmt/read"',
      'Insufficient scope',
    )
    expect(
      (await call(main.role, '/user', { method: 'POST', token: writer, body: JSON.stringify(userFixture('writer')) }))
        .status,
    ).toBe(200)
    expect(await testDb.query('select username from users where username in (?, ?)', ['reader', 'writer'])).toEqual([
      { username: 'writer' },
    ])
  })

  test("accepts Cognito's access tokens (no aud, client_id, scope and cognito:groups) and refuses its ID tokens", async () => {
    const cognitoAccess = await issuer.sign(
      { client_id: testAudience, token_use: 'access', scope: 'usermgmt/read', username: 'alice' },
      { omit: ['aud'] },
    )
    expect((await call(main.role, '/users', { token: cognitoAccess })).status).toBe(200)
    const otherClient = await issuer.sign({ client_id: 'another-client', token_use: 'access' }, { omit: ['aud'] })
    await expectRefusal(
      await call(main.role, '/users', { token: otherClient }),
      401,
      invalidToken("The token's aud claim is not accepted"),
      'Invalid bearer token',
    )
    const group = await issuer.sign(
      { client_id: testAudience, token_use: 'access', 'cognito:groups': ['usermgmt/read'] },
      { omit: ['aud', 'scope'] },
    )
    expect((await call(main.role, '/users', { token: group })).status).toBe(200)
    const idToken = await issuer.sign({ token_use: 'id', 'cognito:groups': ['usermgmt/read'] }, { omit: ['scope'] })
    await expectRefusal(
      await call(main.role, '/users', { token: idToken }),
      401,
      invalidToken('The token is not an access token'),
      'Invalid bearer token',
    )
  })

  test("accepts Okta's scp array and Keycloak's groups claim, and an aud array holding the audience", async () => {
    const okta = await issuer.sign({ scp: ['openid', 'usermgmt/read'] }, { omit: ['scope'] })
    expect((await call(main.role, '/users', { token: okta })).status).toBe(200)
    const keycloak = await issuer.sign(
      { aud: ['account', testAudience], typ: 'Bearer', groups: ['usermgmt/read'], scope: 'openid email' },
      {},
    )
    expect((await call(main.role, '/users', { token: keycloak })).status).toBe(200)
    const none = await issuer.sign({ scope: 'openid usermgmt/readonly', groups: ['usermgmt'] })
    expect((await call(main.role, '/users', { token: none })).status).toBe(403)
  })

  test('HEAD needs what GET needs: open for health, a token for data', async () => {
    expect((await call(main.role, '/health/status', { method: 'HEAD' })).status).toBe(200)
    expect((await call(main.role, '/users', { method: 'HEAD' })).status).toBe(401)
  })

  test('no data endpoint answers without a valid token, and the health endpoints answer without one', async () => {
    const writer = await issuer.sign()
    expect(
      (await call(main.role, '/user', { method: 'POST', token: writer, body: JSON.stringify(userFixture('bob')) }))
        .status,
    ).toBe(200)
    await testDb.query('update users set enabled = 0 where username = ?', ['bob'])
    const before = await testDb.query('select * from users order by username')

    const database = createMysqlDatabase(testDb.config)
    const routes = createUsermgmtRoutes({
      database,
      notifications: createNotificationClient({ baseUrl: 'http://127.0.0.1:9' }),
      schema: () => ({ ready: true, lastError: undefined }),
      outbox: () => undefined,
      ready: async () => true,
    }).routes.map((route) => `${route.method} ${route.path}`)
    await database.destroy()
    // The access table covers exactly the routes there are.
    expect(routes.toSorted()).toEqual(Object.keys(routeAccess).toSorted())

    const foreignKey = await issuer.newKey()
    const forged = () => issuer.sign({}, { key: foreignKey })
    const bodies: Record<string, unknown> = {
      POST: userFixture('mallory'),
      PUT: { username: 'bob', email: 'mallory@example.com', firstname: 'Mal', lastname: 'Lory' },
    }
    const answers: string[] = []
    for (const route of routes) {
      const [method = '', path = ''] = route.split(' ')
      const url = path.replace('/usermgmt', '').replace(':username', 'bob')
      const body = bodies[method] === undefined ? undefined : JSON.stringify(bodies[method])
      for (const token of [undefined, await forged(), unsignedToken({ iss: issuer.issuer, aud: testAudience })]) {
        const response = await call(main.role, url, { method, body, token })
        answers.push(`${route} ${token === undefined ? 'no token' : 'bad token'}: ${response.status}`)
        await response.body?.cancel()
      }
    }
    const expected = routes.flatMap((route) =>
      ['no token', 'bad token', 'bad token'].map(
        (token) => `${route} ${token}: ${routeAccess[route] === 'open' ? 200 : 401}`,
      ),
    )
    expect(answers).toEqual(expected)
    expect(await testDb.query('select * from users order by username')).toEqual(before)
  })

  test('a flood of tokens with unknown key ids fetches the JWKS at most once per cooldown', async () => {
    expect((await call(main.role, '/users', { token: await issuer.sign() })).status).toBe(200)
    const fetched = issuer.fetches.jwks
    const foreignKey = await issuer.newKey()
    for (let i = 0; i < 20; i++) {
      const token = await issuer.sign({}, { key: { ...foreignKey, kid: randomUUID() } })
      expect((await call(main.role, '/users', { token })).status).toBe(401)
    }
    expect(issuer.fetches.jwks - fetched).toBeLessThanOrEqual(1)
  })
})

describe('usermgmt with AUTH_MODE=jwt when the issuer changes or goes away', () => {
  test('accepts a token signed with a key the issuer rotated in, without a restart', async () => {
    await using rotating = await startOidcIssuer()
    const { role } = await startRole({ issuer: rotating.issuer, refetchCooldownMs: 0 })
    expect((await call(role, '/users', { token: await rotating.sign() })).status).toBe(200)
    const oldToken = await rotating.sign()
    await rotating.rotate()
    expect((await call(role, '/users', { token: await rotating.sign() })).status).toBe(200)
    // The old key is no longer published, so its tokens stop working once the keys are fetched again.
    expect((await call(role, '/users', { token: oldToken })).status).toBe(401)
  })

  test('uses AUTH_JWKS_URL without reading the discovery document', async () => {
    await using direct = await startOidcIssuer()
    const { role } = await startRole({ issuer: direct.issuer, jwksUrl: direct.jwksUrl })
    expect((await call(role, '/users', { token: await direct.sign() })).status).toBe(200)
    expect(direct.fetches).toEqual({ discovery: 0, jwks: 1 })
  })

  test('answers 503 with Retry-After and logs one line while the issuer is unreachable, then recovers by itself', async () => {
    await using flaky = await startOidcIssuer()
    const token = await flaky.sign()
    await flaky.suspend()
    // No back-off: every request tries the issuer again, so only the log's own limit keeps it to one line.
    const { role, log } = await startRole({ issuer: flaky.issuer, unreachableBackoffMs: 0 })
    for (let i = 0; i < 10; i++) {
      const response = await call(role, '/users', { token })
      expect(response.status).toBe(503)
      expect(response.headers.get('retry-after')).toBe('1')
      const body = (await response.json()) as ApiError
      expect(body.apierror).toMatchObject({ status: 'SERVICE_UNAVAILABLE', message: 'Identity provider unavailable' })
    }
    // A request without a token is still told it needs one: nothing about the issuer is needed for that.
    expect((await call(role, '/users')).status).toBe(401)
    const warnings = log.lines.filter((line) => line['message'] === 'identity provider unreachable; answering 503')
    expect(warnings).toHaveLength(1)
    expect(log.text()).not.toContain(token)
    flaky.resume()
    expect((await call(role, '/users', { token })).status).toBe(200)
  })

  test('after the issuer could not be reached, answers 503 at once for the back-off instead of waiting on it', async () => {
    await using flaky = await startOidcIssuer()
    const token = await flaky.sign()
    await flaky.suspend()
    const { role } = await startRole({ issuer: flaky.issuer, unreachableBackoffMs: 3_600_000 })
    expect((await call(role, '/users', { token })).status).toBe(503)
    flaky.resume()
    const response = await call(role, '/users', { token })
    expect(response.status).toBe(503)
    expect(response.headers.get('retry-after')).toBe('3600')
    expect(flaky.fetches).toEqual({ discovery: 0, jwks: 0 })
  })

  test('answers 503 when the discovery document names another issuer', async () => {
    await using other = await startOidcIssuer()
    const { role } = await startRole({ issuer: `${other.issuer}/` })
    const token = await other.sign({ iss: `${other.issuer}/` })
    expect((await call(role, '/users', { token })).status).toBe(503)
  })
})

function now(): number {
  return Math.floor(Date.now() / 1000)
}

/** The classic algorithm confusion: the issuer's public key used as an HMAC secret. */
async function forgeWithPublicKey(): Promise<string> {
  const jwks = (await (await fetch(issuer.jwksUrl)).json()) as { keys: { n: string }[] }
  const secret = new TextEncoder().encode(jwks.keys[0]?.n ?? '')
  return new SignJWT({ iss: issuer.issuer, aud: testAudience, exp: now() + 3600, scope: 'usermgmt/read' })
    .setProtectedHeader({ alg: 'HS256' })
    .sign(secret)
}
