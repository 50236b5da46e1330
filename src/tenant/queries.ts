import { type FragmentSqlToken, sql } from 'slonik'
import { z } from 'zod'
import { NoColumns } from '../db/context.ts'
import { arg } from '../db/read.ts'

const CreatedRow = z.object({ id: z.uuid() })

/** Requests this tenant made in the current minute, as the rate limiter counted them. */
export type RequestUsage = { used: number; resetSeconds: number } | null

/** A tenant as app_api.tenant_json builds it (the response body) and its ETag. */
const TenantJson = z.object({ body: z.string(), etag: z.string() })

/** GET /v1/tenant (app_api.get_tenant): this minute's request count fills in its usage. */
export const getTenantArgs = (requests: RequestUsage) => [
  arg(requests?.used ?? 0, 'int4'),
  arg(requests?.resetSeconds ?? 0, 'int4'),
]

/**
 * A tenant as the reads show it (app_api.tenant_json), after a write in the same transaction:
 * its own statement, so it sees the write. The ETag leaves out the request count, which changes
 * with every request (the ETag would then never match an If-Match).
 */
export const tenantJson = (id: FragmentSqlToken, requests: RequestUsage) =>
  sql.type(TenantJson)`
    select app_api.tenant_json(${id}, ${requests?.used ?? 0}::int4, ${requests?.resetSeconds ?? 0}::int4)::text as body,
           app_api.etag(app_api.tenant_json(${id}, 0, 0)::text) as etag
    where exists (select from app_public.tenants where id = ${id})`

export const currentTenantId = sql.fragment`app_public.current_tenant_id()`
/** A tenant by id, as its member sees it under RLS (a tenant just created, say). */
export const tenantId = (id: string) => sql.fragment`${id}::uuid`

export const renameTenant = (name: string) =>
  sql.type(CreatedRow)`
    update app_public.tenants set name = ${name} where id = app_public.current_tenant_id() returning id`

/** Locks the current tenant row until the transaction ends (If-Match writes). */
export const lockTenant = () =>
  sql.type(NoColumns)`select from app_public.tenants where id = app_public.current_tenant_id() for update`

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

export const tenantVisible = () =>
  sql.type(NoColumns)`select from app_public.tenants where id = app_public.current_tenant_id()`
