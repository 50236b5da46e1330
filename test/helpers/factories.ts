import type { FastifyInstance } from 'fastify'
import pg from 'pg'
import type { Test } from 'tap'
import { opaqueToken } from '../../src/auth/tokens.ts'
import type { Role } from '../../src/roles.ts'
import type { TestDatabase } from './db.ts'

export const PASSWORD = 'correct horse battery'

export type Session = {
  user: { id: string; email: string; name: string }
  tenant: { id: string; slug: string; name: string; plan: string }
  role: string
  accessToken: string
  refreshToken: string
}
export type TenantRef = Session['tenant']
export type UserRef = Session['user']

/**
 * The one way tests make data. Tenants, users and memberships are written as the superuser in
 * SQL, and sessions
 * opened with the real `app_private.open_session` and signed with the app's own JWT key. An
 * invite + accept costs a bcrypt hash (~100 ms); this costs a few milliseconds, so a test can
 * afford a fresh caller and a fresh target for every request. Every user can still log in with
 * PASSWORD (one bcrypt hash, computed once per file and shared). Triggers run as usual: member
 * limits apply and USER_JOINED activities are written.
 */
export type Factories = {
  /** Superuser connections to this test's database (they bypass RLS: for setup and audits only). */
  root: pg.Pool
  /** A new tenant on `plan` (default free) with its owner, signed in. */
  tenant(options?: { plan?: 'free' | 'pro' | 'enterprise'; slug?: string }): Promise<Session>
  /** A new user who is a `role` in `tenant`, signed in. */
  member(tenant: TenantRef, role: Role, name?: string): Promise<Session>
  /** An existing user joins another tenant (no session). */
  join(user: UserRef, tenant: TenantRef, role: Role): Promise<void>
  /** A new session (refresh-token family) and access token for a member of `tenant`. */
  signIn(user: UserRef, tenant: TenantRef): Promise<Session>
}

let counter = 0
/** Unique across the whole run: files run in parallel processes, so the pid is part of it. */
export const uniqueName = (prefix: string) => `${prefix}-${process.pid}-${++counter}`

export async function createFactories(t: Test, app: FastifyInstance, db: TestDatabase): Promise<Factories> {
  const root = new pg.Pool({ connectionString: db.rootUrl, max: 4 })
  root.on('error', () => {}) // an idle connection ended by the database's drop at teardown
  t.teardown(() => root.end())
  let passwordHash: Promise<string> | undefined
  const hashOnce = () => (passwordHash ??= app.passwords.hash(PASSWORD))

  const createUser = async (name: string): Promise<UserRef> => {
    const email = `${name}@example.com`
    const { rows } = await root.query<{ id: string }>(
      'insert into app_public.users (email, name) values ($1, $2) returning id',
      [email, name],
    )
    const id = rows[0]!.id
    await root.query('insert into app_private.user_secrets (user_id, password_hash) values ($1, $2)', [
      id,
      await hashOnce(),
    ])
    return { id, email, name }
  }

  const join: Factories['join'] = async (user, tenant, role) => {
    await root.query('insert into app_public.memberships (tenant_id, user_id, role) values ($1, $2, $3)', [
      tenant.id,
      user.id,
      role,
    ])
  }

  const signIn: Factories['signIn'] = async (user, tenant) => {
    const refresh = opaqueToken()
    const opened = await root.query<{ session_id: string; role: Role }>(
      `select s.session_id, m.role
       from app_private.open_session($1::uuid, $2::text, $3::bytea, make_interval(secs => $4)) s
       join app_public.memberships m on m.tenant_id = s.tenant_id and m.user_id = $1::uuid`,
      [user.id, tenant.slug, refresh.hash, app.config.REFRESH_TOKEN_TTL],
    )
    const { session_id: sid, role } = opened.rows[0]!
    const accessToken = app.jwt.sign({ sub: user.id, tenant_id: tenant.id, role, sid })
    return { user, tenant, role, accessToken, refreshToken: refresh.token }
  }

  return {
    root,
    async tenant(options = {}) {
      const slug = options.slug ?? uniqueName('t')
      const { rows } = await root.query<TenantRef>(
        'insert into app_public.tenants (slug, name, plan) values ($1, $2, $3) returning id, slug, name, plan',
        [slug, `Tenant ${slug}`, options.plan ?? 'free'],
      )
      const tenant = rows[0]!
      const owner = await createUser(`${slug}-owner`)
      await join(owner, tenant, 'owner')
      return signIn(owner, tenant)
    },
    async member(tenant, role, name = uniqueName(role)) {
      const user = await createUser(name)
      await join(user, tenant, role)
      return signIn(user, tenant)
    },
    join,
    signIn,
  }
}
