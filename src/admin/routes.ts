import { createHash, timingSafeEqual } from 'node:crypto'
import fastifyRateLimit from '@fastify/rate-limit'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { oneOrNotFound } from '../db/not-found.ts'
import { decodeCursor, IdCursor, toPage } from '../http/cursor.ts'
import { IdParams, PageQuery } from '../http/schemas.ts'
import { mailToken, sealer } from '../mail/seal.ts'
import { Problem } from '../problems.ts'
import * as queries from './queries.ts'
import {
  AdminTenant,
  AdminTenantPage,
  AdminTenantQuery,
  AdminUserPage,
  AdminUserQuery,
  CreatedTenant,
  CreateTenantBody,
  PlatformActionPage,
  UpdateTenantBody,
} from './schemas.ts'

const StringCursor = z.tuple([z.string().max(254)])
const sha256 = (value: string) => createHash('sha256').update(value).digest()

/**
 * The platform admin API, registered only when PLATFORM_ADMIN_TOKEN is set (unset, /v1/admin/*
 * is an unknown route like any other: 404). Callers present that token as a bearer token.
 *
 * Order per request: the rate limit (onRequest, per client address, failures included, so the
 * token cannot be guessed at speed), then the token check (preParsing: before the body is read),
 * then the handler. Both sides are SHA-256'd before timingSafeEqual, so the comparison takes the
 * same time whatever the length or content of the guess.
 */
