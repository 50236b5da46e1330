import { listItems } from '../src/items/queries.ts'
import type { Identity } from './seed.ts'

/**
 * The API's own statements, as text for a bare `pg` client: the list query is taken from
 * src/items/queries.ts (so it cannot drift), the context statement matches src/db/context.ts.
 */
export const LIMIT = 20
const firstPage = listItems(null, LIMIT)
const toPg = (text: string) => text.replace(/\$slonik_(\d+)/g, '$$$1')
/** The API fetches one row more than it returns, to know whether there is a next page. */
export const LIST_ROWS = LIMIT + 1

/** `(v1, v2)` for EXECUTE of a statement with these parameters, `` for one with none. */
export const executeArguments = (values: readonly unknown[]) =>
  values.length === 0
    ? ''
    : `(${values.map((value) => (typeof value === 'number' ? String(value) : `'${String(value).replaceAll("'", "''")}'`)).join(', ')})`

export const listQuery = {
  name: firstPage.name as string,
  text: toPg(firstPage.sql),
  values: [...firstPage.values] as unknown[],
}

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
