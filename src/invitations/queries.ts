import { sql } from 'slonik'
import { z } from 'zod'
import { Invitation } from './schemas.ts'

// Row schemas at module scope: zod compiles a schema on its first parse.
const RevokedRow = z.object({ id: z.uuid() })
const InvitationForTokenRow = z.object({
  invitation_id: z.uuid(),
  tenant_id: z.uuid(),
  email: z.string(),
  existing_user_id: z.uuid().nullable(),
  existing_password_hash: z.string().nullable(),
})
const AcceptedRow = z.object({ session_id: z.uuid(), tenant_id: z.uuid(), user_id: z.uuid() })

// Reads are app_api.list_invitations and app_api.get_invitation (one statement each).

/** The response schema is the row schema: columns are aliased to its names. */
export const createInvitation = (input: { email: string; role: string; ttlSeconds: number }) =>
  sql.type(Invitation)`
    insert into app_public.invitations (email, role, expires_at)
    values (${input.email}, ${input.role}, now() + make_interval(secs => ${input.ttlSeconds}))
    returning id, email, role, expires_at as "expiresAt", created_at as "createdAt", invited_by as "invitedBy"`

/** A new token for a pending invitation of the current tenant, mailed to the invitee (create and resend). */
export const mailInvitation = (id: string, token: { hash: Buffer; sealed: string }) =>
  sql.type(z.object({ mailed: z.boolean() }))`
    select app_private.mail_invitation(${id}::uuid, ${sql.binary(token.hash)}, ${token.sealed}::text) as mailed`

export const revokeInvitation = (id: string) =>
  sql.type(RevokedRow)`
    update app_public.invitations set revoked_at = now()
    where id = ${id}::uuid
      and accepted_at is null and revoked_at is null and expires_at > now()
    returning id`

export const invitationForToken = (tokenHash: Buffer) =>
  sql.type(InvitationForTokenRow)`select * from app_private.invitation_for_token(${sql.binary(tokenHash)})`

export const acceptInvitation = (input: {
  tokenHash: Buffer
  existingUserId: string | null
  newUserName: string | null
  newUserPasswordHash: string | null
  refreshTokenHash: Buffer
  refreshTtlSeconds: number
}) =>
  sql.type(AcceptedRow)`
    select session_id, tenant_id, user_id from app_private.accept_invitation(
      ${sql.binary(input.tokenHash)}, ${input.existingUserId}::uuid, ${input.newUserName}::text,
      ${input.newUserPasswordHash}::text, ${sql.binary(input.refreshTokenHash)}, make_interval(secs => ${input.refreshTtlSeconds})
    )`
