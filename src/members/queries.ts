import { sql } from 'slonik'
import { z } from 'zod'
import { NoColumns } from '../db/context.ts'
import { fieldsOf } from '../http/schemas.ts'
import { Member } from './schemas.ts'

// Row schemas at module scope: zod compiles a schema on its first parse.
const RemovedRow = z.object({ user_id: z.uuid() })

// The response schema is the row schema: columns are aliased to its names. sortAt is the exact
// joined-at text the cursor keeps (an ISO string in milliseconds would drop microseconds).
const MemberRow = Member.extend({ sortAt: z.string() })

export const toMember = fieldsOf(Member)

export const changeRole = (userId: string, role: string) =>
  sql.type(MemberRow)`
    with changed as (
      update app_public.memberships set role = ${role}
      where tenant_id = app_public.current_tenant_id() and user_id = ${userId}::uuid
      returning user_id, role, created_at
    )
    select c.user_id as "userId", u.email, u.name, u.email_verified_at as "emailVerifiedAt", c.role, c.created_at as "joinedAt", c.created_at::text as "sortAt"
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
