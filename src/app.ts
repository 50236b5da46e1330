import { randomUUID } from 'node:crypto'
import fastifySwagger from '@fastify/swagger'
import fastifySwaggerUi from '@fastify/swagger-ui'
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod'
import type { DatabasePool } from 'slonik'
import { accountPageRoutes } from './account/routes.ts'
import { activityRoutes } from './activities/routes.ts'
import { adminRoutes } from './admin/routes.ts'
import { apiKeyRoutes } from './api-keys/routes.ts'
import { emailRoutes } from './auth/email-routes.ts'
import { type PasswordHasher, passwordsPlugin } from './auth/passwords.ts'
import { authPlugin } from './auth/plugin.ts'
import { sessionPurgePlugin } from './auth/purge.ts'
import { authRoutes } from './auth/routes.ts'
import type { Config } from './config.ts'
import { dashboardRoutes } from './dashboard/routes.ts'
import { databasePlugin } from './db/plugin.ts'
import { healthRoutes, type ReadinessCheck } from './health/routes.ts'
import { refuseWhileClosing } from './http/closing.ts'
import { registerCompression } from './http/compression.ts'
import { registerCors } from './http/cors.ts'
import { frameworkError, registerErrorHandling } from './http/error-handler.ts'
import { jsonBodyParser } from './http/json.ts'
import { transformDocument, transformRoute } from './http/openapi.ts'
import { problemPageRoutes } from './http/problem-pages.ts'
import { registerSecurityHeaders } from './http/security-headers.ts'
import { invitationRoutes } from './invitations/routes.ts'
import { itemRoutes } from './items/routes.ts'
import { limitsPlugin } from './limits/plugin.ts'
import { devMailRoutes } from './mail/routes.ts'
import { memberRoutes } from './members/routes.ts'
import { proxyTrust } from './net.ts'
import { ProblemSchema } from './problems.ts'
import { realtimePlugin } from './realtime/plugin.ts'
import { tenantRoutes } from './tenant/routes.ts'
import { addWebhooks } from './webhooks/openapi.ts'
import { webhookRoutes } from './webhooks/routes.ts'

declare module 'fastify' {
  interface FastifyInstance {
    config: Config
    db: DatabasePool
    /** Every route with its declared access rule (the conformance test walks it). */
    routeCatalog: { method: string; url: string; access: string }[]
    passwords: PasswordHasher
  }
}

export type AppOptions = {
  config: Config
  /** The API role's connection; defaults to config.DATABASE_URL. */
  databaseUrl?: string
  /** Off only in the conformance test, to show the database alone refuses the same requests. */
  enforceRolesInApi?: boolean
  readinessChecks?: ReadinessCheck[]
  logger?: FastifyServerOptions['logger']
}

const API_DESCRIPTION = [
  'Multi-tenant SaaS backend: PostgreSQL row-level security is the security boundary.',
  '',
  '- **Auth**: `POST /v1/auth/register` or `/v1/auth/login` returns an `accessToken` (send it as `Authorization: Bearer …`) and a single-use `refreshToken`. Machine clients send an API key (`tnt_…`) the same way.',
  '- **Errors** are RFC 9457 problems (`application/problem+json`); switch on `type`, which links to a page explaining it (`/problems/<slug>`).',
  '- **Lists** are cursor-paginated: `?limit=` (1–100) and `?cursor=` from the previous page’s `nextCursor`.',
  '- **Concurrency**: items and the tenant carry an `ETag`; send it as `If-Match` when changing them to get 412 instead of overwriting someone else’s change.',
].join('\n')

const TAGS = [
  { name: 'auth', description: 'Accounts, sessions and tokens' },
  { name: 'tenant', description: 'The tenant you are signed in to: its name, plan and broadcasts' },
  { name: 'members', description: 'Who belongs to the tenant, with which role' },
  { name: 'invitations', description: 'Invite people by email; they accept with the token' },
  { name: 'activities', description: 'The append-only activity log (also pushed over Socket.IO)' },
  { name: 'items', description: 'The generic tenant resource' },
  { name: 'api-keys', description: 'Keys for machine clients of the tenant (admins only; shown once)' },
  { name: 'webhooks', description: 'Signed deliveries of the activity log to your HTTPS endpoints, in commit order' },
  { name: 'admin', description: 'The platform operator (PLATFORM_ADMIN_TOKEN): provision, suspend and delete tenants' },
  { name: 'health', description: 'Liveness and readiness for load balancers' },
]

