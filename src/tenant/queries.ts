import { type FragmentSqlToken, sql } from 'slonik'
import { z } from 'zod'
import { NoColumns } from '../db/context.ts'
import { Plan } from './schemas.ts'

const TenantRow = z.object({
  id: z.uuid(),
  slug: z.string(),
  name: z.string(),
  plan: Plan,
  member_limit: z.number().nullable(),
  member_count: z.number(),
  pending_invitations: z.number(),
  item_limit: z.number().nullable(),
  item_count: z.number(),
  item_payload_bytes: z.number(),
  requests_per_minute: z.number(),
  created_at: z.string(),
})

const CreatedRow = z.object({ id: z.uuid() })

/** Requests this tenant made in the current minute, as the rate limiter counted them. */
export type RequestUsage = { used: number; resetSeconds: number } | null

export const toTenant = (row: z.infer<typeof TenantRow>, requests: RequestUsage) => ({
  id: row.id,
  slug: row.slug,
  name: row.name,
  plan: row.plan,
  memberLimit: row.member_limit,
  memberCount: row.member_count,
  createdAt: row.created_at,
  usage: {
    members: { used: row.member_count, pendingInvitations: row.pending_invitations, limit: row.member_limit },
    items: { used: row.item_count, limit: row.item_limit },
    itemPayloadBytes: { limit: row.item_payload_bytes },
    requestsPerMinute: {
      used: requests?.used ?? 0,
      limit: row.requests_per_minute,
      resetSeconds: requests?.resetSeconds ?? 0,
    },
  },
})

const withLimits = (tenants: FragmentSqlToken) => sql.type(TenantRow)`
  with t as (${tenants})
  select t.id, t.slug, t.name, t.plan, t.created_at,
         p.member_limit, p.item_limit, p.item_payload_bytes, p.requests_per_minute,
         (select count(*) from app_public.memberships m where m.tenant_id = t.id)::int as member_count,
         -- Admins only: invitations are invisible to other roles under RLS, so they see 0.
         (select count(*) from app_public.invitations i
          where i.tenant_id = t.id and i.accepted_at is null and i.revoked_at is null
            and i.expires_at > now())::int as pending_invitations,
         (select count(*) from app_public.items i where i.tenant_id = t.id)::int as item_count
  from t join app_public.plans p on p.id = t.plan`

export const currentTenant = () =>
  withLimits(sql.fragment`select * from app_public.tenants where id = app_public.current_tenant_id()`)

/** Locks the current tenant row until the transaction ends (If-Match writes). */
export const lockTenant = () =>
  sql.type(NoColumns)`select from app_public.tenants where id = app_public.current_tenant_id() for update`

export const renameTenant = (name: string) =>
  withLimits(sql.fragment`
    update app_public.tenants set name = ${name} where id = app_public.current_tenant_id() returning *`)

/**
 * The current tenant's plan change. The database decides whether it is an upgrade and refuses
 * one unless `upgradesOpen` (PLAN_UPGRADES=open); the API passes only that setting.
 */
export const changePlan = (plan: string, upgradesOpen: boolean) =>
  sql.type(NoColumns)`select from app_private.change_plan(${plan}::text, ${upgradesOpen}::boolean)`

/** A new tenant owned by the current user (app.user_id), at most `maxTenants` of theirs; returns its id. */
export const createTenant = (name: string, slug: string, maxTenants: number) =>
  sql.type(CreatedRow)`
    select app_private.create_tenant(${name}::text, ${slug}::text, ${maxTenants}::integer) as id`

/** A tenant of the current user by id, as its member sees it. */
export const tenantById = (id: string) =>
  withLimits(sql.fragment`select * from app_public.tenants where id = ${id}::uuid`)

export const tenantVisible = () =>
  sql.type(NoColumns)`select from app_public.tenants where id = app_public.current_tenant_id()`
