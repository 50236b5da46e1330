import { sql } from 'slonik'
import { z } from 'zod'
import { NoColumns } from '../db/context.ts'
import { Plan } from '../tenant/schemas.ts'
import { PLATFORM_ACTIONS } from './schemas.ts'

// Every statement here calls one app_private.admin_* function: tenantry_app has no table access
// across tenants, and each platform action is audited inside the function that performs it.

const TenantRow = z.object({
  id: z.uuid(),
  slug: z.string(),
  name: z.string(),
  plan: Plan,
  member_count: z.number(),
  item_count: z.number(),
  suspended_at: z.string().nullable(),
  created_at: z.string(),
})
type TenantRow = z.infer<typeof TenantRow>

export const toAdminTenant = (row: TenantRow) => ({
  id: row.id,
  slug: row.slug,
  name: row.name,
  plan: row.plan,
  memberCount: row.member_count,
  itemCount: row.item_count,
  suspendedAt: row.suspended_at,
  createdAt: row.created_at,
})
export const tenantCursor = (row: TenantRow) => [row.slug] as const

export const listTenants = (slugPrefix: string | null, afterSlug: string | null, limit: number) =>
  sql.type(TenantRow)`
    select * from app_private.admin_list_tenants(${slugPrefix}::text, ${afterSlug}::text, ${limit + 1}::int)`

export const tenantById = (id: string) =>
  sql.type(TenantRow)`select * from app_private.admin_list_tenants(null, null, 1, ${id}::uuid)`

const CreatedRow = z.object({
  tenant_id: z.uuid(),
  owner_id: z.uuid().nullable(),
  invitation_expires_at: z.string().nullable(),
})

export const createTenant = (input: {
  name: string
  slug: string
  plan: string
  ownerEmail: string
  ownerName: string
  ownerPasswordHash: string | null
  invitationTokenHash: Buffer | null
  invitationTtlSeconds: number
  requestId: string
}) =>
  sql.type(CreatedRow)`
    select tenant_id, owner_id, invitation_expires_at from app_private.admin_create_tenant(
      ${input.name}::text, ${input.slug}::text, ${input.plan}::text,
      ${input.ownerEmail}::text, ${input.ownerName}::text, ${input.ownerPasswordHash}::text,
      ${input.invitationTokenHash ? sql.binary(input.invitationTokenHash) : null}::bytea,
      make_interval(secs => ${input.invitationTtlSeconds}), ${input.requestId}::text
    )`

export const setPlan = (id: string, plan: string, requestId: string) =>
  sql.type(NoColumns)`select from app_private.admin_set_tenant_plan(${id}::uuid, ${plan}::text, ${requestId}::text)`

export const setSuspended = (id: string, suspended: boolean, requestId: string) =>
  sql.type(NoColumns)`
    select from app_private.admin_set_tenant_suspended(${id}::uuid, ${suspended}::boolean, ${requestId}::text)`

/**
 * A large tenant's cascade can outlast the pool's 15-second statement timeout; its deletion gets
 * a longer one for this transaction only.
 */
export const allowLongStatements = (timeout: string) =>
  sql.type(NoColumns)`select from pg_catalog.set_config('statement_timeout', ${timeout}::text, true)`

export const deleteTenant = (id: string, requestId: string) =>
  sql.type(NoColumns)`select from app_private.admin_delete_tenant(${id}::uuid, ${requestId}::text)`

const ActionRow = z.object({
  id: z.number(),
  actor: z.literal('platform'),
  action: z.enum(PLATFORM_ACTIONS),
  tenant_id: z.uuid(),
  detail: z.record(z.string(), z.unknown()),
  request_id: z.string().nullable(),
  created_at: z.string(),
})
type ActionRow = z.infer<typeof ActionRow>

export const toPlatformAction = (row: ActionRow) => ({
  id: row.id,
  actor: row.actor,
  action: row.action,
  tenantId: row.tenant_id,
  detail: row.detail,
  requestId: row.request_id,
  createdAt: row.created_at,
})
export const actionCursor = (row: ActionRow) => [row.id] as const

export const listActions = (beforeId: number | null, limit: number) =>
  sql.type(ActionRow)`
    select id, actor, action, tenant_id, detail, request_id, created_at
    from app_private.admin_list_actions(${beforeId}::bigint, ${limit + 1}::int)`

const UserRow = z.object({
  id: z.uuid(),
  email: z.string(),
  name: z.string(),
  created_via: z.enum(['registration', 'invitation', 'platform']),
  created_at: z.string(),
  tenant_count: z.number(),
})
type UserRow = z.infer<typeof UserRow>

export const toAdminUser = (row: UserRow) => ({
  id: row.id,
  email: row.email,
  name: row.name,
  createdVia: row.created_via,
  tenantCount: row.tenant_count,
  createdAt: row.created_at,
})
export const userCursor = (row: UserRow) => [row.email] as const

export const listUsers = (emailPrefix: string | null, afterEmail: string | null, limit: number) =>
  sql.type(UserRow)`
    select * from app_private.admin_list_users(${emailPrefix}::text, ${afterEmail}::text, ${limit + 1}::int)`
