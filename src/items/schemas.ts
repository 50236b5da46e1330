import { z } from 'zod'
import { Id, page, Timestamp } from '../http/schemas.ts'

const ItemName = z.string().trim().min(1).max(200)
const StoredPayload = z
  .record(z.string(), z.unknown())
  .describe(
    'Any JSON object, as large as the plan allows (GET /v1/tenant: usage.itemPayloadBytes; 16 KiB on free and pro)',
  )
// Input only: PostgreSQL's jsonb cannot hold U+0000; refuse it here rather than fail in the driver.
const Payload = StoredPayload.refine(
  (value) => !JSON.stringify(value).includes('\\u0000'),
  'must not contain NUL (U+0000) characters',
)

export const Item = z
  .object({
    id: Id,
    name: z.string(),
    payload: StoredPayload,
    createdAt: Timestamp,
    updatedAt: Timestamp,
    createdBy: Id.nullable(),
  })
  .meta({ id: 'Item' })

export const ItemPage = page(Item)
export const CreateItemBody = z
  .strictObject({ name: ItemName, payload: Payload.default({}) })
  .meta({ examples: [{ name: 'Quarterly report', payload: { status: 'draft', pages: 12 } }] })
export const UpdateItemBody = z
  .strictObject({ name: ItemName.optional(), payload: Payload.optional() })
  .refine((body) => body.name !== undefined || body.payload !== undefined, 'send name, payload or both')
  .meta({ examples: [{ payload: { status: 'final', pages: 14 } }] })
