import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { insertBroadcast, toActivity } from '../activities/queries.ts'
import { BroadcastActivity } from '../activities/schemas.ts'
import type { Tx } from '../db/context.ts'
import { oneOrNotFound } from '../db/not-found.ts'
import { refusal } from '../db/refusal.ts'
import { ConditionalReadHeaders, ConditionalWriteHeaders, requireMatch, withEtag } from '../http/etag.ts'
import { sendJsonText } from '../http/json-text.ts'
import { notFound } from '../problems.ts'
import * as queries from './queries.ts'
import { BroadcastBody, ChangePlanBody, CreateTenantBody, Tenant, UpdateTenantBody } from './schemas.ts'

const requestUsage = (request: FastifyRequest): queries.RequestUsage =>
  request.tenantBudget && {
    used: request.tenantBudget.limit - request.tenantBudget.remaining,
    resetSeconds: request.tenantBudget.resetSeconds,
  }

export async function tenantRoutes(fastify: FastifyInstance) {
  const app = fastify.withTypeProvider<ZodTypeProvider>()

  app.get(
    '/v1/tenant',
    {
      config: {
        access: 'viewer',
        etag: true,
        responses: { 200: 'The current tenant', 304: 'Not modified: your If-None-Match is the current ETag' },
      },
      schema: {
        operationId: 'getTenant',
        tags: ['tenant'],
        summary: 'The current tenant, with its usage against every limit of its plan',
        description:
          'The tenant your access token is for, with its usage against every limit of its plan. Its `ETag` changes with any field but the request count.',
        headers: ConditionalReadHeaders,
        response: { 200: Tenant, 304: z.null() },
      },
    },
    async (request, reply) => {
      const tenant = await request.readInTenant('get_tenant', queries.getTenantArgs(requestUsage(request)))
      if (tenant === null) throw notFound('tenant')
      if (withEtag(request, reply, tenant.etag)) return reply.code(304).send(null)
      return sendJsonText(reply, tenant.body)
    },
  )

  /** With If-Match: lock the tenant, compare its current representation, then write. */
  const whenUnchanged = async (tx: Tx, ifMatch: string | undefined) => {
    if (ifMatch === undefined) return
    await oneOrNotFound(tx, queries.lockTenant(), 'tenant')
    const current = await oneOrNotFound(tx, queries.tenantJson(queries.currentTenantId, null), 'tenant')
    requireMatch(ifMatch, current.etag, 'tenant')
  }

  app.patch(
    '/v1/tenant',
    {
      config: {
        access: 'admin',
        etag: true,
        problems: ['precondition-failed'],
        responses: { 200: 'The renamed tenant, with its new ETag' },
      },
      schema: {
        operationId: 'updateTenant',
        tags: ['tenant'],
        summary: 'Rename the tenant',
        description:
          'The slug never changes. With `If-Match: <ETag>`, only if the tenant is unchanged since you read it (412 otherwise).',
        headers: ConditionalWriteHeaders,
        body: UpdateTenantBody,
        response: { 200: Tenant },
      },
    },
    async (request, reply) => {
      const tenant = await request.inTenant(async (tx) => {
        await whenUnchanged(tx, request.headers['if-match'])
        const renamed = await tx.maybeOne(queries.renameTenant(request.body.name))
        if (!renamed) throw await refusal(tx, queries.tenantVisible(), 'tenant')
        return tx.one(queries.tenantJson(queries.currentTenantId, requestUsage(request)))
      })
      withEtag(request, reply, tenant.etag)
      return sendJsonText(reply, tenant.body)
    },
  )

  app.put(
    '/v1/tenant/plan',
    {
      config: {
        access: 'admin',
        etag: true,
        problems: ['forbidden', 'plan-limit-exceeded', 'precondition-failed'],
        responses: { 200: 'The tenant on its new plan, with its new ETag' },
      },
      schema: {
        operationId: 'changePlan',
        tags: ['tenant'],
        summary: 'Change plan',
        description:
          'A plan whose member limit is below the current member count is refused (`/problems/plan-limit-exceeded`). ' +
          'With PLAN_UPGRADES=platform (the production default) only the platform operator raises a plan: an upgrade ' +
          'is refused with `/problems/forbidden`, a downgrade works. ' +
          'Records PLAN_UPGRADED or PLAN_DOWNGRADED. Honours `If-Match` like PATCH.',
        headers: ConditionalWriteHeaders,
        body: ChangePlanBody,
        response: { 200: Tenant },
      },
    },
    async (request, reply) => {
      const tenant = await request.inTenant(async (tx) => {
        await whenUnchanged(tx, request.headers['if-match'])
        await tx.query(queries.changePlan(request.body.plan, app.config.PLAN_UPGRADES === 'open'))
        return oneOrNotFound(tx, queries.tenantJson(queries.currentTenantId, requestUsage(request)), 'tenant')
      })
      withEtag(request, reply, tenant.etag)
      return sendJsonText(reply, tenant.body)
    },
  )

  app.post(
    '/v1/tenant/broadcasts',
    {
      config: { access: 'admin', responses: { 201: 'The BROADCAST_MESSAGE activity' } },
      schema: {
        operationId: 'broadcastMessage',
        tags: ['tenant'],
        summary: 'Broadcast a message to every member',
        description:
          'Recorded as a BROADCAST_MESSAGE activity, which every member receives over Socket.IO. `Location` names the activity.',
        body: BroadcastBody,
        response: { 201: BroadcastActivity },
      },
    },
    async (request, reply) => {
      const row = await request.inTenant((tx) => tx.one(insertBroadcast(request.body.message)))
      const activity = BroadcastActivity.parse(toActivity(row))
      return reply.code(201).header('location', `/v1/activities/${activity.id}`).send(activity)
    },
  )

  app.post(
    '/v1/tenants',
    {
      config: {
        access: 'user',
        createsTenant: true,
        problems: ['forbidden', 'conflict'],
        responses: { 201: 'The new tenant; switch to it for a token pair' },
      },
      schema: {
        operationId: 'createTenant',
        tags: ['tenant'],
        summary: 'Create another tenant, with you as its owner',
        description:
          'Any signed-in user, tenantless ones included. The new tenant is on the free plan; ' +
          'switch to it with POST /v1/auth/switch. A user who already created TENANTS_PER_USER tenants (default 5, ' +
          'registration included) is refused with `/problems/forbidden`; an address gets TENANTS_PER_IP_PER_DAY ' +
          'creations a day (default 20, registrations included), then `/problems/rate-limited`.',
        body: CreateTenantBody,
        response: { 201: Tenant },
      },
    },
    async (request, reply) => {
      const row = await request.inUser(async (tx) => {
        const created = await tx.one(
          queries.createTenant(request.body.name, request.body.slug, app.config.TENANTS_PER_USER),
        )
        return tx.one(queries.tenantJson(queries.tenantId(created.id), null))
      })
      // Readable once you switch to it: GET /v1/tenant is always the tenant of your token.
      return sendJsonText(reply.code(201).header('location', '/v1/tenant'), row.body)
    },
  )
}
