import { type FragmentSqlToken, type PrimitiveValueExpression, sql } from 'slonik'
import { z } from 'zod'
import type { Role } from '../roles.ts'
import { isApiKey, type RequestIdentity, type TenantCaller } from './context.ts'

/**
 * Who reads, and the least role the route allows (null: the database alone decides): a session
 * or an API key. A null tenant is a tenantless token: only app_api functions that accept one
 * (app_api.me) take it.
 */
export type ReadContext = (TenantCaller | (Omit<RequestIdentity, 'tenantId'> & { tenantId: null })) & {
  minimumRole: Role | null
}

const Response = z.object({ body: z.string(), etag: z.string().nullable() })
export type ApiResponse = z.infer<typeof Response>

/** The SQL types app_api functions take, by their pg_type names (a quoted `int` is no type). */
type SqlType = 'uuid' | 'int4' | 'int8' | 'text' | 'timestamptz'

/** One argument of an app_api function, typed: a prepared statement's parameters need their types. */
export const arg = (value: PrimitiveValueExpression, type: SqlType): FragmentSqlToken =>
  sql.fragment`${value}::${sql.identifier([type])}`

/**
 * A read in one statement (DESIGN.md, "Performance: one round trip per read"):
 * `select body, etag from app_api.<fn>(tenant, user, session, minimum role, ...args)`. The
 * function sets the request context itself (app_api.enter), then returns the response body as
 * JSON text, and the ETag of a single resource; no row when there is nothing to show (a 404).
 * No transaction is opened: the statement's implicit transaction ends the context with it.
 * Prepared once per connection. An API key reads through the same functions: no user, and the
 * key in the session's place (app_api.enter then calls begin_key_request).
 */
export const apiRead = (fn: string, context: ReadContext, args: readonly FragmentSqlToken[] = []) => {
  const [userId, sessionId] = isApiKey(context) ? [null, context.apiKeyId] : [context.userId, context.sessionId]
  return sql.prepared(`tenantry_api_${fn}`, Response)`
    select body, etag from ${sql.identifier(['app_api', fn])}(
      ${context.tenantId}::uuid, ${userId}::uuid, ${sessionId}::uuid,
      ${context.minimumRole}::app_public.membership_role${args.length > 0 ? sql.fragment`, ${sql.join(args, sql.fragment`, `)}` : sql.fragment``}
    )`
}
