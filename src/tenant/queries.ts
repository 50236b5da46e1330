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
  created_at: z.string(),
})

const CreatedRow = z.object({ id: z.uuid() })

export const toTenant = (row: z.infer<typeof TenantRow>) => ({
  id: row.id,
  slug: row.slug,
  name: row.name,
  plan: row.plan,
  memberLimit: row.member_limit,
  memberCount: row.member_count,
  createdAt: row.created_at,
})

const withLimits = (tenants: FragmentSqlToken) => sql.type(TenantRow)`
  with t as (${tenants})
  select t.id, t.slug, t.name, t.plan, p.member_limit, t.created_at,
         (select count(*) from app_public.memberships m where m.tenant_id = t.id)::int as member_count
  from t join app_public.plans p on p.id = t.plan`

export const currentTenant = () =>
  withLimits(sql.fragment`select * from app_public.tenants where id = app_public.current_tenant_id()`)

/** Locks the current tenant row until the transaction ends (If-Match writes). */
export const lockTenant = () =>
  sql.type(NoColumns)`select from app_public.tenants where id = app_public.current_tenant_id() for update`

export const renameTenant = (name: string) =>
  withLimits(sql.fragment`
    update app_public.tenants set name = ${name} where id = app_public.current_tenant_id() returning *`)

export const changePlan = (plan: string) =>
  withLimits(sql.fragment`
    update app_public.tenants set plan = ${plan} where id = app_public.current_tenant_id() returning *`)

/** A new tenant owned by the current user (app.user_id); returns its id. */
export const createTenant = (name: string, slug: string) =>
  sql.type(CreatedRow)`select app_private.create_tenant(${name}::text, ${slug}::text) as id`

/** A tenant of the current user by id, as its member sees it. */
export const tenantById = (id: string) =>
  withLimits(sql.fragment`select * from app_public.tenants where id = ${id}::uuid`)

export const tenantVisible = () =>
  sql.type(NoColumns)`select from app_public.tenants where id = app_public.current_tenant_id()`
