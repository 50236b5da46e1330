import type { RouteOptions } from 'fastify'
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod'
import { PROBLEM_TYPES, type ProblemType, problemUri } from '../problems.ts'
import type { Access } from './access.ts'

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * Problems this route raises itself (a missing row, a conflict, a failed precondition...).
     * The ones every route of its kind can answer (validation, auth, rate limit, 5xx) are added
     * by `routeProblems`; together they are documented as application/problem+json responses.
     */
    problems?: ProblemType[]
    /** What each success response means, by status (OpenAPI response descriptions). */
    responses?: Record<number, string>
    /** The success response carries an ETag (and the route honours If-Match / If-None-Match). */
    etag?: boolean
  }
}

type Route = Pick<RouteOptions, 'url' | 'schema' | 'config'>

/** Every problem type a route can answer with: its own, plus those that come with its shape. */
export function routeProblems(route: Route): ProblemType[] {
  const schema = route.schema ?? {}
  const access = (route.config as { access?: Access } | undefined)?.access ?? 'public'
  const found = new Set<ProblemType>((route.config as { problems?: ProblemType[] } | undefined)?.problems ?? [])
  if (schema.body || schema.querystring || schema.params || schema.headers) found.add('validation-failed')
  if (schema.body) {
    found.add('payload-too-large')
    found.add('unsupported-media-type')
  }
  if (access !== 'public') {
    for (const type of ['unauthorized', 'invalid-token', 'tenant-suspended'] as const) found.add(type)
    if (access !== 'viewer') found.add('forbidden')
  }
  // Every response passes the rate limiter; everything under /v1 needs the database.
  found.add('rate-limited')
  if (route.url.startsWith('/v1/')) found.add('unavailable')
  found.add('internal')
  return [...found].sort((a, b) => PROBLEM_TYPES[a].status - PROBLEM_TYPES[b].status)
}

const header = (description: string, schema: Record<string, unknown> = { type: 'string' }) => ({
  description,
  ...schema,
})

const HEADERS = {
  location: header('Where the created resource can be read'),
  etag: header('The version of this representation; send it back in If-Match to change it safely'),
  wwwAuthenticate: header('RFC 6750: `Bearer realm="tenantry"`, with `error="invalid_token"` when a token was refused'),
  retryAfter: header('Seconds to wait before the next request', { type: 'integer' }),
}

const PROBLEM_JSON = 'application/problem+json'

/**
 * What a client reads in `detail`, per type, for the examples. Without examples of their own,
 * Swagger UI and generated mocks drew every error response from the schema alone, and every one
 * then showed a 400 `/validation-failed` (the first value of the `type` enum).
 */
const EXAMPLE_DETAIL: Partial<Record<ProblemType, string>> = {
  'validation-failed': 'the request does not match the schema',
  unauthorized: 'no access token: send Authorization: Bearer <accessToken>',
  'invalid-token': 'the access token has expired',
  'token-reused': 'this refresh token was already exchanged; the session has been revoked',
  forbidden: 'your role does not allow this',
  'plan-limit-exceeded': 'the free plan allows 3 members (members plus pending invitations)',
  'tenant-suspended': 'this tenant is suspended',
  'not-found': 'item not found',
  conflict: 'that slug is already taken',
  'last-owner': 'a tenant keeps at least one owner',
  'precondition-failed': 'the resource changed since the ETag you sent',
  'payload-too-large': 'the body is larger than 65536 bytes',
  'unsupported-media-type': 'send the body as application/json',
  'rate-limited': 'too many requests; retry in 12 seconds',
  internal: 'something failed on our side; nothing was written',
  unavailable: 'the database is not answering; nothing was written',
}

/** One named example per problem type a response can carry, each with its own type and status. */
function problemExamples(types: ProblemType[], url: string): Record<string, { summary: string; value: unknown }> {
  const instance = url.replace(/:(\w+)/g, (_, name: string) =>
    name === 'id' || name === 'userId' ? '0b6f3b1e-5d4c-4d0e-9a51-6f7f1c2d3e4a' : name,
  )
  return Object.fromEntries(
    types.map((type) => [
      type,
      {
        summary: PROBLEM_TYPES[type].title,
        value: {
          type: problemUri(type),
          title: PROBLEM_TYPES[type].title,
          status: PROBLEM_TYPES[type].status,
          detail: EXAMPLE_DETAIL[type] ?? PROBLEM_TYPES[type].means,
          instance,
          ...(type === 'validation-failed' ? { errors: [{ path: 'body.name', message: 'Required' }] } : {}),
        },
      },
    ]),
  )
}

/**
 * Per route, on top of fastify-type-provider-zod's transform: exact error responses (each status
 * the route can answer, as application/problem+json, with what each problem type means), real
 * success descriptions, response headers, and `security: []` on public routes. The `4xx`/`5xx`
 * wildcards that app.ts adds for serialization are not documented: clients see exact statuses.
 */
