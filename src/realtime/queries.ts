import { sql } from 'slonik'
import { z } from 'zod'
import { ActivityRow, activityColumns } from '../activities/queries.ts'
import { Role } from '../roles.ts'

/** Below every position that can still appear: the snapshot horizon (see migration 000005). */
export const horizon = () =>
  sql.type(z.object({ horizon: z.string() }))`
    select pg_snapshot_xmin(pg_current_snapshot())::text as horizon`

const CommittedRow = z.object({
  tenant_id: z.uuid().nullable(),
  tx: z.string().nullable(),
  seq: z.number().nullable(),
  type: z.string().nullable(),
  horizon: z.string(),
})
export type CommittedRow = z.infer<typeof CommittedRow>

/** Positions (no content) committed after this instance's position, across tenants, in commit order. */
export const committedAfter = (after: { tx: string; seq: number }, limit: number) =>
  sql.type(CommittedRow)`
    select f.tenant_id, f.tx::text as tx, f.seq, f.type, f.horizon::text as horizon
    from app_private.realtime_committed_after(${after.tx}::xid8, ${after.seq}, ${limit}) as f
    order by f.tx, f.seq`

const SessionCheckRow = z.object({
  session_id: z.uuid(),
  role: Role.nullable(),
  refusal: z.enum(['TN401', 'TNSUS']).nullable(),
})

/** Every given session's current role, or why begin_request would refuse it: one round trip. */
export const checkSessions = (sessionIds: readonly string[]) =>
  sql.type(SessionCheckRow)`
    select session_id, role, refusal
    from app_private.realtime_check_sessions(${sql.array(sessionIds, 'uuid')})`

/** The USER_REMOVED activity about this session's user after a position, if they were removed. */
export const removalNotice = (sessionId: string, afterTx: string) =>
  sql.type(ActivityRow)`
    select ${activityColumns}
    from app_private.realtime_removal_notice(${sessionId}::uuid, ${afterTx}::xid8)`

/** How full the cluster's NOTIFY queue is (0–1): readiness reports it before NOTIFYs start failing. */
export const queueUsage = () => sql.type(z.object({ usage: z.number() }))`select pg_notification_queue_usage() as usage`
