import { sql } from 'slonik'
import { z } from 'zod'
import { NoColumns } from '../db/context.ts'
import { Role } from '../roles.ts'

// Row schemas at module scope: zod compiles a schema on its first parse.
const RemovedRow = z.object({ user_id: z.uuid() })

const MemberRow = z.object({
  user_id: z.uuid(),
  email: z.string(),
  name: z.string(),
  role: Role,
  created_at: z.string(),
  sort_at: z.string(),
})
type MemberRow = z.infer<typeof MemberRow>

export const toMember = (row: MemberRow) => ({
  userId: row.user_id,
  email: row.email,
  name: row.name,
  role: row.role,
  joinedAt: row.created_at,
})
// The cursor keeps the exact timestamp text: an ISO string in milliseconds would drop microseconds.
export const memberCursor = (row: MemberRow) => [row.sort_at, row.user_id] as const

/**
 * Oldest member first. The tenant predicate is repeated on purpose: the memberships select
 * policy also shows the caller's own memberships in other tenants (GET /v1/me lists them), so
 * without it this list would include them. README, "Security model", says why in full.
 */
export const listMembers = (after: readonly [string, string] | null, limit: number) =>
  sql.type(MemberRow)`
    select m.user_id, u.email, u.name, m.role, m.created_at, m.created_at::text as sort_at
    from app_public.memberships m
    join app_public.users u on u.id = m.user_id
    where m.tenant_id = app_public.current_tenant_id()
      ${after ? sql.fragment`and (m.created_at, m.user_id) > (${after[0]}::timestamptz, ${after[1]}::uuid)` : sql.fragment``}
    order by m.created_at, m.user_id
    limit ${limit + 1}`

export const changeRole = (userId: string, role: string) =>
  sql.type(MemberRow)`
    with changed as (
      update app_public.memberships set role = ${role}
      where tenant_id = app_public.current_tenant_id() and user_id = ${userId}::uuid
      returning user_id, role, created_at
    )
    select c.user_id, u.email, u.name, c.role, c.created_at, c.created_at::text as sort_at
    from changed c join app_public.users u on u.id = c.user_id`

export const removeMember = (userId: string) =>
  sql.type(RemovedRow)`
    delete from app_public.memberships
    where tenant_id = app_public.current_tenant_id() and user_id = ${userId}::uuid
    returning user_id`

export const memberVisible = (userId: string) =>
  sql.type(NoColumns)`
    select from app_public.memberships
    where tenant_id = app_public.current_tenant_id() and user_id = ${userId}::uuid`
