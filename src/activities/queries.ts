import { sql } from 'slonik'
import { z } from 'zod'
import { jsonb } from '../db/json.ts'
import { ActivityType } from './schemas.ts'

export const ActivityRow = z.object({
  id: z.number(),
  type: ActivityType,
  tenant_id: z.uuid(),
  actor_id: z.uuid().nullable(),
  target: z.string().nullable(),
  payload: z.record(z.string(), z.unknown()),
  created_at: z.string(),
})
export type ActivityRow = z.infer<typeof ActivityRow>

export const toActivity = (row: ActivityRow) => ({
  id: row.id,
  type: row.type,
  tenantId: row.tenant_id,
  actor: row.actor_id,
  target: row.target,
  payload: row.payload,
  createdAt: row.created_at,
})

const columns = sql.fragment`id, type, tenant_id, actor_id, target, payload, created_at`

/** Newest first (`beforeId` pages backwards), or oldest first after `afterId` (gap fill). */
export const listActivities = (options: { type?: string; beforeId?: number; afterId?: number; limit: number }) => {
  const ascending = options.afterId !== undefined
  return sql.type(ActivityRow)`
    select ${columns} from app_public.activities
    -- The select policy restricts rows to the current tenant; no tenant predicate is repeated.
    where ${sql.and([
      options.type ? sql.fragment`type = ${options.type}` : null,
      options.beforeId !== undefined ? sql.fragment`id < ${options.beforeId}` : null,
      ascending ? sql.fragment`id > ${options.afterId!}` : null,
    ])}
    order by ${ascending ? sql.fragment`id asc` : sql.fragment`id desc`}
    limit ${options.limit + 1}`
}

export const getActivity = (id: number) =>
  sql.type(ActivityRow)`select ${columns} from app_public.activities where id = ${id}`

export const insertBroadcast = (message: string) =>
  sql.type(ActivityRow)`
    insert into app_public.activities (type, payload)
    values ('BROADCAST_MESSAGE', ${jsonb({ message })})
    returning ${columns}`
