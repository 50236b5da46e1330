import { z } from 'zod'
import { Id, PageQuery, page, Timestamp } from '../http/schemas.ts'

export const ACTIVITY_TYPES = [
  'USER_JOINED',
  'USER_REMOVED',
  'ROLE_CHANGED',
  'PLAN_UPGRADED',
  'PLAN_DOWNGRADED',
  'BROADCAST_MESSAGE',
  'INVITATION_CREATED',
  'INVITATION_REVOKED',
  'TENANT_UPDATED',
  'TENANT_SUSPENDED',
  'TENANT_RESUMED',
  'ITEM_CREATED',
  'ITEM_UPDATED',
  'ITEM_DELETED',
  'API_KEY_CREATED',
  'API_KEY_UPDATED',
  'API_KEY_REVOKED',
] as const
export const ActivityType = z.enum(ACTIVITY_TYPES)

export const Activity = z
  .object({
    id: z
      .number()
      .int()
      .describe(
        'Numbered per tenant (1, 2, 3…, no gaps); events arrive in commit-order position, which may differ from id order: use the last one received as lastEventId / after',
      ),
    type: ActivityType,
    tenantId: Id,
    actor: Id.nullable().describe('User who caused it; null for the platform and for an API key'),
    actorApiKey: Id.nullable().describe('The API key that caused it (then `actor` is null); null otherwise'),
    target: z.string().nullable(),
    payload: z.record(z.string(), z.unknown()),
    createdAt: Timestamp,
  })
  .meta({ id: 'Activity' })

export const ActivityQuery = PageQuery.extend({
  type: ActivityType.optional(),
  after: z.coerce
    .number()
    .int()
    .min(0)
    .optional()
    .describe('Gap fill: the events committed after this one, in commit order'),
})

export const ActivityPage = page(Activity)
