import fastifyJwt from '@fastify/jwt'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import type { FragmentSqlToken } from 'slonik'
import { z } from 'zod'
import type { Config } from '../config.ts'
import {
  isApiKey,
  type KeyIdentity,
  type TenantContext,
  type TokenIdentity,
  type Tx,
  withTenantContext,
  withUserContext,
} from '../db/context.ts'
import { type ApiResponse, apiRead } from '../db/read.ts'
import type { Access } from '../http/access.ts'
import { forbidden, Problem } from '../problems.ts'
import type { Role } from '../roles.ts'
import { apiKeyVerifier, looksLikeApiKey } from './api-keys.ts'

export type { Access }

/** A tenantless token (a user who belongs to no tenant) has tenant_id and role null. */
export type AccessClaims = { sub: string; tenant_id: string | null; role: Role | null; sid: string }

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access
    /**
     * false: a tenant route that API keys may not use even at their role (managing keys).
     * Routes of access `user` (a person: /v1/me, switch, logout, ...) refuse keys anyway.
     */
    apiKeys?: boolean
  }
  interface FastifyRequest {
    /** The verified caller: an access token's user and session, or an API key. */
    identity: TokenIdentity | KeyIdentity | null
    /** Why this request cannot have its route: answered in preParsing, after the rate limits ran. */
    authRefusal: Problem | null
    /** Runs the handler's database work in this request's tenant context (one transaction). */
    inTenant<T>(handler: (tx: Tx, context: TenantContext) => Promise<T>): Promise<T>
    /**
     * A read in one statement: app_api.`fn` sets this request's tenant context and returns the
     * response body as JSON text with its ETag (null: nothing to show, a 404). See src/db/read.ts.
     */
    readInTenant(fn: string, args?: readonly FragmentSqlToken[]): Promise<ApiResponse | null>
    /** The same read for a tenantless token: app_api.`fn` gets a null tenant and sets app.user_id only. */
    readInUser(fn: string, args?: readonly FragmentSqlToken[]): Promise<ApiResponse | null>
    /** The same for routes that need a signed-in user but no tenant (app.user_id only). */
    inUser<T>(handler: (tx: Tx, context: TokenIdentity) => Promise<T>): Promise<T>
  }
}

declare module '@fastify/jwt' {
  interface FastifyJWT {
    payload: AccessClaims
    user: AccessClaims
  }
}

const Claims = z.object({ sub: z.uuid(), tenant_id: z.uuid().nullable(), sid: z.uuid(), exp: z.number() })

const NO_ROLE = new Set<Access>(['public', 'user', 'platform'])

const KEY_IS_NO_USER =
  'an API key acts for its tenant, not for a person: it cannot reach /v1/me, refresh, switch or sign out'

/**
 * Verifies an access token exactly as HTTP requests do (HS256, iss, aud, exp, our claims): the
 * Socket.IO handshake and its `auth` event use it too. Returns the identity (tenantId null for a
 * tenantless token) and the expiry (epoch seconds); throws a Problem.
 */
export async function verifyAccessToken(
  app: FastifyInstance,
  token: string,
): Promise<TokenIdentity & { expiresAt: number }> {
  let claims: unknown
  try {
    claims = await app.jwt.verify(token)
  } catch (error) {
    const code = (error as { code?: string }).code ?? ''
    if (code === 'FAST_JWT_EXPIRED') throw new Problem('invalid-token', 'the access token has expired')
    throw new Problem('invalid-token', 'the access token is invalid')
  }
  const parsed = Claims.safeParse(claims)
  if (!parsed.success) throw new Problem('invalid-token', 'the access token is invalid')
  const { sub, tenant_id, sid, exp } = parsed.data
  return { userId: sub, tenantId: tenant_id, sessionId: sid, expiresAt: exp }
}

/**
 * The tenant a token acts in. A tenantless token (a user who belongs to no tenant) has none:
 * tenant routes and realtime sockets refuse it alike.
 */
export function requireTenant<T extends { tenantId: string | null }>(identity: T): WithTenant<T> {
  const { tenantId } = identity
  if (tenantId === null) {
    throw forbidden('you belong to no tenant yet: accept an invitation or create one (POST /v1/tenants)')
  }
  return { ...identity, tenantId } as unknown as WithTenant<T>
}
/** `T` with a tenant, member by member of a union (an access token's identity or an API key). */
type WithTenant<T> = T extends unknown ? Omit<T, 'tenantId'> & { tenantId: string } : never

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
    /** The least role the route allows, checked against memberships (null: RLS alone decides). */
    const minimumRoleOf = (request: FastifyRequest): Role | null => {
      const access = request.routeOptions.config.access
      return options.enforceRoles && access && !NO_ROLE.has(access) ? (access as Role) : null
    }
    app.decorateRequest('inTenant', function inTenant(handler) {
      if (!this.identity) throw new Problem('unauthorized', 'this route requires an access token')
      const identity = requireTenant(this.identity)
      const minimumRole = minimumRoleOf(this)
      return app.tenantSlots.run(identity.tenantId, () => withTenantContext(app.db, identity, minimumRole, handler))
    })
    app.decorateRequest('readInTenant', function readInTenant(fn, args = []) {
      if (!this.identity) throw new Problem('unauthorized', 'this route requires an access token')
      const identity = requireTenant(this.identity)
      const context = { ...identity, minimumRole: minimumRoleOf(this) }
      return app.tenantSlots.run(identity.tenantId, () => app.db.maybeOne(apiRead(fn, context, args)))
    })
    app.decorateRequest('readInUser', function readInUser(fn, args = []) {
      if (!this.identity) throw new Problem('unauthorized', 'this route requires an access token')
      if (isApiKey(this.identity)) throw forbidden(KEY_IS_NO_USER)
      const context = { ...this.identity, tenantId: null, minimumRole: null }
      return app.db.maybeOne(apiRead(fn, context, args))
    })
    app.decorateRequest('inUser', function inUser(handler) {
      if (!this.identity) throw new Problem('unauthorized', 'this route requires an access token')
      if (isApiKey(this.identity)) throw forbidden(KEY_IS_NO_USER)
      return withUserContext(app.db, this.identity, handler)
    })

    // Verified in onRequest, refused in preParsing (still before the body is read): the rate
    // limits' onRequest hook runs in between, so a request with a bad token is counted against
    // its address, and one with a good token against its tenant.
    app.decorateRequest('authRefusal', null)
    const verifyApiKey = apiKeyVerifier(app.db)
    app.addHook('onRequest', async (request) => {
      const { access, apiKeys } = request.routeOptions.config
      if (access === undefined || access === 'public' || access === 'platform') return
      const bearer = /^Bearer +(\S+)$/i.exec(request.headers.authorization ?? '')
      try {
        if (!bearer) throw new Problem('unauthorized', 'send an access token: Authorization: Bearer <token>')
        const token = bearer[1]!
        if (looksLikeApiKey(token)) {
          // Verified first, so the refusal below is counted on the key's tenant, not its address.
          request.identity = await verifyApiKey(token)
          if (access === 'user') throw forbidden(KEY_IS_NO_USER)
          if (apiKeys === false) throw forbidden('API keys cannot use this route: sign in as an admin')
          return
        }
        const { expiresAt: _, ...identity } = await verifyAccessToken(app, token)
        request.identity = identity
      } catch (error) {
        if (!(error instanceof Problem)) throw error
        request.authRefusal = error
      }
    })
    app.addHook('preParsing', async (request) => {
      if (request.authRefusal) throw request.authRefusal
    })
  },
  { name: 'auth' },
)
