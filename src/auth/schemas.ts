import { z } from 'zod'
import { Email, Id, Password, PersonName, Slug, TenantName, Timestamp } from '../http/schemas.ts'
import { Role } from '../roles.ts'

export const User = z
  .object({
    id: Id,
    email: z.string(),
    name: z.string(),
    emailVerifiedAt: Timestamp.nullable().describe(
      'When this address was proven (a confirmation link, a password reset or an accepted invitation); null: never',
    ),
  })
  .meta({ id: 'User' })
export const TenantSummary = z
  .object({ id: Id, slug: z.string(), name: z.string(), plan: z.string() })
  .meta({ id: 'TenantSummary' })

export const SessionResponse = z
  .object({
    user: User,
    tenant: TenantSummary.nullable().describe('null: you belong to no tenant yet (a tenantless session)'),
    role: Role.nullable(),
    accessToken: z.string(),
    refreshToken: z.string().describe('Opaque; single use. Exchange it at /v1/auth/refresh.'),
    expiresIn: z.number().int().describe('Access token lifetime in seconds'),
    deviceToken: z
      .string()
      .describe(
        'Keep it on this client and send it as the `x-device-token` header with every later sign-in, invitation ' +
          'accept, account deletion and refresh: it exempts your password checks from the per-account cap of failed ' +
          'sign-ins. The same token comes back while it is valid; store whatever comes back.',
      ),
  })
  .meta({ id: 'Session' })

// The examples are what Swagger UI's "Try it out" sends: register, then login, work as they are.
export const RegisterBody = z
  .strictObject({
    email: Email,
    password: Password,
    name: PersonName,
    tenant: z.strictObject({ name: TenantName, slug: Slug }),
  })
  .meta({
    examples: [
      {
        email: 'ann@example.com',
        password: 'correct horse battery',
        name: 'Ann',
        tenant: { name: 'Acme', slug: 'acme' },
      },
    ],
  })

export const LoginBody = z
  .strictObject({
    email: Email,
    password: z.string().min(1).max(1024),
    tenant: Slug.optional().describe(
      'Slug of the tenant to sign in to; default: the first one you joined that is not suspended',
    ),
  })
  .meta({ examples: [{ email: 'ann@example.com', password: 'correct horse battery' }] })

export const RefreshBody = z
  .strictObject({ refreshToken: z.string().min(1).max(200) })
  .meta({ examples: [{ refreshToken: 'the refreshToken of your last sign-in or refresh' }] })
export const SwitchBody = z
  .strictObject({ tenant: Slug.describe('Slug of another tenant you belong to') })
  .meta({ examples: [{ tenant: 'acme' }] })

export const MeResponse = z
  .object({
    user: User,
    tenant: TenantSummary.nullable().describe('null with a tenantless token'),
    role: Role.nullable(),
    memberships: z.array(z.object({ tenant: TenantSummary, role: Role })),
  })
  .meta({ id: 'Me' })

export const DeleteAccountBody = z
  .strictObject({ password: z.string().min(1).max(1024) })
  .meta({ examples: [{ password: 'correct horse battery' }] })

export const ForgotPasswordBody = z.strictObject({ email: Email }).meta({ examples: [{ email: 'ann@example.com' }] })
export const ResetPasswordBody = z
  .strictObject({ token: z.string().min(1).max(200).describe('From the mailed link'), password: Password })
  .meta({ examples: [{ token: 'the token of the mailed link', password: 'a new good passphrase' }] })
export const ConfirmEmailBody = z
  .strictObject({ token: z.string().min(1).max(200).describe('From the mailed link') })
  .meta({ examples: [{ token: 'the token of the mailed link' }] })
export const ChangePasswordBody = z
  .strictObject({ currentPassword: z.string().min(1).max(1024), password: Password })
  .meta({ examples: [{ currentPassword: 'correct horse battery', password: 'a new good passphrase' }] })
export const ChangeEmailBody = z
  .strictObject({ email: Email, password: z.string().min(1).max(1024) })
  .meta({ examples: [{ email: 'ann@new.example.com', password: 'correct horse battery' }] })
