import { type DatabasePool, type DatabaseTransactionConnection, sql } from 'slonik'
import { z } from 'zod'
import { forbidden } from '../problems.ts'
import { Role, roleAtLeast } from '../roles.ts'

/** Row schema of statements whose rows carry no columns (`select from ...`): only their count matters. */
export const NoColumns = z.object({})

export type RequestIdentity = { userId: string; tenantId: string; sessionId: string }
/** A verified access token: a tenantless one (a user who belongs to no tenant) has no tenantId. */
export type TokenIdentity = Omit<RequestIdentity, 'tenantId'> & { tenantId: string | null }
/** A verified API key (src/api-keys/): a tenant's machine client, with no user and no session. */
export type KeyIdentity = { apiKeyId: string; tenantId: string }
/** Who a tenant request runs as: a user's session or an API key. */
export type TenantCaller = RequestIdentity | KeyIdentity
export type Tx = DatabaseTransactionConnection
export type TenantContext = TenantCaller & { role: Role }

export const isApiKey = (identity: TenantCaller | TokenIdentity): identity is KeyIdentity => 'apiKeyId' in identity

/*
 * One round trip: verifies the session and membership, refuses suspended tenants (raising
 * TN401 / TNSUS), and sets app.tenant_id, app.user_id and app.role for this transaction only.
 * Prepared once per connection.
 */
const RoleRow = z.object({ role: Role })
const beginRequest = (identity: RequestIdentity) =>
  sql.prepared('tenantry_begin_request', RoleRow)`
    select app_private.begin_request(${identity.tenantId}::uuid, ${identity.userId}::uuid, ${identity.sessionId}::uuid) as role
  `
/* The same for an API key: its tenant, role, revocation and expiry are read now (begin_key_request). */
const beginKeyRequest = (identity: KeyIdentity) =>
  sql.prepared('tenantry_begin_key_request', RoleRow)`
    select app_private.begin_key_request(${identity.tenantId}::uuid, ${identity.apiKeyId}::uuid) as role
  `

/** The context statement on its own, for auth flows that open a session mid-transaction. */
export const setRequestContext = (tx: Tx, identity: TenantCaller): Promise<Role> =>
  tx.oneFirst(isApiKey(identity) ? beginKeyRequest(identity) : beginRequest(identity))

/**
 * Runs `handler` inside one transaction whose first statement sets the request context. The
 * settings die with the transaction; any error rolls everything back. When `minimumRole` is
 * given and the member's current role (from the database, not the token) is below it, the
 * request is refused before the handler runs.
 */
export async function withTenantContext<T extends TenantCaller, R>(
  pool: DatabasePool,
  identity: T,
  minimumRole: Role | null,
  handler: (tx: Tx, context: T & { role: Role }) => Promise<R>,
): Promise<R> {
  return pool.transaction(async (tx) => {
    const role = await setRequestContext(tx, identity)
    if (minimumRole && !roleAtLeast(role, minimumRole)) {
      throw forbidden(
        `this requires the ${minimumRole} role or higher; you are ${role === 'admin' ? 'an' : 'a'} ${role}`,
      )
    }
    return handler(tx, { ...identity, role })
  })
}

/**
 * For routes that need a signed-in user but no tenant: one transaction whose first statement
 * checks the session is live and sets app.user_id only, so tenant policies match nothing.
 */
export async function withUserContext<T>(
  pool: DatabasePool,
  identity: TokenIdentity,
  handler: (tx: Tx, context: TokenIdentity) => Promise<T>,
): Promise<T> {
  return pool.transaction(async (tx) => {
    await setUserContext(tx, identity)
    return handler(tx, identity)
  })
}

/** The user-level context statement on its own, for auth flows that open a session mid-transaction. */
export const setUserContext = async (tx: Tx, identity: TokenIdentity): Promise<void> => {
  await tx.query(beginUserRequest(identity))
}

const beginUserRequest = (identity: TokenIdentity) =>
  sql.prepared('tenantry_begin_user_request', NoColumns)`
    select from app_private.begin_user_request(${identity.userId}::uuid, ${identity.sessionId}::uuid)
  `
