import { sql } from 'slonik'
import { z } from 'zod'
import { NoColumns } from '../db/context.ts'
import { jsonb } from '../db/json.ts'
import { arg } from '../db/read.ts'

// Row schemas at module scope: zod compiles a schema on its first parse.
const DeletedRow = z.object({ id: z.uuid() })
/** An item as app_api.item_json builds it (the response body) and its ETag. */
const ItemJson = z.object({ body: z.string(), etag: z.string() })
const CreatedItemJson = ItemJson.extend({ id: z.uuid() })

/** Payload bytes one page may carry: about 1 MiB, whatever the page size and the plan. */
export const PAGE_PAYLOAD_BYTES = 1024 * 1024

/** GET /v1/items: one page newest first, after the cursor `before` (app_api.list_items). */
export const listItemsArgs = (before: readonly [string, string] | null, limit: number) => [
  arg(limit, 'int4'),
  arg(before?.[0] ?? null, 'timestamptz'),
  arg(before?.[1] ?? null, 'uuid'),
  arg(PAGE_PAYLOAD_BYTES, 'int4'),
]

// Writes answer with the same JSON the reads build (app_api.item_json), so a write's ETag and
// the next read's are the same hash of the same text. No `tenant_id = ...` in updates and deletes:
// the items policies restrict every row to the current tenant (README, "Security model").
const body = sql.fragment`
  app_api.item_json(items)::text as body, app_api.etag(app_api.item_json(items)::text) as etag`

/** The item, locked until the transaction ends: an If-Match write compares against this version. */
export const lockItem = (id: string) =>
  sql.type(ItemJson)`
    select ${body} from app_public.items where id = ${id}::uuid for update`

export const createItem = (input: { name: string; payload: Record<string, unknown> }) =>
  sql.type(CreatedItemJson)`
    insert into app_public.items (name, payload) values (${input.name}, ${jsonb(input.payload)})
    returning id, ${body}`

export const updateItem = (
  id: string,
  input: { name?: string | undefined; payload?: Record<string, unknown> | undefined },
) =>
  sql.type(ItemJson)`
    update app_public.items set
      name = coalesce(${input.name ?? null}::text, name),
      payload = ${input.payload === undefined ? sql.fragment`payload` : jsonb(input.payload)}
    where id = ${id}::uuid
    returning ${body}`

export const deleteItem = (id: string) =>
  sql.type(DeletedRow)`
    delete from app_public.items where id = ${id}::uuid returning id`

export const itemVisible = (id: string) => sql.type(NoColumns)`select from app_public.items where id = ${id}::uuid`
