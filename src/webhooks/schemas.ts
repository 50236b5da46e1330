import { z } from 'zod'
import { ActivityType } from '../activities/schemas.ts'
import { Id, PageQuery, page, Timestamp } from '../http/schemas.ts'

export const WebhookEndpoint = z
  .object({
    id: Id,
    url: z.string(),
    events: z.array(ActivityType),
    enabled: z.boolean(),
    disabledReason: z
      .string()
      .nullable()
      .describe('Why the worker disabled it (failing for about a day); null when enabled or disabled by an admin'),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  })
  .meta({ id: 'WebhookEndpoint' })

export const CreatedWebhookEndpoint = WebhookEndpoint.extend({
  secret: z
    .string()
    .describe(
      'Shown only this once: verify each delivery with it (Standard Webhooks, `whsec_…`). Rotate to replace it.',
    ),
}).meta({ id: 'CreatedWebhookEndpoint' })

export const WebhookEndpointPage = page(WebhookEndpoint)

const Url = z
  .url({ protocol: /^https?$/ })
  .max(2000)
  .describe('Where deliveries are POSTed: https: (http: only with WEBHOOK_ALLOW_PRIVATE)')
const Events = z
  .array(ActivityType)
  .min(1)
  .max(100)
  .refine((events) => new Set(events).size === events.length, 'each type once')
  .describe('The activity types to deliver')

export const CreateWebhookBody = z
  .strictObject({ url: Url, events: Events, enabled: z.boolean().default(true) })
  .meta({ examples: [{ url: 'https://hooks.example.com/tenantry', events: ['ITEM_CREATED', 'ITEM_DELETED'] }] })

export const UpdateWebhookBody = z
  .strictObject({ url: Url.optional(), events: Events.optional(), enabled: z.boolean().optional() })
  .refine((body) => Object.values(body).some((value) => value !== undefined), 'url, events or enabled is required')
  .meta({ examples: [{ enabled: true }] })

export const RotatedSecret = z
  .object({
    secret: z.string().describe('The new secret, shown only this once'),
    previousSecretExpiresAt: Timestamp.describe('Until then, deliveries carry a signature with the old secret too'),
  })
  .meta({ id: 'RotatedWebhookSecret' })

export const WebhookDelivery = z
  .object({
    id: Id.describe('Also the `webhook-id` of every attempt (as `msg_<id>`): duplicates share it'),
    activityId: z.number().int(),
    type: ActivityType,
    status: z.enum(['pending', 'delivered', 'failed']),
    attempts: z.number().int(),
    responseStatus: z.number().int().nullable().describe("The last attempt's HTTP status; null when it got none"),
    error: z.string().nullable().describe('Why the last attempt failed, when it did'),
    latencyMs: z.number().int().nullable().describe("The last attempt's round trip"),
    createdAt: Timestamp,
    lastAttemptAt: Timestamp.nullable(),
    nextAttemptAt: Timestamp.nullable(),
    deliveredAt: Timestamp.nullable(),
  })
  .meta({ id: 'WebhookDelivery' })

export const WebhookDeliveryPage = page(WebhookDelivery)
export const DeliveryQuery = PageQuery
export const DeliveryParams = z.strictObject({ id: Id, deliveryId: Id })
