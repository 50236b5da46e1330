import { sql } from 'slonik'
import { z } from 'zod'
import { jsonb } from '../db/json.ts'
import { fieldsOf } from '../http/schemas.ts'
import type { Position } from './position.ts'
import { ActivityFields } from './schemas.ts'

// The response (and event) schema is the row schema: columns are aliased to its names.
export const ActivityRow = ActivityFields.extend({
  /** Commit-order position (xid8 as text, then seq); internal, never part of the API. */
  tx: z.string(),
  seq: z.number(),
})
export type ActivityRow = z.infer<typeof ActivityRow>

export const toActivity = fieldsOf(ActivityFields)

const PositionRow = z.object({ tx: z.string(), seq: z.number() })

/*
 * Positions in SQL (see position.ts): the only place they are read, compared and ordered.
 */
const positionColumns = sql.fragment`tx::text as tx, seq`
const after = (position: Position) => sql.fragment`(tx, seq) > (${position.tx}::xid8, ${position.seq})`
const atMost = (position: Position) => sql.fragment`(tx, seq) <= (${position.tx}::xid8, ${position.seq})`
/** Only transactions that every snapshot from now on sees as ended. */
const belowHorizon = sql.fragment`tx < pg_snapshot_xmin(pg_current_snapshot())`
/** Every column of an activity row, aliased to the response's names, position included. */
export const activityColumns = sql.fragment`
  id, type, tenant_id as "tenantId", actor_id as actor, actor_api_key_id as "actorApiKey", target, payload, created_at as "createdAt",
  ${positionColumns}`
// Qualified: a bare "tx" here would sort by the text column of the select list.
const oldestFirst = sql.fragment`order by activities.tx, activities.seq`
const newestFirst = sql.fragment`order by activities.tx desc, activities.seq desc`

/** Below every position that can still appear: the snapshot horizon (position.ts). */
export const horizon = () =>
  sql.type(z.object({ horizon: z.string() }))`
    select pg_snapshot_xmin(pg_current_snapshot())::text as horizon`

/**
 * Positions (no content) committed after `after` and below the horizon, across tenants, in
 * commit order: the realtime bridge's read (app_private.realtime_committed_after).
 */
export const committedAfter = (after: Position, limit: number) =>
  sql.type(z.object({ tenant_id: z.uuid(), tx: z.string(), seq: z.number() }))`
    select f.tenant_id, f.tx::text as tx, f.seq
    from app_private.realtime_committed_after(${after.tx}::xid8, ${after.seq}, ${limit}) as f
    order by f.tx, f.seq`

/** The commit-order position of an activity the caller can read (a lastEventId, an `after=`). */
export const activityPosition = (id: number) =>
  sql.type(PositionRow)`select ${positionColumns} from app_public.activities where id = ${id}`

/**
 * The id of the last activity the caller can read at or before a position: what `live` hands a
 * client as its lastEventId when no event was delivered to it (it joined live, or resynced).
 */
export const lastIdUpTo = (upTo: Position) =>
  sql.type(z.object({ id: z.number() }))`
    select id from app_public.activities
    where ${atMost(upTo)}
    ${newestFirst}
    limit 1`

/**
 * Oldest first in commit order, after `after` and at most `upTo`: only rows whose transaction
 * is below the snapshot's xmin, so no row can later commit before the last one returned and a
 * reader that continues from it never skips one (position.ts).
 */
export const activitiesAfter = (options: { after: Position; upTo?: Position; type?: string; limit: number }) =>
  sql.type(ActivityRow)`
    select ${activityColumns} from app_public.activities
    where ${sql.and([
      after(options.after),
      belowHorizon,
      options.upTo ? atMost(options.upTo) : null,
      options.type ? sql.fragment`type = ${options.type}` : null,
    ])}
    ${oldestFirst}
    limit ${options.limit}`

export const insertBroadcast = (message: string) =>
  sql.type(ActivityRow)`
    insert into app_public.activities (type, payload)
    values ('BROADCAST_MESSAGE', ${jsonb({ message })})
    returning ${activityColumns}`
