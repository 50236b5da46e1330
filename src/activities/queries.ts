import { sql } from 'slonik'
import { z } from 'zod'
import { jsonb } from '../db/json.ts'
import { fieldsOf } from '../http/schemas.ts'
import { Activity } from './schemas.ts'

// The response (and event) schema is the row schema: columns are aliased to its names.
export const ActivityRow = Activity.extend({
  /** Commit-order position (xid8 as text, then seq); internal, never part of the API. */
  tx: z.string(),
  seq: z.number(),
})
export type ActivityRow = z.infer<typeof ActivityRow>

export const toActivity = fieldsOf(Activity)

/** The columns of an ActivityRow (realtime/queries.ts reads the same rows from its functions). */
export const activityColumns = sql.fragment`
  id, type, tenant_id as "tenantId", actor_id as actor, target, payload, created_at as "createdAt",
  tx::text as tx, seq`
const columns = activityColumns

/**
 * A place in the commit-order stream: (tx, seq) of an activity. Internal: both count every
 * tenant's writes, so a client only ever sees and hands back its tenant's activity ids.
 */
export type Position = { tx: string; seq: number }
/** Before every activity. */
export const START: Position = { tx: '0', seq: 0 }

const PositionRow = z.object({ tx: z.string(), seq: z.number() })

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
  sql.type(PositionRow)`select tx::text as tx, seq from app_public.activities where id = ${id}`

/**
 * The id of the last activity the caller can read at or before a position: what `live` hands a
 * client as its lastEventId when no event was delivered to it (it joined live, or resynced).
 */
export const lastIdUpTo = (upTo: Position) =>
  sql.type(z.object({ id: z.number() }))`
    select id from app_public.activities
    where (tx, seq) <= (${upTo.tx}::xid8, ${upTo.seq})
    order by activities.tx desc, activities.seq desc
    limit 1`

/**
 * Oldest first in commit order, after `after` and at most `upTo`: only rows whose transaction
 * is below the snapshot's xmin, so no row can later commit before the last one returned and a
 * reader that continues from it never skips one (migration 000005, activities.tx).
 */
export const activitiesAfter = (options: { after: Position; upTo?: Position; type?: string; limit: number }) =>
  sql.type(ActivityRow)`
    select ${columns} from app_public.activities
    where ${sql.and([
      sql.fragment`(tx, seq) > (${options.after.tx}::xid8, ${options.after.seq})`,
      sql.fragment`tx < pg_snapshot_xmin(pg_current_snapshot())`,
      options.upTo ? sql.fragment`(tx, seq) <= (${options.upTo.tx}::xid8, ${options.upTo.seq})` : null,
      options.type ? sql.fragment`type = ${options.type}` : null,
    ])}
    -- Qualified: a bare "tx" here would sort by the text column of the select list.
    order by activities.tx, activities.seq
    limit ${options.limit}`

export const getActivity = (id: number) =>
  sql.type(ActivityRow)`select ${columns} from app_public.activities where id = ${id}`

export const insertBroadcast = (message: string) =>
  sql.type(ActivityRow)`
    insert into app_public.activities (type, payload)
    values ('BROADCAST_MESSAGE', ${jsonb({ message })})
    returning ${columns}`