export const transformRoute: typeof jsonSchemaTransform = (input) => {
  const transformed = jsonSchemaTransform(input)
  const schema = transformed.schema as (Record<string, unknown> & { hide?: boolean }) | undefined
  if (!schema || schema.hide) return transformed
  const route = input.route as Route
  const config = (route.config ?? {}) as { access?: Access; responses?: Record<number, string>; etag?: boolean }
  const responses = (schema.response ?? {}) as Record<string, Record<string, unknown>>
  const documented: Record<string, unknown> = {}

  const problemSchema = responses['4xx']
  const isProblem = (json: Record<string, unknown>) => JSON.stringify(json) === JSON.stringify(problemSchema)
  for (const [status, json] of Object.entries(responses)) {
    const code = Number(status)
    // Statuses with their own body (GET /ready answers 503 with its checks) are documented as declared.
    if (!/^\d{3}$/.test(status) || (code >= 400 && isProblem(json))) continue
    const headers: Record<string, unknown> = {}
    if (code === 201) headers.Location = HEADERS.location
    if ((code === 200 || code === 201) && config.etag) headers.ETag = HEADERS.etag
    documented[status] = {
      ...json,
      description: config.responses?.[code] ?? 'Success',
      ...(Object.keys(headers).length > 0 ? { headers } : {}),
    }
  }

  const byStatus = new Map<number, ProblemType[]>()
  for (const type of routeProblems(route)) {
    const { status } = PROBLEM_TYPES[type]
    byStatus.set(status, [...(byStatus.get(status) ?? []), type])
  }
  for (const [status, types] of byStatus) {
    if (documented[status]) continue
    const headers: Record<string, unknown> = {}
    if (status === 401) headers['WWW-Authenticate'] = HEADERS.wwwAuthenticate
    if (status === 429) headers['Retry-After'] = HEADERS.retryAfter
    documented[status] = {
      description: types.map((type) => `${PROBLEM_TYPES[type].title} (\`${problemUri(type)}\`)`).join('; or '),
      ...(Object.keys(headers).length > 0 ? { headers } : {}),
      content: { [PROBLEM_JSON]: { schema: problemSchema, examples: problemExamples(types, route.url) } },
    }
  }

  const isPublic = (config.access ?? 'public') === 'public'
  const documentedSchema: Record<string, unknown> = {
    ...schema,
    response: documented,
    ...(isPublic ? { security: [] } : {}),
  }
  // A body schema that accepts no body (logout's) exists only to refuse stray fields; clients are
  // told to send none (fastify-swagger would mark any body as required).
  const body = (route.schema as { body?: { safeParse?: (value: unknown) => { success: boolean } } } | undefined)?.body
  if (body?.safeParse?.(undefined).success) delete documentedSchema.body
  return { ...transformed, schema: documentedSchema }
}

/**
 * The whole document, after fastify-type-provider-zod: components no operation references are
 * dropped (zod registers every schema with an id twice, as input and output), and the integer
 * bounds zod writes for "a safe integer" (±2^53−1) are removed: they are implicit, and Swagger UI
 * showed them as sample values.
 */
export const transformDocument: typeof jsonSchemaTransformObject = (input) => {
  const document = jsonSchemaTransformObject(input) as Record<string, unknown> & {
    components?: { schemas?: Record<string, unknown> }
  }
  stripSafeIntegerBounds(document)
  const schemas = document.components?.schemas ?? {}
  const used = new Set<string>()
  const visit = (value: unknown) => {
    if (Array.isArray(value)) {
      for (const item of value) visit(item)
    } else if (value && typeof value === 'object') {
      for (const [key, inner] of Object.entries(value)) {
        if (key === '$ref' && typeof inner === 'string' && inner.startsWith('#/components/schemas/')) {
          const name = decodeURIComponent(inner.slice('#/components/schemas/'.length))
          if (!used.has(name)) {
            used.add(name)
            visit(schemas[name])
          }
        } else {
          visit(inner)
        }
      }
    }
  }
  visit(document.paths)
  if (document.components?.schemas) {
    document.components.schemas = Object.fromEntries(Object.entries(schemas).filter(([name]) => used.has(name)))
  }
  return document as ReturnType<typeof jsonSchemaTransformObject>
}

const SAFE = Number.MAX_SAFE_INTEGER

function stripSafeIntegerBounds(value: unknown): void {
  if (Array.isArray(value)) {
    for (const item of value) stripSafeIntegerBounds(item)
    return
  }
  if (!value || typeof value !== 'object') return
  const record = value as Record<string, unknown>
  if (record.minimum === -SAFE) delete record.minimum
  if (record.maximum === SAFE) delete record.maximum
  for (const inner of Object.values(record)) stripSafeIntegerBounds(inner)
}
