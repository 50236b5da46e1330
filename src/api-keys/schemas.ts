import { z } from 'zod'
import { Id, page, Timestamp } from '../http/schemas.ts'

/** A key acts at one of these roles; never owner (ownership stays with people). */
export const KeyRole = z.enum(['admin', 'member', 'viewer'])

export const ApiKey = z
  .object({
    id: Id,
    name: z.string(),
    role: KeyRole,
    prefix: z.string().describe('The public part of the key (`tnt_<prefix>_…`): how lists and logs name it'),
    createdAt: Timestamp,
    createdBy: Id.nullable().describe('The admin who created it'),
    expiresAt: Timestamp.nullable().describe('null: it does not expire'),
    lastUsedAt: Timestamp.nullable().describe('The last request made with it, to the minute; null: never used'),
  })
  .meta({ id: 'ApiKey' })

export const CreatedApiKey = ApiKey.extend({
  key: z
    .string()
    .describe(
      'Shown only this once: send it as `Authorization: Bearer <key>`. Only its SHA-256 is stored; a lost key is revoked and replaced.',
    ),
}).meta({ id: 'CreatedApiKey' })

export const ApiKeyPage = page(ApiKey)

const KeyName = z.string().trim().min(1).max(100)

export const CreateApiKeyBody = z
  .strictObject({
    name: KeyName,
    role: KeyRole,
    expiresAt: z.iso
      .datetime({ offset: true })
      .optional()
      .describe('When the key stops working (ISO 8601, in the future); omitted: never'),
  })
  .meta({ examples: [{ name: 'CI deploys', role: 'member', expiresAt: '2027-06-30T00:00:00Z' }] })

export const UpdateApiKeyBody = z
  .strictObject({ name: KeyName.optional(), role: KeyRole.optional() })
  .refine((body) => body.name !== undefined || body.role !== undefined, 'name or role is required')
  .meta({ examples: [{ role: 'viewer' }] })
