import { z } from 'zod'
import { Role } from '../db/context.ts'
import { Id, page, Timestamp } from '../http/schemas.ts'

export const Member = z
  .object({ userId: Id, email: z.string(), name: z.string(), role: Role, joinedAt: Timestamp })
  .meta({ id: 'Member' })

export const MemberPage = page(Member)
export const MemberParams = z.strictObject({ userId: Id })
export const ChangeRoleBody = z.strictObject({ role: Role }).meta({ examples: [{ role: 'admin' }] })
