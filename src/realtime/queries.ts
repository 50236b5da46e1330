import { sql } from 'slonik'
import { z } from 'zod'
import { ActivityRow, activityColumns } from '../activities/queries.ts'
import { Role } from '../roles.ts'

const SessionCheckRow = z.object({
  session_id: z.uuid(),
  role: Role.nullable(),
  /** The SQLSTATE begin_request would raise (TN401, TNSUS), and its message. */
  refusal: z.string().nullable(),
  message: z.string().nullable(),
})

/** Every given session's current role, or why begin_request would refuse it (app_private.session_standing): one round trip. */
export const checkSessions = (sessionIds: readonly string[]) =>
  sql.type(SessionCheckRow)`
    select session_id, role, refusal, message
    from app_private.realtime_check_sessions(${sql.array(sessionIds, 'uuid')})`

/** The USER_REMOVED activity about this session's user after a position, if they were removed. */
export const removalNotice = (sessionId: string, afterTx: string) =>
  sql.type(ActivityRow)`
    select ${activityColumns}
    from app_private.realtime_removal_notice(${sessionId}::uuid, ${afterTx}::xid8)`

/** How full the cluster's NOTIFY queue is (0–1): readiness reports it before NOTIFYs start failing. */
export const queueUsage = () => sql.type(z.object({ usage: z.number() }))`select pg_notification_queue_usage() as usage`
