import { z } from 'zod'
import { Email, Id, PageQuery, Password, PersonName, page, Slug, TenantName, Timestamp } from '../http/schemas.ts'
import { Plan } from '../tenant/schemas.ts'

export const AdminTenant = z
  .object({
    id: Id,
    slug: z.string(),
    name: z.string(),
    plan: Plan,
    memberCount: z.number().int(),
    itemCount: z.number().int(),
    suspendedAt: Timestamp.nullable(),
    createdAt: Timestamp,
  })
  .meta({ id: 'AdminTenant' })

export const AdminTenantPage = page(AdminTenant)

export const AdminTenantQuery = PageQuery.extend({
  slug: z
    .string()
    .max(63)
    .regex(/^[a-z0-9-]*$/, 'a slug prefix: lower-case letters, digits and hyphens')
    .optional()
    .describe('Only tenants whose slug starts with this'),
})

export const CreateTenantBody = z
  .strictObject({
    name: TenantName,
    slug: Slug,
    plan: Plan.default('free'),
    owner: z.strictObject({
      email: Email,
      name: PersonName,
      password: Password.optional().describe(
        'Creates the owner account with this password. Without it, an owner invitation is returned instead.',
      ),
    }),
  })
  .meta({
    examples: [{ name: 'Beta Labs', slug: 'beta-labs', plan: 'pro', owner: { email: 'bo@example.com', name: 'Bo' } }],
  })

export const CreatedTenant = z
  .object({
    tenant: AdminTenant,
    owner: z.object({
      id: Id.nullable().describe('null until the invitation is accepted by a new account'),
      email: z.string(),
    }),
    invitation: z
      .object({
        token: z.string().describe('Shown once: send it to the owner, who accepts at POST /v1/invitations/accept'),
        expiresAt: Timestamp,
      })
      .optional(),
  })
  .meta({ id: 'CreatedTenant' })

export const UpdateTenantBody = z
  .strictObject({
    plan: Plan.optional(),
    suspended: z.boolean().optional().describe("true: members' next requests get /tenant-suspended; false: resume"),
  })
  .meta({ examples: [{ suspended: true }] })

export const PLATFORM_ACTIONS = [
  'tenant.created',
  'tenant.plan_changed',
  'tenant.suspended',
  'tenant.resumed',
  'tenant.deleted',
] as const

export const PlatformAction = z
  .object({
    id: z.number().int(),
    actor: z.literal('platform'),
    action: z.enum(PLATFORM_ACTIONS),
    tenantId: Id,
    detail: z.record(z.string(), z.unknown()),
    requestId: z.string().nullable(),
    createdAt: Timestamp,
  })
  .meta({ id: 'PlatformAction' })

export const PlatformActionPage = page(PlatformAction)

export const AdminUser = z
  .object({
    id: Id,
    email: z.string(),
    name: z.string(),
    createdVia: z
      .enum(['registration', 'invitation', 'platform'])
      .describe('invitation: the account was created by accepting an invitation, so its email address is unverified'),
    tenantCount: z.number().int(),
    createdAt: Timestamp,
  })
  .meta({ id: 'AdminUser' })

export const AdminUserPage = page(AdminUser)

export const AdminUserQuery = PageQuery.extend({
  email: z.string().max(254).optional().describe('Only accounts whose email starts with this (case-insensitive)'),
})
