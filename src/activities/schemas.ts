import { z } from 'zod'
import { Id, PageQuery, page, Timestamp } from '../http/schemas.ts'
import { Role } from '../roles.ts'

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
  'WEBHOOK_DISABLED',
] as const
export const ActivityType = z.enum(ACTIVITY_TYPES)
export type ActivityType = z.infer<typeof ActivityType>

const PlanId = z.string().describe('A plan id (`GET /v1/tenant` shows the plans)')
const KeyRole = Role.exclude(['owner'])

/**
 * What each activity type carries, exactly as the trigger that writes it builds it (see
 * db/schema.sql: the `_900_activity` triggers and the broadcast check). Strict objects: a key a
 * trigger adds without its schema here fails the suite's OpenAPI check of every response.
 * REST (`GET /v1/activities`), Socket.IO events and webhooks all send these.
 */
export const ACTIVITY_PAYLOADS = {
  USER_JOINED: z.strictObject({ userId: Id, role: Role }),
  USER_REMOVED: z.strictObject({
    userId: Id,
    role: Role,
    left: z.boolean().describe('true when the member left; false when someone removed them'),
  }),
  ROLE_CHANGED: z.strictObject({ userId: Id, from: Role, to: Role }),
  PLAN_UPGRADED: z.strictObject({ from: PlanId, to: PlanId }),
  PLAN_DOWNGRADED: z.strictObject({ from: PlanId, to: PlanId }),
  BROADCAST_MESSAGE: z.strictObject({ message: z.string().min(1).max(1000) }),
  INVITATION_CREATED: z.strictObject({ invitationId: Id, email: z.string(), role: Role }),
  INVITATION_REVOKED: z.strictObject({ invitationId: Id, email: z.string() }),
  TENANT_UPDATED: z.strictObject({ name: z.string(), previousName: z.string() }),
  TENANT_SUSPENDED: z.strictObject({
    suspendedAt: z.string().describe('When the platform suspended the tenant (ISO 8601 with offset, microseconds)'),
  }),
  TENANT_RESUMED: z.strictObject({ suspendedAt: z.null() }),
  ITEM_CREATED: z.strictObject({ itemId: Id, name: z.string() }),
  ITEM_UPDATED: z.strictObject({ itemId: Id, name: z.string() }),
  ITEM_DELETED: z.strictObject({ itemId: Id, name: z.string().describe('Its name when it was deleted') }),
  API_KEY_CREATED: z.strictObject({
    apiKeyId: Id,
    name: z.string(),
    prefix: z.string(),
    role: KeyRole,
    expiresAt: Timestamp.nullable(),
  }),
  API_KEY_UPDATED: z.strictObject({
    apiKeyId: Id,
    name: z.string(),
    prefix: z.string(),
    role: KeyRole,
    previousName: z.string(),
    previousRole: KeyRole,
  }),
  API_KEY_REVOKED: z.strictObject({ apiKeyId: Id, name: z.string(), prefix: z.string() }),
  WEBHOOK_DISABLED: z.strictObject({
    webhookId: Id,
    url: z.string(),
    reason: z.string().describe('Why deliveries stopped: the last failure, after about a day of retries'),
  }),
} as const satisfies Record<ActivityType, z.ZodObject>

/** USER_JOINED → UserJoined: the names of the OpenAPI components. */
export const pascalCase = (type: string) =>
  type
    .toLowerCase()
    .split('_')
    .map((word) => (word === 'api' ? 'Api' : word.charAt(0).toUpperCase() + word.slice(1)))
    .join('')

const common = {
  id: z
    .number()
    .int()
    .describe(
      'Numbered per tenant (1, 2, 3…, no gaps); events arrive in commit-order position, which may differ from id order: use the last one received as lastEventId / after',
    ),
  tenantId: Id,
  actor: Id.nullable().describe('User who caused it; null for the platform and for an API key'),
  actorApiKey: Id.nullable().describe('The API key that caused it (then `actor` is null); null otherwise'),
  target: z.string().nullable(),
  createdAt: Timestamp,
}

