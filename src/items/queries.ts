import { sql } from 'slonik'
import { z } from 'zod'
import { NoColumns } from '../db/context.ts'
import { jsonb } from '../db/json.ts'
import { fieldsOf } from '../http/schemas.ts'
import { Item } from './schemas.ts'

// Row schemas at module scope: zod compiles a schema on its first parse.
const DeletedRow = z.object({ id: z.uuid() })

// The response schema is the row schema: columns are aliased to its names. sortAt is the exact
// created_at text the cursor keeps (an ISO string in milliseconds would drop microseconds).
const ItemRow = Item.extend({ sortAt: z.string() })
type ItemRow = z.infer<typeof ItemRow>

export const toItem = fieldsOf(Item)
export const itemCursor = (row: Pick<ItemRow, 'sortAt' | 'id'>) => [row.sortAt, row.id] as const

/** Payload bytes one page may carry: about 1 MiB, whatever the page size and the plan. */
export const PAGE_PAYLOAD_BYTES = 1024 * 1024

// A page row past the byte budget comes back without its payload: it only tells the route that
// the page ends before it, and the database never ships more than about one budget of payloads.
const PageRow = ItemRow.extend({ payload: ItemRow.shape.payload.nullable() })
type PageRow = z.infer<typeof PageRow>

/** The rows of one page: up to `limit`, stopping before the first one past the byte budget. */
export const pageRows = (rows: readonly PageRow[], limit: number) => {
  const cut = rows.findIndex((row) => row.payload === null)
  // toPage serves the first `limit` rows and reads one more as "there is a next page": the
  // first row past the budget (never served) plays that part. The first row always fits.
  if (cut === -1) return { rows: rows as ItemRow[], limit }
  return { rows: rows.slice(0, cut + 1) as ItemRow[], limit: Math.min(limit, cut) }
}

const columns = sql.fragment`
  id, name, payload, created_at as "createdAt", updated_at as "updatedAt", created_by as "createdBy",
  created_at::text as "sortAt"`

// No `tenant_id = ...` here: every items policy already restricts rows to the current tenant
// (README, "Security model", names the one table where a query must repeat it),
// and that predicate is the index condition on (tenant_id, ...). Repeating it would only
// evaluate the context a second time.
// The read path is the hottest query: both pages are named prepared statements, one per page
// size, with the limit as a literal (a validated integer, 2..101). With `limit $n` PostgreSQL
// kept choosing a custom plan, i.e. planned on every request; without it the generic plan is
// reused for the life of the connection.
const pageSize = (limit: number) => sql.literalValue(String(Math.trunc(limit) + 1))

/** Newest first; `before` is the cursor of the previous page's last row. */
// The running sum stops payloads at PAGE_PAYLOAD_BYTES (the first row always fits).
const pageColumns = sql.fragment`
  id, name, created_at as "createdAt", updated_at as "updatedAt", created_by as "createdBy",
  created_at::text as "sortAt",
  case when sum(octet_length(payload::text)) over newest_first - octet_length(payload::text)
            < ${sql.literalValue(String(PAGE_PAYLOAD_BYTES))}
       then payload end as payload`
const newestFirst = sql.fragment`window newest_first as (order by created_at desc, id desc rows unbounded preceding)`

export const listItems = (before: readonly [string, string] | null, limit: number) =>
  before
    ? sql.prepared(`tenantry_items_next_page_${limit + 1}`, PageRow)`
        select ${pageColumns} from app_public.items
        where (created_at, id) < (${before[0]}::timestamptz, ${before[1]}::uuid)
        ${newestFirst}
        order by created_at desc, id desc
        limit ${pageSize(limit)}`
    : sql.prepared(`tenantry_items_first_page_${limit + 1}`, PageRow)`
        select ${pageColumns} from app_public.items
        ${newestFirst}
        order by created_at desc, id desc
        limit ${pageSize(limit)}`

export const getItem = (id: string) =>
  sql.type(ItemRow)`
    select ${columns} from app_public.items where id = ${id}::uuid`

/** The item, locked until the transaction ends: an If-Match write compares against this version. */
export const lockItem = (id: string) =>
  sql.type(ItemRow)`
    select ${columns} from app_public.items where id = ${id}::uuid for update`

export const createItem = (input: { name: string; payload: Record<string, unknown> }) =>
  sql.type(ItemRow)`
    insert into app_public.items (name, payload) values (${input.name}, ${jsonb(input.payload)})
    returning ${columns}`

export const updateItem = (
  id: string,
  input: { name?: string | undefined; payload?: Record<string, unknown> | undefined },
) =>
  sql.type(ItemRow)`
    update app_public.items set
      name = coalesce(${input.name ?? null}::text, name),
      payload = ${input.payload === undefined ? sql.fragment`payload` : jsonb(input.payload)}
    where id = ${id}::uuid
    returning ${columns}`

export const deleteItem = (id: string) =>
  sql.type(DeletedRow)`
    delete from app_public.items where id = ${id}::uuid returning id`

export const itemVisible = (id: string) => sql.type(NoColumns)`select from app_public.items where id = ${id}::uuid`
