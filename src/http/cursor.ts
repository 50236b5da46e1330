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
export const TimeAndIdCursor = z.tuple([z.string().max(64), z.uuid()])
export const IdCursor = z.tuple([z.number().int()])
/** A commit-order position: the xid8 (as decimal text) and the id. */
export const PositionCursor = z.tuple([z.string().regex(/^\d{1,20}$/), z.number().int().min(0)])

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

/** Fetches limit + 1 rows; returns the page and the cursor of its last row if more exist. */
export function toPage<Row, Out>(
  rows: readonly Row[],
  limit: number,
  key: (row: Row) => readonly (string | number)[],
  map: (row: Row) => Out,
) {
  const pageRows = rows.slice(0, limit)
  const last = pageRows.at(-1)
  return {
    data: pageRows.map(map),
    nextCursor: rows.length > limit && last !== undefined ? encodeCursor(key(last)) : null,
  }
}
