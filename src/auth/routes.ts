import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { TokenIdentity, Tx } from '../db/context.ts'
import { problemFromDatabaseError } from '../db/errors.ts'
import { sendJsonText } from '../http/json-text.ts'
import { Accepted } from '../http/schemas.ts'
import { accountKey } from '../limits/client.ts'
import { mailToken, sealer } from '../mail/seal.ts'
import { forbidden, Problem } from '../problems.ts'
import { DeviceTokenHeaders, presentedDeviceToken } from './devices.ts'
import { MAIL_ACCEPTED } from './email-routes.ts'
import * as queries from './queries.ts'
import {
  DeleteAccountBody,
  LoginBody,
  MeResponse,
  RefreshBody,
  RegisterBody,
  SessionResponse,
  SwitchBody,
} from './schemas.ts'
import { startSessionResponse } from './sessions.ts'
import { hashToken, opaqueToken, refreshSuccessors } from './tokens.ts'

const invalidCredentials = () => new Problem('unauthorized', 'invalid email or password')

export async function authRoutes(fastify: FastifyInstance) {
  const app = fastify.withTypeProvider<ZodTypeProvider>()
  const { config } = app
  const ttl = config.REFRESH_TOKEN_TTL
  const lifetimes = {
    ttl,
    reuseInterval: config.REFRESH_REUSE_INTERVAL,
    sessionMaxAge: config.SESSION_MAX_AGE,
  }

  const successorOf = refreshSuccessors(config.JWT_SECRET)
  const seal = sealer(config.JWT_SECRET)
  const verificationRequired = config.EMAIL_VERIFICATION_REQUIRED

  const sessionResponse = (tx: Tx, identity: TokenIdentity, refreshToken: string, request: FastifyRequest) =>
    startSessionResponse(app, tx, identity, refreshToken, presentedDeviceToken(request))

  /**
   * Signs `userId` in: opens a session in the tenant `tenantSlug` (null: their first tenant, or
   * a tenantless session when they have none) and answers with its token pair. The one way
   * register, login and switch start a session.
   */
  const openSessionResponse = async (tx: Tx, userId: string, tenantSlug: string | null, request: FastifyRequest) => {
    const refresh = opaqueToken()
    const opened = await tx.one(queries.openSession(userId, tenantSlug, refresh.hash, ttl))
    const identity = { userId, tenantId: opened.tenant_id, sessionId: opened.session_id }
    return sessionResponse(tx, identity, refresh.token, request)
  }

  app.post(
    '/v1/auth/register',
    {
      config: {
        access: 'public',
        throttle: 'auth',
        createsTenant: true,
        problems: ['conflict'],
        responses: {
          201: 'Signed in as the owner of the new tenant; `Location` is your account (`/v1/me`)',
          202: 'With EMAIL_VERIFICATION_REQUIRED: check your mail (the same answer for a taken address)',
        },
      },
      schema: {
        operationId: 'register',
        tags: ['auth'],
        summary: 'Create an account, its tenant (free plan) and the owner membership',
        description:
          'Mails a confirmation link to the address. Answers with a token pair, as login does; a taken email or ' +
          'tenant slug is a `/problems/conflict`. When the server sets EMAIL_VERIFICATION_REQUIRED, it answers 202 ' +
          'instead, the same way for a new and a taken address (whose owner is told by mail), and you sign in once ' +
          'the address is confirmed; a taken tenant slug is still a conflict.',
        body: RegisterBody,
        headers: DeviceTokenHeaders,
        response: { 201: SessionResponse, 202: Accepted },
      },
    },
    async (request, reply) => {
      const { email, password, name, tenant } = request.body
      const passwordHash = await app.passwords.hash(password, [request.clientKey, accountKey(email)])
      const input = { email, name, passwordHash, tenantName: tenant.name, tenantSlug: tenant.slug }
      if (verificationRequired) {
        await app.db.query(queries.registerAccount(input, mailToken(seal), true))
        return reply.code(202).send(MAIL_ACCEPTED)
      }
      const session = await app.db.transaction(async (tx) => {
        const created = await tx.one(queries.registerAccount(input, mailToken(seal), false))
        return openSessionResponse(tx, created.user_id, tenant.slug, request)
      })
      return reply.code(201).header('location', '/v1/me').send(session)
    },
  )

  app.post(
    '/v1/auth/login',
    {
      config: {
        access: 'public',
        throttle: 'password',
        problems: ['unauthorized', 'email-unverified', 'tenant-suspended'],
        responses: { 200: 'Signed in: a token pair for the tenant' },
      },
      schema: {
        operationId: 'login',
        tags: ['auth'],
        summary: 'Sign in to one of your tenants',
        description:
          'An unknown email and a wrong password get the same answer, in the same time. ' +
          'A user who belongs to no tenant gets a tenantless session (`tenant: null`): enough to accept an invitation, ' +
          'create a tenant (POST /v1/tenants) and switch to it, or delete the account. ' +
          'Without the `x-device-token` of an earlier sign-in, attempts count against the per-account cap. ' +
          'With EMAIL_VERIFICATION_REQUIRED, an address never confirmed is refused with `/problems/email-unverified` ' +
          '(only once the password checked out).',
        body: LoginBody,
        headers: DeviceTokenHeaders,
        response: { 200: SessionResponse },
      },
    },
    async (request, reply) => {
      const { email, password, tenant } = request.body
      const client = await app.passwordAttempt(request, reply, email)
      const candidate = await app.db.maybeOne(queries.loginCandidate(email))
      // Always one bcrypt comparison, against a dummy hash when the email is unknown.
      const valid = await app.passwords.verify(password, candidate?.password_hash ?? null, client)
      if (!candidate || !valid) throw invalidCredentials()
      if (verificationRequired && !(await app.db.one(queries.emailVerified(candidate.user_id))).verified) {
        throw new Problem('email-unverified', 'confirm your address with the link mailed to it before signing in')
      }
      return app.db.transaction((tx) => openSessionResponse(tx, candidate.user_id, tenant ?? null, request))
    },
  )

  app.post(
    '/v1/auth/refresh',
    {
      config: {
        access: 'public',
        throttle: 'auth',
        problems: ['invalid-token', 'token-reused', 'tenant-suspended'],
        responses: { 200: 'A new token pair of the same session' },
      },
      schema: {
        operationId: 'refreshSession',
        tags: ['auth'],
        summary: 'Exchange a refresh token for a new pair (rotation)',
        description:
          'Each refresh token is exchanged once. Within REFRESH_REUSE_INTERVAL seconds of that exchange (default 10), ' +
          'the same token may be presented again (a second tab, a lost response) and yields the same new refresh token ' +
          '(with a fresh access token), so a session is always one chain; ' +
          'any other replay revokes the whole session (/token-reused). A session ends SESSION_MAX_AGE after its sign-in.',
        body: RefreshBody,
        headers: DeviceTokenHeaders,
        response: { 200: SessionResponse },
      },
    },
    async (request) => {
      const next = successorOf(request.body.refreshToken)
      const result = await app.db.transaction(async (tx) => {
        const rotation = await tx.one(
          queries.rotateRefreshToken(hashToken(request.body.refreshToken), next.hash, lifetimes),
        )
        // Reuse must commit its revocation, so it is answered after the transaction, not thrown inside it.
        if (rotation.outcome !== 'rotated') return rotation.outcome
        const identity = { userId: rotation.user_id!, tenantId: rotation.tenant_id, sessionId: rotation.session_id! }
        return sessionResponse(tx, identity, next.token, request)
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
      config: {
        access: 'user',
        responses: { 204: 'Signed out: the refresh token and the access token no longer work' },
      },
      schema: {
        operationId: 'logout',
        tags: ['auth'],
        summary: 'Revoke this session (its refresh and access tokens)',
        description:
          'Takes no body (an empty one with `Content-Type: application/json` is fine). Other sessions stay signed in.',
        body: z.strictObject({}).nullish(),
        response: { 204: z.null() },
      },
    },
    async (request, reply) => {
      await request.inUser((tx, context) => tx.query(queries.revokeSession(context.sessionId)))
      return reply.code(204).send(null)
    },
  )

  app.post(
    '/v1/auth/switch',
    {
      config: {
        access: 'user',
        problems: ['forbidden'],
        responses: { 200: 'A token pair for the other tenant (a new session)' },
      },
      schema: {
        operationId: 'switchTenant',
        tags: ['auth'],
        summary: 'Get a token pair for another of your tenants',
        description:
          'Also from a tenantless session, e.g. right after creating a tenant with POST /v1/tenants. ' +
          'A tenant you do not belong to, or one that does not exist, is refused with `/problems/forbidden` (your current session stays valid).',
        body: SwitchBody,
        headers: DeviceTokenHeaders,
        response: { 200: SessionResponse },
      },
    },
    async (request) => {
      return request.inUser((tx, context) =>
        openSessionResponse(tx, context.userId, request.body.tenant, request).catch((error: unknown) => {
          // open_session refuses a non-member with TN401, which at login means "bad credentials". Here the
          // caller is signed in: it is a 403, so clients do not sign the user out. Unknown slugs answer the same.
          if (problemFromDatabaseError(error)?.type === 'unauthorized') {
            throw new Problem('forbidden', 'you are not a member of that tenant')
          }
          throw error
        }),
      )
    },
  )

  app.get(
    '/v1/me',
    {
      config: { access: 'user', responses: { 200: 'You, the current tenant and your memberships' } },
      schema: {
        operationId: 'getMe',
        tags: ['auth'],
        summary: 'You, the current tenant, your role, and all your memberships',
        description:
          'Your role is read from the database on every request, not from the token. With a tenantless token, `tenant` and `role` are null.',
        response: { 200: MeResponse },
      },
    },
    async (request, reply) => {
      // One statement (app_api.me): a tenantless token sets app.user_id only.
      const me = request.identity?.tenantId === null ? await request.readInUser('me') : await request.readInTenant('me')
      return sendJsonText(reply, me?.body ?? null)
    },
  )

  app.delete(
    '/v1/me',
    {
      config: {
        access: 'user',
        throttle: 'password',
        problems: ['last-owner'],
        responses: { 204: 'The account is deleted' },
      },
      schema: {
        operationId: 'deleteAccount',
        tags: ['auth'],
        summary: 'Delete your account',
        description:
          'Confirmed with your password. Ends every session; tenants where you are the only member are deleted with ' +
          'the account. Refused (/last-owner) while you are the last owner of a tenant that has other members. ' +
          'The password check is a sign-in attempt: without your `x-device-token` it counts against the per-account cap.',
        body: DeleteAccountBody,
        headers: DeviceTokenHeaders,
        response: { 204: z.null() },
      },
    },
    async (request, reply) => {
      const credentials = await request.inUser((tx) => tx.one(queries.currentUserCredentials()))
      const client = await app.passwordAttempt(request, reply, credentials.email)
      // bcrypt runs between the two transactions, holding no connection.
      if (!(await app.passwords.verify(request.body.password, credentials.password_hash, client))) {
        throw forbidden('the password is incorrect')
      }
      await request.inUser((tx) => tx.query(queries.deleteAccount()))
      return reply.code(204).send(null)
    },
  )
}
