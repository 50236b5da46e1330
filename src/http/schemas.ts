import { z } from 'zod'

// Shared field schemas. Request objects are strict: unknown keys (tenant_id, role, plan...) are a 400.

export const Email = z
  .email()
  .max(254)
  .overwrite((value) => value.toLowerCase())
export const Password = z
  .string()
  .min(8)
  .refine((value) => Buffer.byteLength(value) <= 72, 'must be at most 72 bytes (bcrypt ignores the rest)')
export const PersonName = z.string().trim().min(1).max(100)
export const TenantName = z.string().trim().min(1).max(100)
export const Slug = z
  .string()
  .min(2)
  .max(63)
  .regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/, 'lower-case letters, digits and inner hyphens')
export const Id = z.uuid()
export const Timestamp = z.string().meta({ format: 'date-time' })

export const IdParams = z.strictObject({ id: Id })

/**
 * 202 of every request that may send mail: the same body whatever happened (an unknown address,
 * a spent budget), so the answer never tells whether an account exists.
 */
export const Accepted = z
  .object({ message: z.string() })
  .meta({ id: 'Accepted', examples: [{ message: 'If the address can receive it, a mail is on its way.' }] })

/** Keyset pagination: `?limit=1..100` (default 20) and the opaque `?cursor=` from the last page. */
export const PageQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().max(500).optional(),
})

export const page = <T extends z.ZodType>(item: T) =>
  z.object({ data: z.array(item), nextCursor: z.string().nullable() })

/**
 * The public fields of a row, as `schema` lists them. Queries alias their columns to the
 * response's camelCase names, so a row already is a response; rows that also carry an internal
 * column (a cursor's sort key, a commit-order position) pass through here to drop it before a
 * client sees them — the serializer would strip it over HTTP, but a socket.io event has no
 * serializer and an ETag is computed from the object itself.
 */
export const fieldsOf = <S extends z.ZodObject>(schema: S) => {
  const keys = Object.keys(schema.shape)
  return (row: z.output<S>): z.output<S> =>
    Object.fromEntries(keys.map((key) => [key, (row as Record<string, unknown>)[key]])) as z.output<S>
}
