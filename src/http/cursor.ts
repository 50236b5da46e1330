import { z } from 'zod'
import { Problem } from '../problems.ts'

/**
 * Cursors are opaque to clients: base64url JSON of the last row's sort key. A cursor that does
 * not decode to the expected shape is a 400, never a database error.
 */
export function encodeCursor(key: readonly (string | number)[]): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url')
}

/** Cursor shapes, built once: zod compiles a schema on its first parse. */
// A timestamptz as PostgreSQL prints it (`created_at::text`, ISO DateStyle): a numeric offset
// within PostgreSQL's ±15:59:59, never a zone name. A forged `Mars/Olympus` or `+16:00`
// would otherwise reach the server and fail there.
const PgTimestamp = z
  .string()
  .max(64)
  .regex(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,6})?[+-](0\d|1[0-5])(:[0-5]\d){0,2}$/)
  .refine(isCalendarTime, 'not a real date and time')

/** 2026-02-30 or 24:00:01 match the pattern; PostgreSQL would refuse them. */
function isCalendarTime(text: string): boolean {
  const [y, mo, d, h, mi, s] = text.slice(0, 19).split(/[- :]/).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ]
  const date = new Date(Date.UTC(y, mo - 1, d, h, mi, s))
  return (
    date.getUTCFullYear() === y &&
    date.getUTCMonth() === mo - 1 &&
    date.getUTCDate() === d &&
    date.getUTCHours() === h &&
    date.getUTCMinutes() === mi &&
    date.getUTCSeconds() === s
  )
}
export const TimeAndIdCursor = z.tuple([PgTimestamp, z.uuid()])
export const IdCursor = z.tuple([z.number().int()])

export function decodeCursor<T extends z.ZodType>(cursor: string | undefined, shape: T): z.infer<T> | null {
  if (cursor === undefined) return null
  try {
    const parsed = shape.safeParse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')))
    if (parsed.success) return parsed.data
  } catch {}
  throw new Problem('validation-failed', 'the cursor is invalid', {
    errors: [{ path: 'querystring.cursor', message: 'invalid cursor' }],
  })
}

/**
 * Fetches limit + 1 rows; returns the page and the cursor of its last row if more exist. `map`
 * drops a row's internal columns (fieldsOf); rows without any are served as they are.
 */
export function toPage<Row, Out = Row>(
  rows: readonly Row[],
  limit: number,
  key: (row: Row) => readonly (string | number)[],
  map: (row: Row) => Out = (row) => row as unknown as Out,
) {
  const pageRows = rows.slice(0, limit)
  const last = pageRows.at(-1)
  return {
    data: pageRows.map(map),
    nextCursor: rows.length > limit && last !== undefined ? encodeCursor(key(last)) : null,
  }
}
