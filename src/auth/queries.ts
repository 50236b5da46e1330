import { sql } from 'slonik'
import { z } from 'zod'
import { NoColumns } from '../db/context.ts'
import { TenantSummary, User } from './schemas.ts'

// Row schemas at module scope: zod compiles a schema on its first parse.
const RegisteredRow = z.object({ user_id: z.uuid(), tenant_id: z.uuid() })
const LoginCandidateRow = z.object({ user_id: z.uuid(), password_hash: z.string() })
const OpenedSessionRow = z.object({ session_id: z.uuid(), tenant_id: z.uuid().nullable() })
const RotationRow = z.object({
  outcome: z.enum(['rotated', 'reused', 'invalid', 'suspended']),
  session_id: z.uuid().nullable(),
  user_id: z.uuid().nullable(),
  tenant_id: z.uuid().nullable(),
})
const CurrentUserRow = z.object({ user: User })
const CurrentUserAndTenantRow = z.object({ user: User, tenant: TenantSummary })
const PurgeRow = z.object({ ran: z.boolean(), sessions: z.number(), refresh_tokens: z.number() })

const seconds = (value: number) => sql.fragment`make_interval(secs => ${value})`

export const loginCandidate = (email: string) =>
  sql.type(LoginCandidateRow)`
    select user_id, password_hash from app_private.login_candidate(${email}::text)`

export const openSession = (userId: string, tenantSlug: string | null, refreshTokenHash: Buffer, ttlSeconds: number) =>
  sql.type(OpenedSessionRow)`
    select session_id, tenant_id from app_private.open_session(
      ${userId}::uuid, ${tenantSlug}::text, ${sql.binary(refreshTokenHash)}, ${seconds(ttlSeconds)}
    )`

export const rotateRefreshToken = (
  tokenHash: Buffer,
  newTokenHash: Buffer,
  lifetimes: { ttl: number; reuseInterval: number; sessionMaxAge: number },
) =>
  sql.type(RotationRow)`
    select outcome, session_id, user_id, tenant_id
    from app_private.rotate_refresh_token(
      ${sql.binary(tokenHash)}, ${sql.binary(newTokenHash)}, ${seconds(lifetimes.ttl)},
      ${seconds(lifetimes.reuseInterval)}, ${seconds(lifetimes.sessionMaxAge)}
    )`

export const purgeSessions = (sessionMaxAgeSeconds: number) =>
  sql.type(PurgeRow)`
    select ran, sessions, refresh_tokens from app_private.purge_sessions(${seconds(sessionMaxAgeSeconds)})`

/** The password hash of the current user (app.user_id), to confirm a destructive request. */
export const currentUserCredentials = () =>
  sql.type(LoginCandidateRow.extend({ email: z.string() }))`
    select c.user_id, c.password_hash, u.email
    from app_public.users u, app_private.login_candidate(u.email) c
    where u.id = app_public.current_user_id()`

export const deleteAccount = () => sql.type(NoColumns)`select from app_private.delete_account()`

export const revokeSession = (sessionId: string) =>
  sql.type(NoColumns)`select from app_private.revoke_session(${sessionId}::uuid)`

/** The current user, as RLS lets the request context see it (app_api.user_json, as /v1/me). */
export const currentUser = () =>
  sql.type(CurrentUserRow)`
    select app_api.user_json(u) as user from app_public.users u where u.id = app_public.current_user_id()`

/** The current user and tenant, as RLS lets the request context see them (as /v1/me shows them). */
export const currentUserAndTenant = () =>
  sql.type(CurrentUserAndTenantRow)`
    select app_api.user_json(u) as user, app_api.tenant_summary_json(t) as tenant
    from app_public.users u, app_public.tenants t
    where u.id = app_public.current_user_id() and t.id = app_public.current_tenant_id()`

/** After a successful authentication: true when the presented device token was kept, else the new one is stored. */
export const rememberDevice = (
  userId: string,
  presentedHash: Buffer | null,
  newHash: Buffer,
  lifetimeSeconds: number,
  keep: number,
) =>
  sql.type(z.object({ kept: z.boolean() }))`
    select app_private.remember_device(
      ${userId}::uuid, ${presentedHash === null ? null : sql.binary(presentedHash)}::bytea, ${sql.binary(newHash)},
      ${seconds(lifetimeSeconds)}, ${keep}::int
    ) as kept`

/** Whether a device token belongs to the account of this email (and is alive). */
export const deviceRecognised = (email: string, tokenHash: Buffer, lifetimeSeconds: number) =>
  sql.type(z.object({ recognised: z.boolean() }))`
    select app_private.device_recognised(${email}::text, ${sql.binary(tokenHash)}, ${seconds(lifetimeSeconds)}) as recognised`

// Mailed-token flows: each definer function makes its change and queues its mail in the caller's
// transaction. Tokens arrive hashed (SHA-256) and sealed (for the worker to put in the link).
type MailedToken = { hash: Buffer; sealed: string }

export const registerAccount = (
  input: { email: string; name: string; passwordHash: string; tenantName: string; tenantSlug: string },
  verification: MailedToken,
  quiet: boolean,
) =>
  sql.type(RegisteredRow)`
    select user_id, tenant_id from app_private.register_account(
      ${input.email}::text, ${input.name}::text, ${input.passwordHash}::text, ${input.tenantName}::text,
      ${input.tenantSlug}::text, ${sql.binary(verification.hash)}, ${verification.sealed}::text, ${quiet}::boolean
    )`

export const emailVerified = (userId: string) =>
  sql.type(z.object({ verified: z.boolean() }))`select app_private.email_verified(${userId}::uuid) as verified`

/** One job whatever the address: the worker looks it up (app_private.request_password_reset). */
export const queuePasswordReset = (email: string, token: MailedToken) =>
  sql.type(NoColumns)`
    select from app_private.queue_password_reset(${email}::text, ${sql.binary(token.hash)}, ${token.sealed}::text)`

export const resetPassword = (tokenHash: Buffer, passwordHash: string) =>
  sql.type(NoColumns)`select from app_private.reset_password(${sql.binary(tokenHash)}, ${passwordHash}::text)`

export const confirmEmail = (tokenHash: Buffer) =>
  sql.type(z.object({ outcome: z.enum(['verified', 'changed', 'cancelled', 'reverted']) }))`
    select app_private.confirm_email(${sql.binary(tokenHash)}) as outcome`

export const resendEmailVerification = (token: MailedToken) =>
  sql.type(NoColumns)`
    select from app_private.resend_email_verification(${sql.binary(token.hash)}, ${token.sealed}::text)`

export const changePassword = (passwordHash: string, keepSessionId: string) =>
  sql.type(NoColumns)`select from app_private.change_password(${passwordHash}::text, ${keepSessionId}::uuid)`

export const requestEmailChange = (email: string, confirm: MailedToken, cancel: MailedToken) =>
  sql.type(NoColumns)`
    select from app_private.request_email_change(
      ${email}::text, ${sql.binary(confirm.hash)}, ${confirm.sealed}::text, ${sql.binary(cancel.hash)}, ${cancel.sealed}::text
    )`

const ApiKeyForHashRow = z.object({ api_key_id: z.uuid(), tenant_id: z.uuid() })
/** The live API key with this hash (its id and tenant), for the authentication step only. */
export const apiKeyForHash = (keyHash: Buffer) =>
  sql.type(ApiKeyForHashRow)`
    select api_key_id, tenant_id from app_private.api_key_for_hash(${sql.binary(keyHash)})`
