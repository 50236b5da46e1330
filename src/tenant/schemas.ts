import { z } from 'zod'
import { Id, Slug, TenantName, Timestamp } from '../http/schemas.ts'

export const PLANS = ['free', 'pro', 'enterprise'] as const
export const Plan = z.enum(PLANS)

export const Tenant = z
  .object({
    id: Id,
    slug: z.string(),
    name: z.string(),
    plan: Plan,
    memberLimit: z.number().int().nullable().describe('null: unlimited'),
    memberCount: z.number().int(),
    createdAt: Timestamp,
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
