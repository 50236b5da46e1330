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
  /** Commit-order position (xid8 as text); internal, never part of the API. */
  tx: z.string(),
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

const columns = sql.fragment`id, type, tenant_id, actor_id, target, payload, created_at, tx::text as tx`

/** A place in the commit-order stream: (tx, id) of an activity. */
export type Position = { tx: string; id: number }
/** Before every activity. */
export const START: Position = { tx: '0', id: 0 }

const PositionRow = z.object({ tx: z.string(), id: z.number() })

/** Newest first; `beforeId` pages backwards. */
export const listActivities = (options: { type?: string; beforeId?: number; limit: number }) =>
  sql.type(ActivityRow)`
    select ${columns} from app_public.activities
    -- The select policy restricts rows to the current tenant; no tenant predicate is repeated.
    where ${sql.and([
      options.type ? sql.fragment`type = ${options.type}` : null,
      options.beforeId !== undefined ? sql.fragment`id < ${options.beforeId}` : null,
    ])}
    order by id desc
    limit ${options.limit + 1}`

/** The commit-order position of an activity the caller can read (a lastEventId, an `after=`). */
export const activityPosition = (id: number) =>
  sql.type(PositionRow)`select tx::text as tx, id from app_public.activities where id = ${id}`

/**
 * Oldest first in commit order, after `after` and at most `upTo`: only rows whose transaction
 * is below the snapshot's xmin, so no row can later commit before the last one returned and a
 * reader that continues from it never skips one (migration 000003, activities.tx).
 */
export const activitiesAfter = (options: { after: Position; upTo?: Position; type?: string; limit: number }) =>
  sql.type(ActivityRow)`
    select ${columns} from app_public.activities
    where ${sql.and([
      sql.fragment`(tx, id) > (${options.after.tx}::xid8, ${options.after.id})`,
      sql.fragment`tx < pg_snapshot_xmin(pg_current_snapshot())`,
      options.upTo ? sql.fragment`(tx, id) <= (${options.upTo.tx}::xid8, ${options.upTo.id})` : null,
      options.type ? sql.fragment`type = ${options.type}` : null,
    ])}
    -- Qualified: a bare "tx" here would sort by the text column of the select list.
    order by activities.tx, activities.id
    limit ${options.limit}`

export const getActivity = (id: number) =>
  sql.type(ActivityRow)`select ${columns} from app_public.activities where id = ${id}`

export const insertBroadcast = (message: string) =>
  sql.type(ActivityRow)`
    insert into app_public.activities (type, payload)
    values ('BROADCAST_MESSAGE', ${jsonb({ message })})
    returning ${columns}`
