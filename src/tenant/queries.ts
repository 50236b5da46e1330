import { type FragmentSqlToken, sql } from 'slonik'
import { z } from 'zod'
import { NoColumns } from '../db/context.ts'
import { Tenant } from './schemas.ts'

const CreatedRow = z.object({ id: z.uuid() })

/** Requests this tenant made in the current minute, as the rate limiter counted them. */
export type RequestUsage = { used: number; resetSeconds: number } | null

type TenantRow = z.infer<typeof Tenant>

/**
 * The tenant with this minute's request count filled in: the one part of the response the
 * database does not know (the rate limiter counts it). Without it (null) the count reads 0,
 * which is also what the ETag is computed from.
 */
export const withRequestUsage = (tenant: TenantRow, requests: RequestUsage): TenantRow =>
  !requests
    ? tenant
    : {
        ...tenant,
        usage: {
          ...tenant.usage,
          requestsPerMinute: { ...tenant.usage.requestsPerMinute, ...requests },
        },
      }

// The row is the response, usage built by PostgreSQL with its camelCase keys; the request count
// is left at 0 for withRequestUsage.
const withLimits = (tenants: FragmentSqlToken) => sql.type(Tenant)`
  with t as (${tenants}),
  counted as (
    select t.*,
           (select count(*) from app_public.memberships m where m.tenant_id = t.id)::int as member_count,
           -- Admins only: invitations are invisible to other roles under RLS, so they see 0.
           (select count(*) from app_public.invitations i
            where i.tenant_id = t.id and i.accepted_at is null and i.revoked_at is null
              and i.expires_at > now())::int as pending_invitations,
           (select count(*) from app_public.items i where i.tenant_id = t.id)::int as item_count
    from t
  )
  select c.id, c.slug, c.name, c.plan, p.member_limit as "memberLimit", c.member_count as "memberCount",
         c.created_at as "createdAt",
         json_build_object(
           'members', json_build_object(
             'used', c.member_count, 'pendingInvitations', c.pending_invitations, 'limit', p.member_limit),
           'items', json_build_object('used', c.item_count, 'limit', p.item_limit),
           'itemPayloadBytes', json_build_object('limit', p.item_payload_bytes),
           'requestsPerMinute', json_build_object('used', 0, 'limit', p.requests_per_minute, 'resetSeconds', 0)
         ) as usage
  from counted c join app_public.plans p on p.id = c.plan`

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
