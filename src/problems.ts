import { z } from 'zod'

/**
 * RFC 9457 problem types. `type` is a relative URI reference ending in the slug, e.g.
 * `/problems/plan-limit-exceeded`; it resolves to a page that explains the problem
 * (`GET /problems/<slug>`), and clients switch on it (the OpenAPI document lists it as an enum).
 */
export const PROBLEM_TYPES = {
  'validation-failed': {
    status: 400,
    title: 'Validation failed',
    means:
      'The request does not match the schema of the operation: a missing or malformed field, an unknown field, a bad path parameter or query parameter.',
    fix: 'Correct the fields listed in `errors` (each has a `path` such as `body.email` and a `message`) and send the request again.',
  },
  unauthorized: {
    status: 401,
    title: 'Unauthorized',
    means:
      'The request carries no usable credentials: no access token, wrong email or password, or a session that has ended (logout, removal from the tenant).',
    fix: 'Sign in again (`POST /v1/auth/login`) and send the access token as `Authorization: Bearer <token>`.',
  },
  'invalid-token': {
    status: 401,
    title: 'Invalid token',
    means: 'The access or refresh token is malformed, expired, or signed for someone else.',
    fix: 'Exchange your refresh token at `POST /v1/auth/refresh` for a new pair; when that fails too, sign in again.',
  },
  'token-reused': {
    status: 401,
    title: 'Refresh token reused',
    means:
      'A refresh token that had already been exchanged was presented again. That is what a stolen token looks like, so the whole session was revoked.',
    fix: 'Sign in again. Exchange each refresh token once and keep only the newest one.',
  },
  forbidden: {
    status: 403,
    title: 'Forbidden',
    means:
      'You are signed in, but your role in this tenant does not allow the operation, or the tenant is not one of yours, ' +
      'or the operator keeps it for themselves: raising a plan (`PLAN_UPGRADES=platform`), or creating more tenants ' +
      'than `TENANTS_PER_USER`.',
    fix: 'Ask an admin or owner of the tenant to do it, or to give you a role that may; for a plan upgrade or more tenants, ask the operator.',
  },
  'plan-limit-exceeded': {
    status: 403,
    title: 'Plan limit exceeded',
    means:
      "The change would take the tenant past one of its plan's quotas: members (members plus pending invitations), items, or the size of one item's payload; or the requested plan is smaller than the tenant already is (members or items). `detail` names the quota.",
    fix: 'Upgrade the plan (`PUT /v1/tenant/plan`), or make room: revoke invitations, remove members, delete items or send a smaller payload.',
  },
  'tenant-suspended': {
    status: 403,
    title: 'Tenant suspended',
    means: 'The platform operator has suspended this tenant; its members cannot use it until it is resumed.',
    fix: 'Contact the operator of this service. Your other tenants are not affected (`POST /v1/auth/switch`).',
  },
  'email-unverified': {
    status: 403,
    title: 'Email address not verified',
    means:
      'This server requires a verified address before sign-in (`EMAIL_VERIFICATION_REQUIRED`), and this account has never confirmed its address. The password was right.',
    fix: 'Open the confirmation link mailed at registration. To get a new one, ask for a password reset (`POST /v1/auth/password/forgot`): resetting also proves the address.',
  },
  'not-found': {
    status: 404,
    title: 'Not found',
    means: 'There is no such resource, or it belongs to another tenant (the two answer the same on purpose).',
    fix: 'Check the id or path; lists such as `GET /v1/items` show what exists in your tenant.',
  },
  'method-not-allowed': {
    status: 405,
    title: 'Method not allowed',
    means: 'The path exists, but not with this HTTP method.',
    fix: 'Use one of the methods in the `Allow` response header.',
  },
  conflict: {
    status: 409,
    title: 'Conflict',
    means: 'The request conflicts with the current state: a slug or email already taken, or a concurrent change.',
    fix: 'Pick another value, or read the resource again and retry.',
  },
  'last-owner': {
    status: 409,
    title: 'Last owner',
    means: 'A tenant always keeps at least one owner, and this change would remove or demote the last one.',
    fix: 'Make another member an owner first (`PATCH /v1/members/{userId}` with `{"role": "owner"}`).',
  },
  'token-expired': {
    status: 410,
    title: 'Link expired or used',
    means:
      'The mailed link (password reset, address confirmation) was already used, was replaced by a newer one, or has expired. Each link works once: reset links for 1 hour, confirmation links for 24 hours.',
    fix: 'Ask for a new link: `POST /v1/auth/password/forgot`, or `POST /v1/me/email/verification` when signed in.',
  },
  'precondition-failed': {
    status: 412,
    title: 'Precondition failed',
    means:
      'The resource changed since you read it: its current `ETag` does not match your `If-Match` header. Nothing was written.',
    fix: 'GET the resource again, apply your change to the fresh copy, and send it with the new `ETag` in `If-Match`.',
  },
  'payload-too-large': {
    status: 413,
    title: 'Payload too large',
    means: 'The request body is larger than this server accepts.',
    fix: 'Send a smaller body; item payloads in particular are limited in size.',
  },
  'unsupported-media-type': {
    status: 415,
    title: 'Unsupported media type',
    means: 'The request body is not JSON.',
    fix: 'Send the body as JSON with `Content-Type: application/json`.',
  },
  'rate-limited': {
    status: 429,
    title: 'Too many requests',
    means: 'You sent more requests than your limit allows in the current window.',
    fix: 'Wait for the number of seconds in the `Retry-After` header; the `RateLimit-*` headers show your budget.',
  },
  internal: {
    status: 500,
    title: 'Internal server error',
    means: 'Something failed on our side. The request was rolled back: nothing was written.',
    fix: 'Retry later. If it persists, report the `x-request-id` response header to the operator.',
  },
  unavailable: {
    status: 503,
    title: 'Service unavailable',
    means: 'A dependency (the database) is down or too slow right now. Nothing was written.',
    fix: 'Retry after a short pause, with backoff.',
  },
} as const satisfies Record<string, { status: number; title: string; means: string; fix: string }>

