// Who may call what: bearer JWTs from an OpenID Connect issuer for usermgmt, a shared service token for the
// notification role. The only importer of jose.
import { createHash, timingSafeEqual } from 'node:crypto'
import type { createRemoteJWKSet, errors, JWTPayload, JWTVerifyGetKey } from 'jose'
import { z } from 'zod'
import { type AuthConfig, isTrustedKeyUrl } from './config'
import { AppError } from './errors'
import type { Logger } from './logger'
import type { Secret } from './secret'

type Jose = typeof import('jose')
let jose: Promise<Jose> | undefined

/** jose is loaded when a token is first checked: a role running with AUTH_MODE=none never pays for it at start-up. */
function loadJose(): Promise<Jose> {
  jose ??= import('jose')
  return jose
}

/** What a route needs: reading users, or changing them. */
export type Permission = 'read' | 'write'

export interface Authorizer {
  /**
   * Resolves when the request carries a token that allows `permission`; otherwise throws an AppError: 401 (no
   * token, or one that does not verify), 403 (a valid token without the scope) or 503 (the issuer's keys cannot
   * be fetched).
   */
  authorize(request: Request, permission: Permission): Promise<void>
}

export interface JwtAuthorizerOptions {
  /** The `iss` every token must carry exactly (AUTH_JWT_ISSUER). */
  readonly issuer: string
  /** Accepted `aud` values; a token without `aud` is matched by its `client_id` (Cognito access tokens). */
  readonly audiences: readonly string[]
  /** AUTH_JWKS_URL. @default the jwks_uri of the issuer's OpenID discovery document */
  readonly jwksUrl?: string | undefined
  /** The scope (or group) each permission needs. */
  readonly scopes: Readonly<Record<Permission, string>>
  /** The realm WWW-Authenticate names. */
  readonly realm: string
  readonly log: Logger
  /** Deadline of each call to the issuer (discovery document, JWKS). @default 5000 */
  readonly timeoutMs?: number
  /** Least time between two JWKS fetches caused by tokens with an unknown key id. @default 30000 */
  readonly refetchCooldownMs?: number
  /** How long fetched keys are used before they are fetched again. @default 600000 */
  readonly keysMaxAgeMs?: number
  /** After the issuer could not be reached, requests that need it get 503 at once for this long. @default 5000 */
  readonly unreachableBackoffMs?: number
  /** Leeway for exp, nbf and iat, for clocks that disagree a little. @default 30 */
  readonly clockToleranceSeconds?: number
}

/** Asymmetric algorithms only: a JWKS never holds the secret an HMAC would need, and `none` is never accepted. */
const algorithms = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA']

// RFC 6750 b64token, after the scheme.
const bearerPattern = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i
const bearerScheme = /^Bearer(?: |$)/i

type Credentials =
  | { readonly kind: 'none' }
  | { readonly kind: 'malformed' }
  | { readonly kind: 'bearer'; token: string }

/** The bearer token of a request, telling apart "none sent" (or another scheme) from "sent but malformed". */
function credentialsOf(request: Request): Credentials {
  const header = request.headers.get('authorization')
  if (header === null || !bearerScheme.test(header)) return { kind: 'none' }
  const token = bearerPattern.exec(header)?.[1]
  return token === undefined ? { kind: 'malformed' } : { kind: 'bearer', token }
}

function unauthenticated(realm: string, description?: string): AppError {
  if (description === undefined) {
    return new AppError('unauthenticated', 'Authentication required', {
      debugMessage: 'Send an access token as Authorization: Bearer <token>',
      headers: { 'www-authenticate': `Bearer realm="${realm}"` },
    })
  }
  return new AppError('unauthenticated', 'Invalid bearer token', {
    debugMessage: description,
    headers: {
      'www-authenticate': `Bearer realm="${realm}", error="invalid_token", error_description="${description}"`,
    },
  })
}

/** Why a token was refused, in words safe to send back (fixed texts; nothing from the token itself). */
function describeRejection(error: unknown, { errors: e }: { errors: typeof errors }): string {
  if (error instanceof e.JWTExpired) return 'The token has expired'
  if (error instanceof e.JWTClaimValidationFailed) {
    const claim = /^[a-z_:]{1,20}$/i.test(error.claim) ? error.claim : 'a'
    return `The token's ${claim} claim is not accepted`
  }
  if (error instanceof e.JOSEAlgNotAllowed) return 'The token is signed with an algorithm that is not accepted'
  if (error instanceof e.JWKSNoMatchingKey) return 'The token is signed with a key the issuer does not publish'
  if (error instanceof e.JWSSignatureVerificationFailed) return 'The token signature does not verify'
  return 'The token is malformed'
}

