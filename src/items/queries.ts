import { sql } from 'slonik'
import { z } from 'zod'
import { NoColumns } from '../db/context.ts'
import { jsonb } from '../db/json.ts'

// Row schemas at module scope: zod compiles a schema on its first parse.
const DeletedRow = z.object({ id: z.uuid() })

const ItemRow = z.object({
  id: z.uuid(),
  name: z.string(),
  payload: z.record(z.string(), z.unknown()),
  created_at: z.string(),
  updated_at: z.string(),
  created_by: z.uuid().nullable(),
  sort_at: z.string(),
})
type ItemRow = z.infer<typeof ItemRow>

export const toItem = (row: ItemRow) => ({
  id: row.id,
  name: row.name,
  payload: row.payload,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
  createdBy: row.created_by,
})
export const itemCursor = (row: ItemRow) => [row.sort_at, row.id] as const

const columns = sql.fragment`id, name, payload, created_at, updated_at, created_by, created_at::text as sort_at`

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
export const listItems = (before: readonly [string, string] | null, limit: number) =>
  before
    ? sql.prepared(`tenantry_items_next_page_${limit + 1}`, ItemRow)`
        select ${columns} from app_public.items
        where (created_at, id) < (${before[0]}::timestamptz, ${before[1]}::uuid)
        order by created_at desc, id desc
        limit ${pageSize(limit)}`
    : sql.prepared(`tenantry_items_first_page_${limit + 1}`, ItemRow)`
        select ${columns} from app_public.items
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
