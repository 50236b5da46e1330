import type { FastifyInstance, FastifyServerOptions, InjectOptions, LightMyRequestResponse } from 'fastify'
import type { Test } from 'tap'
import { buildApp } from '../../src/app.ts'
import { type Config, loadConfig } from '../../src/config.ts'
import type { Role } from '../../src/roles.ts'
import { createTestDatabase, type TestDatabase } from './db.ts'
import { createFactories, type Factories, type Session } from './factories.ts'
import { checkResponsesAgainstOpenApi } from './openapi.ts'

export { PASSWORD, type Session, uniqueName } from './factories.ts'

export type TestApp = { app: FastifyInstance; db: TestDatabase; config: Config; factories: Factories }

/** The real app on its own cloned database, closed at teardown. */
export async function buildTestApp(
  t: Test,
  options: {
    env?: Record<string, string>
    enforceRolesInApi?: boolean
    db?: TestDatabase
    /** A logger to read in the test (default: none). */
    logger?: FastifyServerOptions['logger']
    /** What a 2xx body that does not match OpenAPI does (default: fails the test). */
    openApiMismatch?: (message: string) => void
  } = {},
): Promise<TestApp> {
  const db = options.db ?? (await createTestDatabase(t))
  const config = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    BCRYPT_COST: '10',
    DATABASE_URL: db.appUrl,
    DATABASE_POOL_SIZE: '10',
    PASSWORD_HASH_THREADS: '1',
    // The suite signs in and calls far more often than any client would; the limit tests set
    // their own values.
    RATE_LIMIT_PER_IP: '1000000',
    RATE_LIMIT_AUTH_PER_IP: '1000000',
    LOGIN_FAILURES_PER_ACCOUNT: '1000000',
    TENANTS_PER_IP_PER_DAY: '1000000',
    ...options.env,
  })
  const app = await buildApp({
    config,
    enforceRolesInApi: options.enforceRolesInApi ?? true,
    logger: options.logger ?? false,
  })
  checkResponsesAgainstOpenApi(t, app, options.openApiMismatch)
  t.teardown(() => app.close())
  const factories = await createFactories(t, app, db)
  factoriesByApp.set(app, factories)
  return { app, db, config, factories }
}

const factoriesByApp = new WeakMap<FastifyInstance, Factories>()

/** The factories of an app built by buildTestApp (its own database, its own JWT key). */
export function factoriesOf(app: FastifyInstance): Factories {
  const factories = factoriesByApp.get(app)
  if (!factories) throw new Error('this app was not built by buildTestApp')
  return factories
}

/**
 * Factories for an app a test built itself (e.g. over a cluster of its own), so registerTenant
 * and addMember work on it too. `rootUrl`: a superuser connection to that app's database.
 */
export async function attachFactories(t: Test, app: FastifyInstance, rootUrl: string): Promise<Factories> {
  const factories = await createFactories(t, app, { rootUrl } as TestDatabase)
  factoriesByApp.set(app, factories)
  return factories
}

/** A new tenant (free plan, slug `name`) with its owner, signed in. Shorthand for factories. */
export const registerTenant = (app: FastifyInstance, name?: string): Promise<Session> =>
  factoriesOf(app).tenant(name === undefined ? {} : { slug: name })

/** A new user who is a `role` in the session's tenant, signed in. Shorthand for factories. */
export const addMember = (app: FastifyInstance, admin: Session, role: Role, name?: string): Promise<Session> =>
  factoriesOf(app).member(admin.tenant, role, name)

/** An authenticated request as `session`. */
export function call(
  app: FastifyInstance,
  session: Pick<Session, 'accessToken'> | null,
  method: InjectOptions['method'],
  url: string,
  payload?: unknown,
): Promise<LightMyRequestResponse> {
  return app.inject({
    method,
    url,
    ...(payload === undefined ? {} : { payload: payload as InjectOptions['payload'] }),
    headers: session ? { authorization: `Bearer ${session.accessToken}` } : {},
  })
}