/** Builds the HTTP app; server.ts and the tests both use it. */
export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const { config } = options
  const app = Fastify({
    logger: options.logger ?? {
      level: config.LOG_LEVEL,
      // Tokens and passwords travel in headers and bodies; neither is logged, and just in case:
      redact: [
        'req.headers.authorization',
        'req.headers.cookie',
        '*.password',
        '*.refreshToken',
        '*.accessToken',
        '*.token',
      ],
    },
    bodyLimit: config.BODY_LIMIT,
    // Off unless configured: only a trusted proxy's X-Forwarded-For may set request.ip.
    trustProxy: proxyTrust(config.TRUST_PROXY),
    genReqId: (request) => {
      const given = request.headers['x-request-id']
      return typeof given === 'string' && /^[\w.-]{1,128}$/.test(given) ? given : randomUUID()
    },
    routerOptions: { ignoreTrailingSlash: true },
    frameworkErrors: frameworkError,
    return503OnClosing: false, // refuseWhileClosing answers with a problem instead
  })
  app.decorate('config', config)
  const databaseUrl = options.databaseUrl ?? config.DATABASE_URL
  if (!databaseUrl) throw new Error('buildApp needs a database URL (config.DATABASE_URL)')
  await app.register(databasePlugin, {
    url: databaseUrl,
    maxPoolSize: config.DATABASE_POOL_SIZE,
    perTenant: config.DATABASE_POOL_PER_TENANT,
    perTenantBusy: config.DATABASE_POOL_PER_TENANT_BUSY,
    statementTimeout: config.DATABASE_STATEMENT_TIMEOUT,
    connectionTimeout: config.DATABASE_CONNECTION_TIMEOUT,
  })
  await app.register(passwordsPlugin, {
    cost: config.BCRYPT_COST,
    threads: config.PASSWORD_HASH_THREADS,
    maxQueue: config.PASSWORD_HASH_QUEUE,
  })
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, jsonBodyParser)
  app.setValidatorCompiler(validatorCompiler)
  app.setSerializerCompiler(serializerCompiler)
  await registerCors(app, config.CORS_ORIGINS)
  await registerSecurityHeaders(app)
  await registerCompression(app)
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id)
  })

  registerErrorHandling(app)
  refuseWhileClosing(app)
  app.decorate('routeCatalog', [])
  app.addHook('onRoute', (route) => {
    const access = route.config?.access
    if (route.url.startsWith('/v1/') && access === undefined) {
      throw new Error(`${String(route.method)} ${route.url} declares no access rule (config.access)`)
    }
    for (const method of [route.method].flat()) {
      // HEAD mirrors GET; OPTIONS is @fastify/cors' preflight for every path, not an endpoint.
      if (method !== 'HEAD' && method !== 'OPTIONS') {
        app.routeCatalog.push({ method, url: route.url, access: access ?? 'public' })
      }
    }
    if (!route.schema || route.url.startsWith('/docs') || route.method === 'HEAD') return
    // Serialization of problems: every documented route can answer with one. The OpenAPI
    // document lists the exact statuses instead (src/http/openapi.ts).
    route.schema.response = { ...(route.schema.response as object), '4xx': ProblemSchema, '5xx': ProblemSchema }
    if (access && access !== 'public') {
      route.schema.security = [access === 'platform' ? { platformAdmin: [] } : { bearerAuth: [] }]
      const rule =
        access === 'platform'
          ? 'Requires the platform admin token (`PLATFORM_ADMIN_TOKEN`).'
          : access === 'user'
            ? 'Requires the access token of a signed-in user; a tenantless one is enough.'
            : `Requires the **${access}** role or higher.`
      if (!route.schema.description?.includes(rule)) {
        route.schema.description = [route.schema.description, rule].filter(Boolean).join('\n\n')
      }
    }
  })

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Tenantry API',
        version: '1',
        description: API_DESCRIPTION,
      },
      // Relative: the document describes the server that serves it, wherever it is deployed.
      servers: [{ url: '/', description: 'This server' }],
      tags: TAGS,
      components: {
        securitySchemes: {
          bearerAuth: {
            type: 'http',
            scheme: 'bearer',
            bearerFormat: 'JWT',
            description:
              'The `accessToken` of register, login, refresh, switch or accept (15 minutes), or on tenant routes an API key (`tnt_…`, POST /v1/api-keys).',
          },
          // Only when the admin API is on: an unused scheme is a lint finding, and a hint to attackers.
          ...(config.PLATFORM_ADMIN_TOKEN
            ? {
                platformAdmin: {
                  type: 'http' as const,
                  scheme: 'bearer',
                  description: 'The platform operator: `PLATFORM_ADMIN_TOKEN`.',
                },
              }
            : {}),
        },
      },
    },
    transform: transformRoute,
    transformObject: (input) => addWebhooks(transformDocument(input)),
  })
  await app.register(fastifySwaggerUi, {
    routePrefix: '/docs',
    // No calls to the public validator badge: the docs work offline and under our CSP.
    uiConfig: { validatorUrl: null, displayOperationId: true },
  })

  // Someone who opens the server's address in a browser lands on the API's documentation.
  app.get('/', { config: { access: 'public' }, schema: { hide: true } }, async (_request, reply) =>
    reply.redirect('/docs', 302),
  )

  await app.register(authPlugin, { config, enforceRoles: options.enforceRolesInApi ?? true })
  // After auth: its onRequest hook verifies the token that decides how a request is counted.
  await app.register(limitsPlugin)
  await app.register(problemPageRoutes)
  await app.register(realtimePlugin, { databaseUrl })
  await app.register(dashboardRoutes)
  await app.register(accountPageRoutes)
  await app.register(devMailRoutes)
  await app.register(healthRoutes, { checks: [...(options.readinessChecks ?? []), ...app.realtime.readinessChecks] })
  await app.register(authRoutes)
  await app.register(emailRoutes)
  await app.register(tenantRoutes)
  await app.register(memberRoutes)
  await app.register(invitationRoutes)
  await app.register(activityRoutes)
  await app.register(itemRoutes)
  await app.register(apiKeyRoutes)
  await app.register(webhookRoutes)
  // Unset: the platform admin API does not exist (404 like any unknown route, and undocumented).
  if (config.PLATFORM_ADMIN_TOKEN) await app.register(adminRoutes, { token: config.PLATFORM_ADMIN_TOKEN })
  await app.register(sessionPurgePlugin)
  return app
}
