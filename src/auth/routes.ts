import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { RequestIdentity, Tx } from '../db/context.ts'
import { Problem } from '../problems.ts'
import * as queries from './queries.ts'
import { LoginBody, MeResponse, RefreshBody, RegisterBody, SessionResponse, SwitchBody } from './schemas.ts'
import { startSessionResponse } from './sessions.ts'
import { hashToken, opaqueToken } from './tokens.ts'

const invalidCredentials = () => new Problem('unauthorized', 'invalid email or password')

export async function authRoutes(fastify: FastifyInstance) {
  const app = fastify.withTypeProvider<ZodTypeProvider>()
  const { config } = app
  const ttl = config.REFRESH_TOKEN_TTL

  const sessionResponse = (tx: Tx, identity: RequestIdentity, refreshToken: string) =>
    startSessionResponse(app, tx, identity, refreshToken)

  app.post(
    '/v1/auth/register',
    {
      config: { access: 'public', throttle: 'auth' },
      schema: {
        tags: ['auth'],
        summary: 'Create an account, its tenant (free plan) and the owner membership',
        body: RegisterBody,
        response: { 201: SessionResponse },
      },
    },
    async (request, reply) => {
      const { email, password, name, tenant } = request.body
      const passwordHash = await app.passwords.hash(password, request.clientKey)
      const refresh = opaqueToken()
      const session = await app.db.transaction(async (tx) => {
        const created = await tx.one(
          queries.register({ email, name, passwordHash, tenantName: tenant.name, tenantSlug: tenant.slug }),
        )
        const opened = await tx.one(queries.openSession(created.user_id, tenant.slug, refresh.hash, ttl))
        return sessionResponse(
          tx,
          { userId: created.user_id, tenantId: opened.tenant_id, sessionId: opened.session_id },
          refresh.token,
        )
      })
      return reply.code(201).send(session)
    },
  )

  app.post(
    '/v1/auth/login',
    {
      config: { access: 'public', throttle: 'login' },
      schema: {
        tags: ['auth'],
        summary: 'Sign in to one of your tenants',
        description: 'An unknown email and a wrong password get the same answer, in the same time.',
        body: LoginBody,
        response: { 200: SessionResponse },
      },
    },
    async (request) => {
      const { email, password, tenant } = request.body
      const candidate = await app.db.maybeOne(queries.loginCandidate(email))
      // Always one bcrypt comparison, against a dummy hash when the email is unknown.
      const valid = await app.passwords.verify(password, candidate?.password_hash ?? null, request.clientKey)
      if (!candidate || !valid) throw invalidCredentials()
      const refresh = opaqueToken()
      return app.db.transaction(async (tx) => {
        const opened = await tx.one(queries.openSession(candidate.user_id, tenant ?? null, refresh.hash, ttl))
        return sessionResponse(
          tx,
          { userId: candidate.user_id, tenantId: opened.tenant_id, sessionId: opened.session_id },
          refresh.token,
        )
      })
    },
  )

  app.post(
    '/v1/auth/refresh',
    {
      config: { access: 'public', throttle: 'auth' },
      schema: {
        tags: ['auth'],
        summary: 'Exchange a refresh token for a new pair (rotation)',
        description:
          'Each refresh token works once. Presenting one that was already exchanged revokes its whole session family (/token-reused).',
        body: RefreshBody,
        response: { 200: SessionResponse },
      },
    },
    async (request) => {
      const next = opaqueToken()
      const result = await app.db.transaction(async (tx) => {
        const rotation = await tx.one(queries.rotateRefreshToken(hashToken(request.body.refreshToken), next.hash, ttl))
        // Reuse must commit its revocation, so it is answered after the transaction, not thrown inside it.
        if (rotation.outcome !== 'rotated') return rotation.outcome
        const identity = { userId: rotation.user_id!, tenantId: rotation.tenant_id!, sessionId: rotation.session_id! }
        return sessionResponse(tx, identity, next.token)
      })
      if (result === 'reused')
        throw new Problem('token-reused', 'this refresh token was already used; its session has been revoked')
      if (result === 'suspended') throw new Problem('tenant-suspended', 'this tenant is suspended')
      if (result === 'invalid') throw new Problem('invalid-token', 'the refresh token is invalid or expired')
      return result
    },
  )

  app.post(
    '/v1/auth/logout',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['auth'],
        summary: 'Revoke this session (its refresh and access tokens)',
        body: z.strictObject({}).nullish(),
        response: { 204: z.null() },
      },
    },
    async (request, reply) => {
      await request.inTenant((tx, context) => tx.query(queries.revokeSession(context.sessionId)))
      return reply.code(204).send(null)
    },
  )

  app.post(
    '/v1/auth/switch',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['auth'],
        summary: 'Get a token pair for another of your tenants',
        body: SwitchBody,
        response: { 200: SessionResponse },
      },
    },
    async (request) => {
      const refresh = opaqueToken()
      return request.inTenant(async (tx, context) => {
        const opened = await tx.one(queries.openSession(context.userId, request.body.tenant, refresh.hash, ttl))
        return sessionResponse(
          tx,
          { userId: context.userId, tenantId: opened.tenant_id, sessionId: opened.session_id },
          refresh.token,
        )
      })
    },
  )

  app.get(
    '/v1/me',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['auth'],
        summary: 'You, the current tenant, your role, and all your memberships',
        response: { 200: MeResponse },
      },
    },
    async (request) =>
      request.inTenant(async (tx, context) => {
        const { user, tenant } = await tx.one(queries.currentUserAndTenant())
        const memberships = await tx.any(queries.myMemberships())
        return { user, tenant, role: context.role, memberships: [...memberships] }
      }),
  )
}
