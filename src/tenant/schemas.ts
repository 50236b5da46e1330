import { z } from 'zod'
import { Id, Slug, TenantName, Timestamp } from '../http/schemas.ts'

export const PLANS = ['free', 'pro', 'enterprise'] as const
export const Plan = z.enum(PLANS)

const Limit = z.number().int().nullable().describe('null: unlimited')

export const TenantUsage = z
  .object({
    members: z.object({ used: z.number().int(), pendingInvitations: z.number().int(), limit: Limit }),
    items: z.object({ used: z.number().int(), limit: Limit }),
    itemPayloadBytes: z.object({ limit: z.number().int().describe('largest payload of one item, as JSON text') }),
    requestsPerMinute: z.object({
      used: z.number().int().describe('requests of this tenant in the current window, this one included'),
      limit: z.number().int(),
      resetSeconds: z.number().int().describe('seconds until the window starts again'),
    }),
  })
  .meta({ id: 'TenantUsage', description: "Usage against every limit of the tenant's plan" })

export const Tenant = z
  .object({
    id: Id,
    slug: z.string(),
    name: z.string(),
    plan: Plan,
    memberLimit: z.number().int().nullable().describe('null: unlimited'),
    memberCount: z.number().int(),
    createdAt: Timestamp,
    usage: TenantUsage,
  })
  .meta({ id: 'Tenant' })

export const UpdateTenantBody = z.strictObject({ name: TenantName }).meta({ examples: [{ name: 'Acme Corporation' }] })
export const ChangePlanBody = z.strictObject({ plan: Plan }).meta({ examples: [{ plan: 'pro' }] })
export const BroadcastBody = z
  .strictObject({ message: z.string().trim().min(1).max(1000) })
  .meta({ examples: [{ message: 'Maintenance tonight at 22:00 UTC' }] })
export const CreateTenantBody = z
  .strictObject({ name: TenantName, slug: Slug })
  .meta({ examples: [{ name: 'Beta Labs', slug: 'beta-labs' }] })
