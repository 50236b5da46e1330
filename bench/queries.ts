import type { Identity } from './seed.ts'

/**
 * Statements for a bare `pg` client. The database ceilings of scenario 1 run the read path as it
 * was before reads became one statement (issue 20), so the ratio stays comparable across runs:
 * START, begin_request, this list query (the API's until then, kept here verbatim), COMMIT. The
 * one-statement ceiling calls app_api.list_items exactly as the API does now (src/db/read.ts).
 */
export const LIMIT = 20
/** The API fetches one row more than it returns, to know whether there is a next page. */
export const LIST_ROWS = LIMIT + 1

/** `(v1, v2)` for EXECUTE of a statement with these parameters, `` for one with none. */
export const executeArguments = (values: readonly unknown[]) =>
  values.length === 0
    ? ''
    : `(${values.map((value) => (typeof value === 'number' ? String(value) : `'${String(value).replaceAll("'", "''")}'`)).join(', ')})`

export const listQuery = {
  name: 'tenantry_items_first_page_21',
  text: `select
  id, name, created_at as "createdAt", updated_at as "updatedAt", created_by as "createdBy",
  created_at::text as "sortAt",
  case when sum(octet_length(payload::text)) over newest_first - octet_length(payload::text)
            < 1048576
       then payload end as payload from app_public.items
        window newest_first as (order by created_at desc, id desc rows unbounded preceding)
        order by created_at desc, id desc
        limit 21`,
  values: [] as unknown[],
}

/** GET /v1/items?limit=20 as the API sends it now: one statement, the body built by PostgreSQL. */
export const oneStatementList = (identity: Identity) => ({
  name: 'tenantry_api_list_items',
  text: `select body from app_api.list_items($1::uuid, $2::uuid, $3::uuid, $4::app_public.membership_role, $5::int4, $6::timestamptz, $7::uuid, $8::int4)`,
  values: [identity.tenantId, identity.userId, identity.sessionId, 'viewer', LIMIT, null, null, 1024 * 1024],
})

export const beginRequest = (identity: Identity) => ({
  name: 'tenantry_begin_request',
  text: 'select app_private.begin_request($1::uuid, $2::uuid, $3::uuid) as role',
  values: [identity.tenantId, identity.userId, identity.sessionId],
})

/**
 * The same list query for the owner role (which bypasses RLS), with the tenant as an explicit
 * parameter: where the API's query names the context, the parameter takes its place; where it
 * leaves the tenant to the policies, the owner's query gets `tenant_id = $n` added.
 */
const tenantParam = `$${listQuery.values.length + 1}::uuid`
const ownerText = listQuery.text.includes('app_public.current_tenant_id()')
  ? listQuery.text.replaceAll('app_public.current_tenant_id()', tenantParam)
  : /\swhere\s/i.test(listQuery.text)
    ? listQuery.text.replace(/\swhere\s/i, ` where tenant_id = ${tenantParam} and `)
    : // The where clause goes before the first of window / order by.
      listQuery.text.replace(/\s(window|order by)\s/i, (clause) => ` where tenant_id = ${tenantParam}${clause}`)
if (ownerText === listQuery.text)
  throw new Error('bench/queries.ts: cannot derive the owner query from src/items/queries.ts')
export const ownerListQuery = (tenantId: string) => ({
  name: 'bench_owner_items_first_page',
  text: ownerText,
  values: [...listQuery.values, tenantId],
})
