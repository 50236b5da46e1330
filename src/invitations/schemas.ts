import { z } from 'zod'
import { Email, Id, Password, PersonName, page, Timestamp } from '../http/schemas.ts'
import { Role } from '../roles.ts'

export const Invitation = z
  .object({
    id: Id,
    email: z.string(),
    role: Role,
    expiresAt: Timestamp,
    createdAt: Timestamp,
    invitedBy: Id.nullable(),
  })
  .meta({ id: 'Invitation' })

export const CreatedInvitation = z
  .object({
    id: Id,
    email: z.string(),
    role: Role,
    expiresAt: Timestamp,
  })
  .meta({ id: 'CreatedInvitation' })

export const InvitationPage = page(Invitation)
export const CreateInvitationBody = z
  .strictObject({ email: Email, role: Role.default('member') })
  .meta({ examples: [{ email: 'bob@example.com', role: 'member' }] })
export const AcceptInvitationBody = z
  .strictObject({
    token: z.string().min(1).max(200),
    name: PersonName.optional().describe('Required for a new account'),
    password: Password.optional().describe("Required: the new account's password, or your existing password"),
  })
  .meta({
    examples: [{ token: 'the token of the mailed invitation link', name: 'Bob', password: 'another good passphrase' }],
  })
