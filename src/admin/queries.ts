import { sql } from 'slonik'
import { z } from 'zod'
import { NoColumns } from '../db/context.ts'
import { AdminTenant, AdminUser, PlatformAction } from './schemas.ts'

// Every statement here calls one app_private.admin_* function: tenantry_app has no table access
// across tenants, and each platform action is audited inside the function that performs it.

// Rows are responses: each query aliases its columns to the response schema's names.

type TenantRow = z.infer<typeof AdminTenant>
export const tenantCursor = (row: TenantRow) => [row.slug] as const

const tenantColumns = sql.fragment`
  id, slug, name, plan, member_count as "memberCount", item_count as "itemCount",
  suspended_at as "suspendedAt", created_at as "createdAt"`

export const listTenants = (slugPrefix: string | null, afterSlug: string | null, limit: number) =>
  sql.type(AdminTenant)`
    select ${tenantColumns}
    from app_private.admin_list_tenants(${slugPrefix}::text, ${afterSlug}::text, ${limit + 1}::int)`

export const tenantById = (id: string) =>
  sql.type(AdminTenant)`select ${tenantColumns} from app_private.admin_list_tenants(null, null, 1, ${id}::uuid)`

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
  invitation: { hash: Buffer; sealed: string } | null
  invitationTtlSeconds: number
  requestId: string
}) =>
  sql.type(CreatedRow)`
    select tenant_id, owner_id, invitation_expires_at from app_private.admin_create_tenant(
      ${input.name}::text, ${input.slug}::text, ${input.plan}::text,
      ${input.ownerEmail}::text, ${input.ownerName}::text, ${input.ownerPasswordHash}::text,
      ${input.invitation ? sql.binary(input.invitation.hash) : null}::bytea, ${input.invitation?.sealed ?? null}::text,
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

export const actionCursor = (row: z.infer<typeof PlatformAction>) => [row.id] as const

export const listActions = (beforeId: number | null, limit: number) =>
  sql.type(PlatformAction)`
    select id, actor, action, tenant_id as "tenantId", detail, request_id as "requestId", created_at as "createdAt"
    from app_private.admin_list_actions(${beforeId}::bigint, ${limit + 1}::int)`

export const userCursor = (row: z.infer<typeof AdminUser>) => [row.email] as const

export const listUsers = (emailPrefix: string | null, afterEmail: string | null, limit: number) =>
  sql.type(AdminUser)`
    select id, email, name, created_via as "createdVia", tenant_count as "tenantCount", created_at as "createdAt"
    from app_private.admin_list_users(${emailPrefix}::text, ${afterEmail}::text, ${limit + 1}::int)`
