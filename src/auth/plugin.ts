import fastifyJwt from '@fastify/jwt'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { z } from 'zod'
import type { Config } from '../config.ts'
import { type RequestIdentity, type Role, type TenantContext, type Tx, withTenantContext } from '../db/context.ts'
import { Problem } from '../problems.ts'

/** Who may call a route: anyone, or members of at least this role. */
export type Access = 'public' | Role

export type AccessClaims = { sub: string; tenant_id: string; role: Role; sid: string }

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access
  }
  interface FastifyRequest {
    identity: RequestIdentity | null
    /** Why this request cannot have its route: answered in preParsing, after the rate limits ran. */
    authRefusal: Problem | null
    /** Runs the handler's database work in this request's tenant context (one transaction). */
    inTenant<T>(handler: (tx: Tx, context: TenantContext) => Promise<T>): Promise<T>
  }
}

declare module '@fastify/jwt' {
  interface FastifyJWT {
    payload: AccessClaims
    user: AccessClaims
  }
}

const Claims = z.object({ sub: z.uuid(), tenant_id: z.uuid(), sid: z.uuid() })

async function verifyAccessToken(request: FastifyRequest): Promise<RequestIdentity | Problem> {
  if (!request.headers.authorization) {
    return new Problem('unauthorized', 'send an access token: Authorization: Bearer <token>')
  }
  let claims: unknown
  try {
    claims = await request.jwtVerify()
  } catch (error) {
    const code = (error as { code?: string }).code ?? ''
    if (code === 'FST_JWT_AUTHORIZATION_TOKEN_EXPIRED')
      return new Problem('invalid-token', 'the access token has expired')
    if (code.startsWith('FST_JWT_NO_AUTHORIZATION') || code === 'FST_JWT_BAD_REQUEST') {
      return new Problem('unauthorized', 'send an access token: Authorization: Bearer <token>')
    }
    return new Problem('invalid-token', 'the access token is invalid')
  }
  const parsed = Claims.safeParse(claims)
  if (!parsed.success) return new Problem('invalid-token', 'the access token is invalid')
  return { userId: parsed.data.sub, tenantId: parsed.data.tenant_id, sessionId: parsed.data.sid }
}

/**
 * Access tokens: HS256 only, with iss, aud, exp, iat and our claims all required. A route that
 * is not public verifies the token in onRequest, before the body is read and before it takes a
 * database connection; its handler then runs inside `request.inTenant`, where the database
 * decides the role.
 */
export const authPlugin = fp(
  async (app: FastifyInstance, options: { config: Config; enforceRoles: boolean }) => {
    const { config } = options
    await app.register(fastifyJwt, {
      secret: config.JWT_SECRET,
      sign: {
        algorithm: 'HS256',
        iss: config.JWT_ISSUER,
        aud: config.JWT_AUDIENCE,
        expiresIn: `${config.ACCESS_TOKEN_TTL}s`,
      },
      verify: {
        algorithms: ['HS256'],
        allowedIss: config.JWT_ISSUER,
        allowedAud: config.JWT_AUDIENCE,
        requiredClaims: ['exp', 'iat', 'iss', 'aud', 'sub', 'tenant_id', 'sid'],
      },
    })

    app.decorateRequest('identity', null)
    app.decorateRequest('inTenant', function inTenant(handler) {
      if (!this.identity) throw new Problem('unauthorized', 'this route requires an access token')
      const access = this.routeOptions.config.access
      const minimumRole = options.enforceRoles && access && access !== 'public' ? access : null
      const identity = this.identity
      return app.tenantSlots.run(identity.tenantId, () => withTenantContext(app.db, identity, minimumRole, handler))
    })

    // Verified in onRequest, refused in preParsing (still before the body is read): the rate
    // limits' onRequest hook runs in between, so a request with a bad token is counted against
    // its address, and one with a good token against its tenant.
    app.decorateRequest('authRefusal', null)
    app.addHook('onRequest', async (request) => {
      const access = request.routeOptions.config.access
      if (access === undefined || access === 'public') return
      const verified = await verifyAccessToken(request)
      if (verified instanceof Problem) request.authRefusal = verified
      else request.identity = verified
    })
    app.addHook('preParsing', async (request) => {
      if (request.authRefusal) throw request.authRefusal
    })
  },
  { name: 'auth' },
)