export type ProblemType = keyof typeof PROBLEM_TYPES
export type FieldError = { path: string; message: string }

export const PROBLEM_BASE = '/problems/'
export const PROBLEM_SLUGS = Object.keys(PROBLEM_TYPES) as ProblemType[]
export const problemUri = (type: ProblemType) => `${PROBLEM_BASE}${type}`

export const ProblemSchema = z
  .object({
    type: z
      .enum(PROBLEM_SLUGS.map(problemUri) as [string, ...string[]])
      .describe('Switch on this. It resolves to a page that explains the problem.'),
    title: z.string().describe('Short, fixed per type'),
    status: z.number().int().min(400).max(599),
    detail: z.string().describe('What went wrong with this request, for people'),
    instance: z.string().optional().describe('The path of the request'),
    errors: z
      .array(z.object({ path: z.string(), message: z.string() }))
      .optional()
      .describe('validation-failed: one entry per invalid field'),
  })
  .meta({ id: 'Problem', description: 'RFC 9457 problem details' })

export type ProblemBody = z.infer<typeof ProblemSchema>

/** An error that is already a well-formed answer for the client. */
export class Problem extends Error {
  readonly type: ProblemType
  readonly status: number
  readonly errors?: FieldError[]
  readonly headers?: Record<string, string>

  constructor(
    type: ProblemType,
    detail: string,
    options: { errors?: FieldError[]; headers?: Record<string, string> } = {},
  ) {
    super(detail)
    this.type = type
    this.status = PROBLEM_TYPES[type].status
    if (options.errors) this.errors = options.errors
    if (options.headers) this.headers = options.headers
  }

  body(instance?: string): ProblemBody {
    return {
      type: problemUri(this.type),
      title: PROBLEM_TYPES[this.type].title,
      status: this.status,
      detail: this.message,
      ...(instance ? { instance } : {}),
      ...(this.errors ? { errors: this.errors } : {}),
    }
  }
}

export const notFound = (what = 'resource') => new Problem('not-found', `${what} not found`)
export const forbidden = (detail = 'your role does not allow this') => new Problem('forbidden', detail)
