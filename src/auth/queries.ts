import { sql } from 'slonik'
import { z } from 'zod'
import { NoColumns, Role } from '../db/context.ts'
import { TenantSummary, User } from './schemas.ts'

// Row schemas at module scope: zod compiles a schema on its first parse.
const RegisteredRow = z.object({ user_id: z.uuid(), tenant_id: z.uuid() })
const LoginCandidateRow = z.object({ user_id: z.uuid(), password_hash: z.string() })
const OpenedSessionRow = z.object({ session_id: z.uuid(), tenant_id: z.uuid() })
const RotationRow = z.object({
  outcome: z.enum(['rotated', 'reused', 'invalid', 'suspended']),
  session_id: z.uuid().nullable(),
  user_id: z.uuid().nullable(),
  tenant_id: z.uuid().nullable(),
})
const CurrentUserAndTenantRow = z.object({ user: User, tenant: TenantSummary })
const MembershipRow = z.object({ tenant: TenantSummary, role: Role })

const seconds = (value: number) => sql.fragment`make_interval(secs => ${value})`

export const register = (input: {
  email: string
  name: string
  passwordHash: string
  tenantName: string
  tenantSlug: string
}) =>
  sql.type(RegisteredRow)`
    select user_id, tenant_id from app_private.register(
      ${input.email}::text, ${input.name}::text, ${input.passwordHash}::text, ${input.tenantName}::text, ${input.tenantSlug}::text
    )`

export const loginCandidate = (email: string) =>
  sql.type(LoginCandidateRow)`
    select user_id, password_hash from app_private.login_candidate(${email}::text)`

export const openSession = (userId: string, tenantSlug: string | null, refreshTokenHash: Buffer, ttlSeconds: number) =>
  sql.type(OpenedSessionRow)`
    select session_id, tenant_id from app_private.open_session(
      ${userId}::uuid, ${tenantSlug}::text, ${sql.binary(refreshTokenHash)}, ${seconds(ttlSeconds)}
    )`

export const rotateRefreshToken = (tokenHash: Buffer, newTokenHash: Buffer, ttlSeconds: number) =>
  sql.type(RotationRow)`
    select outcome, session_id, user_id, tenant_id
    from app_private.rotate_refresh_token(${sql.binary(tokenHash)}, ${sql.binary(newTokenHash)}, ${seconds(ttlSeconds)})`

export const revokeSession = (sessionId: string) =>
  sql.type(NoColumns)`select from app_private.revoke_session(${sessionId}::uuid)`

/** The current user and tenant, as RLS lets the request context see them. */
export const currentUserAndTenant = () =>
  sql.type(CurrentUserAndTenantRow)`
    select json_build_object('id', u.id, 'email', u.email, 'name', u.name) as user,
           json_build_object('id', t.id, 'slug', t.slug, 'name', t.name, 'plan', t.plan) as tenant
    from app_public.users u, app_public.tenants t
    where u.id = app_public.current_user_id() and t.id = app_public.current_tenant_id()`

export const myMemberships = () =>
  sql.type(MembershipRow)`
    select json_build_object('id', t.id, 'slug', t.slug, 'name', t.name, 'plan', t.plan) as tenant, m.role
    from app_public.memberships m
    join app_public.tenants t on t.id = m.tenant_id
    where m.user_id = app_public.current_user_id()
    order by m.created_at, m.tenant_id`
