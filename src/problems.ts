import { z } from 'zod'

/**
 * RFC 9457 problem types. `type` is a relative URI reference ending in the slug, e.g.
 * `/problems/plan-limit-exceeded`; clients switch on that last segment.
 */
export const PROBLEM_TYPES = {
  'validation-failed': { status: 400, title: 'Validation failed' },
  unauthorized: { status: 401, title: 'Unauthorized' },
  'invalid-token': { status: 401, title: 'Invalid token' },
  'token-reused': { status: 401, title: 'Refresh token reused' },
  forbidden: { status: 403, title: 'Forbidden' },
  'plan-limit-exceeded': { status: 403, title: 'Plan limit exceeded' },
  'tenant-suspended': { status: 403, title: 'Tenant suspended' },
  'not-found': { status: 404, title: 'Not found' },
  conflict: { status: 409, title: 'Conflict' },
  'last-owner': { status: 409, title: 'Last owner' },
  'payload-too-large': { status: 413, title: 'Payload too large' },
  'unsupported-media-type': { status: 415, title: 'Unsupported media type' },
  'rate-limited': { status: 429, title: 'Too many requests' },
  internal: { status: 500, title: 'Internal server error' },
  unavailable: { status: 503, title: 'Service unavailable' },
} as const

export type ProblemType = keyof typeof PROBLEM_TYPES
export type FieldError = { path: string; message: string }

export const PROBLEM_BASE = '/problems/'

export const ProblemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    instance: z.string().optional(),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
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
      type: PROBLEM_BASE + this.type,
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
