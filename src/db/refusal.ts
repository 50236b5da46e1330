import type { QuerySqlToken } from 'slonik'
import { forbidden, notFound, type Problem } from '../problems.ts'
import type { Tx } from './context.ts'

/**
 * An UPDATE or DELETE that RLS filtered out affects no row, just like one whose target does not
 * exist. Telling them apart is one more query on the failure path only: a row the caller can
 * see but not change is a 403, a row they cannot see (another tenant's included) a 404.
 */
export async function refusal(tx: Tx, visible: QuerySqlToken, what: string): Promise<Problem> {
  return (await tx.exists(visible)) ? forbidden() : notFound(what)
}
