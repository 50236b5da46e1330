import { z } from 'zod'
import { Id, page, Timestamp } from '../http/schemas.ts'
import { Role } from '../roles.ts'

export const Member = z
  .object({
    userId: Id,
    email: z.string(),
    name: z.string(),
    emailVerifiedAt: Timestamp.nullable().describe('When the member proved their address; null: never'),
    role: Role,
    joinedAt: Timestamp,
  })
  .meta({ id: 'Member' })

export const MemberPage = page(Member)
export const MemberParams = z.strictObject({ userId: Id })
export const ChangeRoleBody = z.strictObject({ role: Role }).meta({ examples: [{ role: 'admin' }] })
