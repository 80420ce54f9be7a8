// A real OpenID Connect issuer for tests: its own keys, a discovery document and a JWKS endpoint over HTTP.
import { randomUUID } from 'node:crypto'
import { type CryptoKey, exportJWK, generateKeyPair, type JWK, type JWTPayload, SignJWT } from 'jose'

export interface SigningKey {
  readonly kid: string
  readonly privateKey: CryptoKey
  readonly publicJwk: JWK
}

export interface SignOptions {
  /** The key to sign with. @default the issuer's current key */
  readonly key?: SigningKey
  /** Claims to leave out of the defaults (e.g. `aud` for a Cognito access token). */
  readonly omit?: readonly string[]
}

export interface OidcIssuer {
  /** http://127.0.0.1:<port>: the `iss` of its tokens. */
  readonly issuer: string
  readonly jwksUrl: string
  /** How often each document was fetched. */
  readonly fetches: { discovery: number; jwks: number }
  /** An access token with the defaults (aud usermgmt-api, both scopes, an hour to live) and these claims. */
  sign(claims?: JWTPayload, options?: SignOptions): Promise<string>
  /** A key the issuer does not publish. */
  newKey(): Promise<SigningKey>
  /** Publishes a new key and signs with it from now on; `keepOld` keeps the previous one published too. */
  rotate(options?: { keepOld?: boolean }): Promise<SigningKey>
  /** Closes the listening socket (connections are refused) until `resume`. */
  suspend(): Promise<void>
  /** Listens again on the same port. */
  resume(): void
  stop(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

export const testAudience = 'usermgmt-api'

export async function createSigningKey(): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true })
  const kid = randomUUID()
  return { kid, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' } }
}

/** An unsigned token (`alg: none`), as an attacker would forge one. */
export function unsignedToken(claims: JWTPayload): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
  return `${part({ alg: 'none', typ: 'JWT' })}.${part(claims)}.`
}

export async function startOidcIssuer(): Promise<OidcIssuer> {
  let current = await createSigningKey()
  let published: SigningKey[] = [current]
  const fetches = { discovery: 0, jwks: 0 }
  let issuer = ''
  const fetch = (request: Request): Response => {
    const path = new URL(request.url).pathname
    if (path === '/.well-known/openid-configuration') {
      fetches.discovery++
      return Response.json({
        issuer,
        jwks_uri: `${issuer}/jwks`,
        authorization_endpoint: `${issuer}/authorize`,
        token_endpoint: `${issuer}/token`,
        response_types_supported: ['code'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
      })
    }
    if (path === '/jwks') {
      fetches.jwks++
      return Response.json({ keys: published.map((key) => key.publicJwk) })
    }
    return new Response('not found', { status: 404 })
  }
  let server = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch })
  const port = server.port
  issuer = `http://127.0.0.1:${port}`
  const stop = async () => {
    await server.stop(true)
  }
  return {
    issuer,
    jwksUrl: `${issuer}/jwks`,
    fetches,
    async sign(claims = {}, options = {}) {
      const key = options.key ?? current
      const now = Math.floor(Date.now() / 1000)
      const payload: JWTPayload = {
        iss: issuer,
        aud: testAudience,
        sub: 'alice',
        iat: now,
        exp: now + 3600,
        scope: 'usermgmt/read usermgmt/write',
        ...claims,
      }
      for (const name of options.omit ?? []) delete payload[name]
      return new SignJWT(payload).setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'JWT' }).sign(key.privateKey)
    },
    newKey: createSigningKey,
    async rotate(options = {}) {
      current = await createSigningKey()
      published = options.keepOld ? [...published, current] : [current]
      return current
    },
    suspend: stop,
    resume() {
      server = Bun.serve({ port, hostname: '127.0.0.1', fetch })
    },
    stop,
    [Symbol.asyncDispose]: stop,
  }
}
