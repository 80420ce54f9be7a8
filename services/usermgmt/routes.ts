import { Elysia } from 'elysia'
import {
  AppError,
  type Authorizer,
  answersAtOnce,
  empty,
  json,
  type Permission,
  type RouteRateLimit,
  readJson,
  text,
  validateBody,
  validateParam,
} from '../platform'
import type { UsermgmtDatabase } from './db'
import { databaseUnavailable } from './db-errors'
import type { NotificationClient } from './notification-client'
import type { OutboxDeliverer } from './outbox'
import { accountCreatedMail, isValidPassword, newUser, usernameParam, userUpdate } from './schemas'
import { activateUser, createUser, deleteUser, getUser, listUsers, toggleUserStatus, updateUser } from './users'

export interface SchemaState {
  /** True once migrations have run; until then the database endpoints answer 503. */
  readonly ready: boolean
  readonly lastError: string | undefined
}

export interface UsermgmtRouteDeps {
  readonly database: UsermgmtDatabase
  readonly notifications: NotificationClient
  readonly schema: () => SchemaState
  readonly outbox: () => OutboxDeliverer | undefined
  /** Whether the role can serve now (see readiness.ts); the endpoint says only UP or DOWN. */
  readonly ready: () => Promise<boolean>
  /** The trace header to store with an outbox entry, so the later mail continues this request's trace. */
  readonly traceHeaderOf?: () => string | undefined
  /** Checks bearer tokens (AUTH_MODE=jwt). @default none: every route is open, as the course runs it */
  readonly authorizer?: Authorizer
  /** Limits account creation per client address. @default no limit */
  readonly accountLimit?: RouteRateLimit
}

/**
 * What each route needs with AUTH_MODE=jwt (docs/security.md lists the same). A route missing here needs the
 * write permission, so a new route is closed until someone decides otherwise.
 */
export const routeAccess: Readonly<Record<string, Permission | 'open'>> = {
  'GET /usermgmt/health-status': 'open',
  'GET /usermgmt/health/status': 'open',
  'GET /usermgmt/health/readiness': 'open',
  'GET /usermgmt/notification-health-status': 'read',
  'GET /usermgmt/notification-service-info': 'read',
  'GET /usermgmt/notification-xray': 'read',
  'GET /usermgmt/users': 'read',
  'GET /usermgmt/user/:username': 'read',
  'POST /usermgmt/user': 'write',
  'PUT /usermgmt/user': 'write',
  'DELETE /usermgmt/user/:username': 'write',
  'GET /usermgmt/status/:username': 'write',
  'GET /usermgmt/user/activate/:username': 'write',
}

const healthText = 'User Management Service UP and RUNNING - V1'

/** Never traced: the ALB and the kubelet poll these every few seconds; traced, they flood the map and cost money. */
export const neverTracedPaths: readonly string[] = ['/usermgmt/health*']

export function createUsermgmtRoutes(deps: UsermgmtRouteDeps) {
  const { database, notifications } = deps
  const db = database.db
  const param = (value: string | undefined) => validateParam(usernameParam, value, 'username')

  const requireSchema = () => {
    const state = deps.schema()
    if (!state.ready) {
      throw databaseUnavailable({ debugMessage: 'The schema is not migrated yet' })
    }
  }

  const data = new Elysia({ name: 'usermgmt-data' })
    .onBeforeHandle({ as: 'local' }, function requireMigratedSchema() {
      requireSchema()
    })
    .get('/users', async () => json(await listUsers(db)))
    .get('/user/:username', async ({ params }) => json(await getUser(db, param(params.username))))
    .post(
      '/user',
      async ({ request }) => {
        const user = validateBody(newUser, await readJson(request), 'user')
        if (!isValidPassword(user.password)) throw new AppError('invalid', 'User Password is invalid')
        await createUser(db, user, accountCreatedMail(user), { traceHeader: deps.traceHeaderOf?.() })
        deps.outbox()?.kick()
        return empty()
      },
      deps.accountLimit ?? {},
    )
    .put('/user', async ({ request }) => {
      await updateUser(db, validateBody(userUpdate, await readJson(request), 'user'))
      return empty()
    })
    .delete('/user/:username', async ({ params }) => {
      await deleteUser(db, param(params.username))
      return empty()
    })
    .get('/status/:username', async ({ params }) => {
      await toggleUserStatus(db, param(params.username))
      return empty()
    })
    .get('/user/activate/:username', async ({ params }) => {
      await activateUser(db, param(params.username))
      return empty()
    })

  const { authorizer } = deps
  const routes = new Elysia({ name: 'usermgmt', prefix: '/usermgmt' })
  // Registered first, so that a caller without a token learns nothing, not even whether the database is up.
  if (authorizer) {
    routes.onBeforeHandle({ as: 'local' }, async function requireBearerToken({ request, route }) {
      // Elysia answers HEAD with the GET route, so HEAD needs what GET needs.
      const method = request.method === 'HEAD' ? 'GET' : request.method
      const access = routeAccess[`${method} ${route}`] ?? 'write'
      if (access !== 'open') await authorizer.authorize(request, access)
    })
  }
  return routes
    .get(
      '/health-status',
      answersAtOnce(() => text(healthText)),
    )
    .get(
      '/health/status',
      answersAtOnce(() => text('OK')),
    )
    .get('/health/readiness', async () => {
      const up = await deps.ready()
      return json({ status: up ? 'UP' : 'DOWN' }, { status: up ? 200 : 503 })
    })
    .get('/notification-health-status', async () => text(await notifications.healthStatus()))
    .get('/notification-service-info', async () => text(await notifications.info()))
    .get('/notification-xray', async () => json(await notifications.xray()))
    .use(data)
}