/** Everything a token grants: its scopes (`scope` or `scp`) and its groups (`cognito:groups`, `groups`). */
export function grantsOf(payload: JWTPayload): Set<string> {
  const grants = new Set<string>()
  const add = (value: unknown) => {
    if (typeof value === 'string') {
      for (const word of value.split(' ')) if (word !== '') grants.add(word)
    } else if (Array.isArray(value)) {
      for (const item of value) if (typeof item === 'string' && item !== '') grants.add(item)
    }
  }
  add(payload['scope'])
  add(payload['scp'])
  // Group names may hold spaces, so each array item is one group, never split.
  for (const claim of ['cognito:groups', 'groups']) {
    const groups = payload[claim]
    if (Array.isArray(groups)) for (const group of groups) if (typeof group === 'string') grants.add(group)
  }
  return grants
}

/** The audience check: `aud` when the token has one, else Cognito's `client_id` (its access tokens have no `aud`). */
function audienceMatches(payload: JWTPayload, audiences: readonly string[]): boolean {
  const aud = payload.aud
  if (aud !== undefined) return (Array.isArray(aud) ? aud : [aud]).some((value) => audiences.includes(value))
  const clientId = payload['client_id']
  return typeof clientId === 'string' && audiences.includes(clientId)
}

/** ID tokens (Cognito's token_use "id", Keycloak's typ "ID") identify a person to a client; they are no API key. */
function isAccessToken(payload: JWTPayload): boolean {
  const tokenUse = payload['token_use']
  const typ = payload['typ']
  return (tokenUse === undefined || tokenUse === 'access') && (typ === undefined || typ === 'Bearer')
}

const discoveryDocument = z.object({ issuer: z.string(), jwks_uri: z.url() })

class IssuerUnreachable extends Error {
  override readonly name = 'IssuerUnreachable'
}

/** A JWKS fetch that failed (timeout, refused, not 200, not a key set), as opposed to a token without a key. */
function isFetchFailure(error: unknown, { errors: e }: { errors: typeof errors }): boolean {
  if (error instanceof e.JWKSTimeout || error instanceof e.JWKSInvalid) return true
  if (error instanceof e.JOSEError) return error.code === 'ERR_JOSE_GENERIC'
  return true
}