/** An activity of one type: the fields every activity has, and that type's payload. */
const activityOf = <T extends ActivityType, P extends (typeof ACTIVITY_PAYLOADS)[T]>(type: T, payload: P) =>
  z
    .object({
      id: common.id,
      type: z.literal(type),
      tenantId: common.tenantId,
      actor: common.actor,
      actorApiKey: common.actorApiKey,
      target: common.target,
      payload: payload.meta({ id: `${pascalCase(type)}Payload` }),
      createdAt: common.createdAt,
    })
    .meta({ id: `${pascalCase(type)}Activity` })

/**
 * One activity, typed by `type`: a client switches on `type` and reads that event's payload
 * without a cast. Spelled out (not mapped) so TypeScript keeps each member's literal type.
 */
export const Activity = z
  .discriminatedUnion('type', [
    activityOf('USER_JOINED', ACTIVITY_PAYLOADS.USER_JOINED),
    activityOf('USER_REMOVED', ACTIVITY_PAYLOADS.USER_REMOVED),
    activityOf('ROLE_CHANGED', ACTIVITY_PAYLOADS.ROLE_CHANGED),
    activityOf('PLAN_UPGRADED', ACTIVITY_PAYLOADS.PLAN_UPGRADED),
    activityOf('PLAN_DOWNGRADED', ACTIVITY_PAYLOADS.PLAN_DOWNGRADED),
    activityOf('BROADCAST_MESSAGE', ACTIVITY_PAYLOADS.BROADCAST_MESSAGE),
    activityOf('INVITATION_CREATED', ACTIVITY_PAYLOADS.INVITATION_CREATED),
    activityOf('INVITATION_REVOKED', ACTIVITY_PAYLOADS.INVITATION_REVOKED),
    activityOf('TENANT_UPDATED', ACTIVITY_PAYLOADS.TENANT_UPDATED),
    activityOf('TENANT_SUSPENDED', ACTIVITY_PAYLOADS.TENANT_SUSPENDED),
    activityOf('TENANT_RESUMED', ACTIVITY_PAYLOADS.TENANT_RESUMED),
    activityOf('ITEM_CREATED', ACTIVITY_PAYLOADS.ITEM_CREATED),
    activityOf('ITEM_UPDATED', ACTIVITY_PAYLOADS.ITEM_UPDATED),
    activityOf('ITEM_DELETED', ACTIVITY_PAYLOADS.ITEM_DELETED),
    activityOf('API_KEY_CREATED', ACTIVITY_PAYLOADS.API_KEY_CREATED),
    activityOf('API_KEY_UPDATED', ACTIVITY_PAYLOADS.API_KEY_UPDATED),
    activityOf('API_KEY_REVOKED', ACTIVITY_PAYLOADS.API_KEY_REVOKED),
    activityOf('WEBHOOK_DISABLED', ACTIVITY_PAYLOADS.WEBHOOK_DISABLED),
  ])
  .meta({
    id: 'Activity',
    description: 'One activity; `type` says which, and so the shape of `payload`.',
    discriminator: {
      propertyName: 'type',
      mapping: Object.fromEntries(
        ACTIVITY_TYPES.map((type) => [type, `#/components/schemas/${pascalCase(type)}Activity`]),
      ),
    },
  })
export type Activity = z.infer<typeof Activity>

/** A BROADCAST_MESSAGE activity: what POST /v1/tenant/broadcasts answers. */
export const BroadcastActivity = Activity.options[5]

/**
 * The fields of an activity row without the per-type payload check: what rows are read as
 * (a row written before a payload changed shape still reads), and the field list responses
 * are cut to.
 */
export const ActivityFields = z.object({
  ...common,
  type: ActivityType,
  payload: z.record(z.string(), z.unknown()),
})

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
