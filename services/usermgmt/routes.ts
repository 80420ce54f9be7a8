import { Elysia } from 'elysia'
import { AppError, empty, json, readJson, text, validateBody, validateParam } from '../platform'
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
}

const healthText = 'User Management Service UP and RUNNING - V1'

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
    .post('/user', async ({ request }) => {
      const user = validateBody(newUser, await readJson(request), 'user')
      if (!isValidPassword(user.password)) throw new AppError('invalid', 'User Password is invalid')
      await createUser(db, user, accountCreatedMail(user), { traceHeader: deps.traceHeaderOf?.() })
      deps.outbox()?.kick()
      return empty()
    })
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

  return new Elysia({ name: 'usermgmt', prefix: '/usermgmt' })
    .get('/health-status', () => text(healthText))
    .get('/health/status', () => text('OK'))
    .get('/health/readiness', async () => {
      const up = await deps.ready()
      return json({ status: up ? 'UP' : 'DOWN' }, { status: up ? 200 : 503 })
    })
    .get('/notification-health-status', async () => text(await notifications.healthStatus()))
    .get('/notification-service-info', async () => text(await notifications.info()))
    .get('/notification-xray', async () => json(await notifications.xray()))
    .use(data)
}
