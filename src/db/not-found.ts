import type { CommonQueryMethods, QuerySqlToken } from 'slonik'
import type { z } from 'zod'
import { notFound } from '../problems.ts'

/**
 * The one row a query returns, or a 404 `/not-found` problem naming `what` when it returns
 * none: RLS hides another tenant's row exactly as if it did not exist, so both answer the same.
 */
export async function oneOrNotFound<T extends z.ZodType>(
  db: CommonQueryMethods,
  query: QuerySqlToken<T>,
  what: string,
): Promise<z.output<T>> {
  const row = await db.maybeOne(query)
  if (row === null) throw notFound(what)
  return row as z.output<T>
}
