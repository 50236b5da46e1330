import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify'
import type { Test } from 'tap'
import { buildApp } from '../../src/app.ts'
import { type Config, loadConfig } from '../../src/config.ts'
import { createTestDatabase, type TestDatabase } from './db.ts'

export type TestApp = { app: FastifyInstance; db: TestDatabase; config: Config }

/** The real app on its own cloned database, closed at teardown. */
export async function buildTestApp(
  t: Test,
  options: { env?: Record<string, string>; enforceRolesInApi?: boolean; db?: TestDatabase } = {},
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
    ...options.env,
  })
  const app = await buildApp({ config, enforceRolesInApi: options.enforceRolesInApi ?? true, logger: false })
  t.teardown(() => app.close())
  return { app, db, config }
}

export type Session = {
  user: { id: string; email: string; name: string }
  tenant: { id: string; slug: string; name: string; plan: string }
  role: string
  accessToken: string
  refreshToken: string
}

let counter = 0
const unique = (prefix: string) => `${prefix}-${process.pid}-${++counter}`

export const PASSWORD = 'correct horse battery'

/** Registers a user with their own tenant (they are its owner). */
export async function registerTenant(app: FastifyInstance, name = unique('t')): Promise<Session> {
  const res = await app.inject({
    method: 'POST',
    url: '/v1/auth/register',
    payload: {
      email: `${name}-owner@example.com`,
      password: PASSWORD,
      name: `Owner of ${name}`,
      tenant: { name, slug: name },
    },
  })
  if (res.statusCode !== 201) throw new Error(`register failed: ${res.statusCode} ${res.body}`)
  return res.json()
}

/** Invites a new user with `role` into the session's tenant and accepts; returns their session. */
export async function addMember(
  app: FastifyInstance,
  admin: Session,
  role: string,
  name = unique('m'),
): Promise<Session> {
  const invite = await call(app, admin, 'POST', '/v1/invitations', { email: `${name}@example.com`, role })
  if (invite.statusCode !== 201) throw new Error(`invite failed: ${invite.statusCode} ${invite.body}`)
  const accept = await app.inject({
    method: 'POST',
    url: '/v1/invitations/accept',
    payload: { token: invite.json().token, name, password: PASSWORD },
  })
  if (accept.statusCode !== 200) throw new Error(`accept failed: ${accept.statusCode} ${accept.body}`)
  return accept.json()
}

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
