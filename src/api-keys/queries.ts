import { sql } from 'slonik'
import { z } from 'zod'
import { NoColumns } from '../db/context.ts'
import { fieldsOf } from '../http/schemas.ts'
import { ApiKey } from './schemas.ts'

// The response schema is the row schema: columns are aliased to its names. sortAt is the exact
// created_at text the cursor keeps.
const ApiKeyRow = ApiKey.extend({ sortAt: z.string() })
type ApiKeyRow = z.infer<typeof ApiKeyRow>
const RevokedRow = z.object({ id: z.uuid() })

export const toApiKey = fieldsOf(ApiKey)
export const apiKeyCursor = (row: ApiKeyRow) => [row.sortAt, row.id] as const

const columns = sql.fragment`
  id, name, role, prefix, created_at as "createdAt", created_by as "createdBy", expires_at as "expiresAt",
  last_used_at as "lastUsedAt", created_at::text as "sortAt"`

export const createApiKey = (input: { name: string; role: string; prefix: string; expiresAt: string | null }) =>
  sql.type(ApiKeyRow)`
    insert into app_public.api_keys (name, role, prefix, expires_at)
    values (${input.name}, ${input.role}, ${input.prefix}, ${input.expiresAt}::timestamptz)
    returning ${columns}`

/** The key's SHA-256, recorded in the transaction that created the key (app_private.api_key_hashes). */
export const recordApiKeyHash = (id: string, keyHash: Buffer) =>
  sql.type(NoColumns)`select from app_private.record_api_key_hash(${id}::uuid, ${sql.binary(keyHash)})`

/** Keys not revoked (expired ones included, so an admin sees why a client stopped), newest first. */
export const listApiKeys = (before: readonly [string, string] | null, limit: number) =>
  sql.type(ApiKeyRow)`
    select ${columns} from app_public.api_keys
    where tenant_id = app_public.current_tenant_id() and revoked_at is null
      ${before ? sql.fragment`and (created_at, id) < (${before[0]}::timestamptz, ${before[1]}::uuid)` : sql.fragment``}
    order by created_at desc, id desc
    limit ${limit + 1}`

export const getApiKey = (id: string) =>
  sql.type(ApiKeyRow)`
    select ${columns} from app_public.api_keys
    where tenant_id = app_public.current_tenant_id() and id = ${id}::uuid and revoked_at is null`

export const updateApiKey = (id: string, changes: { name?: string | undefined; role?: string | undefined }) =>
  sql.type(ApiKeyRow)`
    update app_public.api_keys
    set name = coalesce(${changes.name ?? null}::text, name),
        role = coalesce(${changes.role ?? null}::app_public.membership_role, role)
    where tenant_id = app_public.current_tenant_id() and id = ${id}::uuid and revoked_at is null
    returning ${columns}`

export const revokeApiKey = (id: string) =>
  sql.type(RevokedRow)`
    update app_public.api_keys set revoked_at = now()
    where tenant_id = app_public.current_tenant_id() and id = ${id}::uuid and revoked_at is null
    returning id`