export async function adminRoutes(fastify: FastifyInstance, options: { token: string }) {
  const expected = sha256(options.token)
  const { config } = fastify
  const seal = sealer(config.JWT_SECRET)

  // Encapsulated: this limiter applies to the routes of this plugin only.
  await fastify.register(fastifyRateLimit, {
    global: true,
    max: config.PLATFORM_ADMIN_RATE_LIMIT,
    timeWindow: 60_000,
    hook: 'onRequest',
    enableDraftSpec: true,
    errorResponseBuilder: (_request, context) =>
      new Problem(
        'rate-limited',
        `at most ${context.max} platform admin requests per minute; retry in ${context.after}`,
      ),
  })

  fastify.addHook('preParsing', async (request: FastifyRequest) => {
    const match = /^Bearer ([^\s]+)$/i.exec(request.headers.authorization ?? '')
    if (match && timingSafeEqual(sha256(match[1]!), expected)) return
    // Never the header itself: the reason and the address are enough to investigate.
    request.log.warn(
      { reason: match ? 'wrong token' : 'no bearer token', ip: request.ip, url: request.url.split('?')[0] },
      'platform admin authentication failed',
    )
    throw new Problem('unauthorized', 'send the platform admin token: Authorization: Bearer <PLATFORM_ADMIN_TOKEN>')
  })

  const app = fastify.withTypeProvider<ZodTypeProvider>()

  app.get(
    '/v1/admin/tenants',
    {
      config: { access: 'platform', responses: { 200: 'A page of tenants, in slug order' } },
      schema: {
        tags: ['admin'],
        operationId: 'adminListTenants',
        summary: 'Every tenant, by slug, with its plan, member and item counts and suspension',
        description: 'Filter with `slug` (a prefix); page with `limit` and `cursor`.',
        querystring: AdminTenantQuery,
        response: { 200: AdminTenantPage },
      },
    },
    async (request) => {
      const { limit, cursor, slug } = request.query
      const after = decodeCursor(cursor, StringCursor)
      const rows = await app.db.any(queries.listTenants(slug ?? null, after?.[0] ?? null, limit))
      return toPage(rows, limit, queries.tenantCursor)
    },
  )

  app.post(
    '/v1/admin/tenants',
    {
      config: {
        access: 'platform',
        problems: ['conflict'],
        responses: { 201: 'The tenant, its owner, and an owner invitation when no password was given' },
      },
      schema: {
        tags: ['admin'],
        operationId: 'adminCreateTenant',
        summary: 'Provision a tenant and its owner',
        description:
          'With `owner.password`, a new owner account is created. Without it, an owner invitation is mailed to the ' +
          'owner and also returned here (for a new email or an existing account, which accepts it with its own password).',
        body: CreateTenantBody,
        response: { 201: CreatedTenant },
      },
    },
    async (request, reply) => {
      const { name, slug, plan, owner } = request.body
      const passwordHash = owner.password === undefined ? null : await app.passwords.hash(owner.password)
      const invitation = passwordHash === null ? mailToken(seal) : null
      const result = await app.db.transaction(async (tx) => {
        const created = await tx.one(
          queries.createTenant({
            name,
            slug,
            plan,
            ownerEmail: owner.email,
            ownerName: owner.name,
            ownerPasswordHash: passwordHash,
            invitation: invitation,
            invitationTtlSeconds: config.INVITATION_TTL,
            requestId: request.id,
          }),
        )
        return { created, tenant: await tx.one(queries.tenantById(created.tenant_id)) }
      })
      return reply
        .code(201)
        .header('location', `/v1/admin/tenants?slug=${encodeURIComponent(slug)}`)
        .send({
          tenant: result.tenant,
          owner: { id: result.created.owner_id, email: owner.email },
          ...(invitation && result.created.invitation_expires_at
            ? { invitation: { token: invitation.token, expiresAt: result.created.invitation_expires_at } }
            : {}),
        })
    },
  )

  app.patch(
    '/v1/admin/tenants/:id',
    {
      config: {
        access: 'platform',
        problems: ['not-found', 'plan-limit-exceeded'],
        responses: { 200: 'The tenant as listed' },
      },
      schema: {
        tags: ['admin'],
        operationId: 'adminUpdateTenant',
        summary: 'Change plan, suspend or resume a tenant',
        description:
          "Suspension takes effect on every member's next request (/tenant-suspended). A plan below the member " +
          'count is refused (/plan-limit-exceeded). Both changes, in one transaction, are audited.',
        params: IdParams,
        body: UpdateTenantBody,
        response: { 200: AdminTenant },
      },
    },
    async (request) => {
      const { id } = request.params
      const { plan, suspended } = request.body
      return app.db.transaction(async (tx) => {
        if (plan !== undefined) await tx.query(queries.setPlan(id, plan, request.id))
        if (suspended !== undefined) await tx.query(queries.setSuspended(id, suspended, request.id))
        return oneOrNotFound(tx, queries.tenantById(id), 'tenant')
      })
    },
  )

  app.delete(
    '/v1/admin/tenants/:id',
    {
      config: { access: 'platform', problems: ['not-found'], responses: { 204: 'Deleted, with all its data' } },
      schema: {
        tags: ['admin'],
        operationId: 'adminDeleteTenant',
        summary: 'Delete a tenant and all its data',
        description:
          "One transaction: memberships, invitations, items, activities and sessions go; the members' accounts stay " +
          '(one who belongs nowhere else signs in tenantless).',
        params: IdParams,
        response: { 204: z.null() },
      },
    },
    async (request, reply) => {
      await app.db.transaction(async (tx) => {
        await tx.query(queries.allowLongStatements('5min'))
        await tx.query(queries.deleteTenant(request.params.id, request.id))
      })
      return reply.code(204).send(null)
    },
  )

  app.get(
    '/v1/admin/audit',
    {
      config: { access: 'platform', responses: { 200: 'A page of platform actions' } },
      schema: {
        tags: ['admin'],
        operationId: 'adminListAudit',
        summary: 'Platform actions, newest first',
        description: 'The same rows a DBA reads in app_audit.platform_actions.',
        querystring: PageQuery,
        response: { 200: PlatformActionPage },
      },
    },
    async (request) => {
      const { limit, cursor } = request.query
      const before = decodeCursor(cursor, IdCursor)
      const rows = await app.db.any(queries.listActions(before?.[0] ?? null, limit))
      return toPage(rows, limit, queries.actionCursor)
    },
  )

  app.get(
    '/v1/admin/users',
    {
      config: { access: 'platform', responses: { 200: 'A page of accounts' } },
      schema: {
        tags: ['admin'],
        operationId: 'adminListUsers',
        summary: 'Accounts by email, with how each was created',
        description:
          '`createdVia: invitation` marks accounts created by accepting an invitation: whoever held the invitation ' +
          'chose the password, so the address is not proven to belong to its owner.',
        querystring: AdminUserQuery,
        response: { 200: AdminUserPage },
      },
    },
    async (request) => {
      const { limit, cursor, email } = request.query
      const after = decodeCursor(cursor, StringCursor)
      const rows = await app.db.any(queries.listUsers(email ?? null, after?.[0] ?? null, limit))
      return toPage(rows, limit, queries.userCursor)
    },
  )
}