/** Verifies bearer JWTs against an OpenID Connect issuer's published keys, and checks scopes and groups. */
export function createJwtAuthorizer(options: JwtAuthorizerOptions): Authorizer {
  const { issuer, audiences, scopes, realm, log } = options
  const timeoutMs = options.timeoutMs ?? 5000
  const backoffMs = options.unreachableBackoffMs ?? 5000
  const clockTolerance = options.clockToleranceSeconds ?? 30
  let keys: ReturnType<typeof createRemoteJWKSet> | undefined
  let discovering: Promise<ReturnType<typeof createRemoteJWKSet>> | undefined
  let unreachableUntil = 0
  let lastWarning = 0
  let suppressed = 0

  const keySetAt = async (url: string) =>
    (await loadJose()).createRemoteJWKSet(new URL(url), {
      timeoutDuration: timeoutMs,
      cooldownDuration: options.refetchCooldownMs ?? 30_000,
      cacheMaxAge: options.keysMaxAgeMs ?? 600_000,
    })

  async function discover(): Promise<ReturnType<typeof createRemoteJWKSet>> {
    if (options.jwksUrl !== undefined) return keySetAt(options.jwksUrl)
    const url = `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`
    const response = await fetch(url, {
      signal: AbortSignal.timeout(timeoutMs),
      redirect: 'manual',
      headers: { accept: 'application/json' },
    })
    if (response.status !== 200) {
      await response.body?.cancel()
      throw new IssuerUnreachable(`the discovery document answered ${response.status}`)
    }
    const document = discoveryDocument.safeParse(await response.json())
    if (!document.success) throw new IssuerUnreachable('the discovery document has no valid issuer and jwks_uri')
    // OpenID Connect Discovery 1.0, 4.3: the document must name the very issuer it was fetched for.
    if (document.data.issuer !== issuer) {
      throw new IssuerUnreachable(`the discovery document names another issuer (${document.data.issuer})`)
    }
    if (!isTrustedKeyUrl(document.data.jwks_uri)) throw new IssuerUnreachable('the jwks_uri is not an https URL')
    return keySetAt(document.data.jwks_uri)
  }

  function unreachable(cause: unknown): AppError {
    const now = Date.now()
    unreachableUntil = now + backoffMs
    // One line a minute at most: an outage must not flood the log with a line per request.
    if (now - lastWarning >= 60_000) {
      log.warn('identity provider unreachable; answering 503', { issuer, suppressed, error: cause })
      lastWarning = now
      suppressed = 0
    } else {
      suppressed++
    }
    return unavailable()
  }

  const unavailable = () =>
    new AppError('upstream_unavailable', 'Identity provider unavailable', {
      debugMessage: 'The keys to verify the token could not be fetched from the issuer',
      headers: { 'retry-after': String(Math.max(1, Math.ceil(backoffMs / 1000))) },
    })

  async function keySet(): Promise<ReturnType<typeof createRemoteJWKSet>> {
    if (keys !== undefined) return keys
    if (Date.now() < unreachableUntil) throw unavailable()
    discovering ??= discover().finally(() => {
      discovering = undefined
    })
    try {
      keys = await discovering
      return keys
    } catch (error) {
      throw unreachable(error)
    }
  }

  const getKey: JWTVerifyGetKey = async (header, token) => {
    const set = await keySet()
    // Keys too old to use mean a fetch; while the issuer is known to be down, fail fast instead of waiting.
    if (!set.fresh && Date.now() < unreachableUntil) throw unavailable()
    try {
      return await set(header, token)
    } catch (error) {
      throw isFetchFailure(error, await loadJose()) ? unreachable(error) : error
    }
  }

  return {
    async authorize(request, permission) {
      const credentials = credentialsOf(request)
      if (credentials.kind === 'none') throw unauthenticated(realm)
      if (credentials.kind === 'malformed') throw unauthenticated(realm, 'The token is malformed')
      const library = await loadJose()
      let payload: JWTPayload
      try {
        ;({ payload } = await library.jwtVerify(credentials.token, getKey, {
          issuer,
          algorithms,
          clockTolerance,
          requiredClaims: ['exp'],
        }))
      } catch (error) {
        if (error instanceof AppError) throw error
        throw unauthenticated(realm, describeRejection(error, library))
      }
      if (!audienceMatches(payload, audiences)) throw unauthenticated(realm, "The token's aud claim is not accepted")
      if (!isAccessToken(payload)) throw unauthenticated(realm, 'The token is not an access token')
      const scope = scopes[permission]
      if (!grantsOf(payload).has(scope)) {
        throw new AppError('forbidden', 'Insufficient scope', {
          debugMessage: `This needs the scope or group ${scope}`,
          headers: {
            'www-authenticate': `Bearer realm="${realm}", error="insufficient_scope", scope="${scope}"`,
          },
        })
      }
    },
  }
}

/** The authorizer AUTH_MODE asks for: none for `none` (every route open, as the course runs it). */
export function authorizerFromConfig(config: AuthConfig, log: Logger): Authorizer | undefined {
  if (config.mode === 'none') return undefined
  return createJwtAuthorizer({
    issuer: config.issuer,
    audiences: config.audiences,
    jwksUrl: config.jwksUrl,
    scopes: { read: config.readScope, write: config.writeScope },
    realm: 'usermgmt',
    log,
  })
}

/** A check for the one token callers of an internal endpoint must present. */
export type ServiceTokenCheck = (context: { readonly request: Request }) => void

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest()
}

/**
 * Accepts only `Authorization: Bearer <token>`. Compared as SHA-256 digests with timingSafeEqual, so neither
 * the time taken nor the length tells a caller how close a guess came.
 */
export function createServiceTokenCheck(token: Secret, realm: string): ServiceTokenCheck {
  const expected = digest(token.reveal())
  return function requireServiceToken({ request }) {
    const credentials = credentialsOf(request)
    if (credentials.kind === 'none') throw unauthenticated(realm)
    const presented = digest(credentials.kind === 'bearer' ? credentials.token : '')
    if (credentials.kind !== 'bearer' || !timingSafeEqual(presented, expected)) {
      throw unauthenticated(realm, 'The service token is not accepted')
    }
  }
}
