import { randomUUID } from 'node:crypto'
import fastifySwagger from '@fastify/swagger'
import fastifySwaggerUi from '@fastify/swagger-ui'
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import {
  jsonSchemaTransform,
  jsonSchemaTransformObject,
  serializerCompiler,
  validatorCompiler,
} from 'fastify-type-provider-zod'
import type { DatabasePool } from 'slonik'
import { activityRoutes } from './activities/routes.ts'
import { type PasswordHasher, passwordsPlugin } from './auth/passwords.ts'
import { authPlugin } from './auth/plugin.ts'
import { authRoutes } from './auth/routes.ts'
import type { Config } from './config.ts'
import { databasePlugin } from './db/plugin.ts'
import { healthRoutes, type ReadinessCheck } from './health/routes.ts'
import { refuseWhileClosing } from './http/closing.ts'
import { frameworkError, registerErrorHandling } from './http/error-handler.ts'
import { jsonBodyParser } from './http/json.ts'
import { invitationRoutes } from './invitations/routes.ts'
import { itemRoutes } from './items/routes.ts'
import { memberRoutes } from './members/routes.ts'
import { ProblemSchema } from './problems.ts'
import { tenantRoutes } from './tenant/routes.ts'

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
    statementTimeout: config.DATABASE_STATEMENT_TIMEOUT,
    connectionTimeout: config.DATABASE_CONNECTION_TIMEOUT,
  })
  await app.register(passwordsPlugin, { cost: config.BCRYPT_COST, threads: config.PASSWORD_HASH_THREADS })
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, jsonBodyParser)
  app.setValidatorCompiler(validatorCompiler)
  app.setSerializerCompiler(serializerCompiler)
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
      if (method !== 'HEAD') app.routeCatalog.push({ method, url: route.url, access: access ?? 'public' })
    }
    if (!route.schema || route.url.startsWith('/docs')) return
    // Every documented route can answer with a problem.
    route.schema.response = { ...(route.schema.response as object), '4xx': ProblemSchema, '5xx': ProblemSchema }
    if (access && access !== 'public') {
      route.schema.security = [{ bearerAuth: [] }]
      route.schema.description = [route.schema.description, `Requires the **${access}** role or higher.`]
        .filter(Boolean)
        .join('\n\n')
    }
  })

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Tenantry API',
        version: '1',
        description:
          'Multi-tenant SaaS backend; PostgreSQL row-level security is the security boundary. Errors are RFC 9457 problems.',
      },
      components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
    },
    transform: jsonSchemaTransform,
    transformObject: jsonSchemaTransformObject,
  })
  await app.register(fastifySwaggerUi, { routePrefix: '/docs' })

  await app.register(authPlugin, { config, enforceRoles: options.enforceRolesInApi ?? true })
  await app.register(healthRoutes, { checks: options.readinessChecks ?? [] })
  await app.register(authRoutes)
  await app.register(tenantRoutes)
  await app.register(memberRoutes)
  await app.register(invitationRoutes)
  await app.register(activityRoutes)
  await app.register(itemRoutes)
  return app
}
