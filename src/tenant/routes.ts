import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { insertBroadcast, toActivity } from '../activities/queries.ts'
import { Activity } from '../activities/schemas.ts'
import { refusal } from '../db/refusal.ts'
import { notFound } from '../problems.ts'
import * as queries from './queries.ts'
import { BroadcastBody, ChangePlanBody, CreateTenantBody, Tenant, UpdateTenantBody } from './schemas.ts'

export async function tenantRoutes(fastify: FastifyInstance) {
  const app = fastify.withTypeProvider<ZodTypeProvider>()

  app.get(
    '/v1/tenant',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['tenant'],
        summary: 'The current tenant with its plan limit and member count',
        response: { 200: Tenant },
      },
    },
    async (request) =>
      request.inTenant(async (tx) => {
        const row = await tx.maybeOne(queries.currentTenant())
        if (!row) throw notFound('tenant')
        return queries.toTenant(row)
      }),
  )

  app.patch(
    '/v1/tenant',
    {
      config: { access: 'admin' },
      schema: { tags: ['tenant'], summary: 'Rename the tenant', body: UpdateTenantBody, response: { 200: Tenant } },
    },
    async (request) =>
      request.inTenant(async (tx) => {
        const row = await tx.maybeOne(queries.renameTenant(request.body.name))
        if (!row) throw await refusal(tx, queries.tenantVisible(), 'tenant')
        return queries.toTenant(row)
      }),
  )

  app.put(
    '/v1/tenant/plan',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['tenant'],
        summary: 'Change plan',
        description: 'A plan whose member limit is below the current member count is refused (/plan-limit-exceeded).',
        body: ChangePlanBody,
        response: { 200: Tenant },
      },
    },
    async (request) =>
      request.inTenant(async (tx) => {
        const row = await tx.maybeOne(queries.changePlan(request.body.plan))
        if (!row) throw await refusal(tx, queries.tenantVisible(), 'tenant')
        return queries.toTenant(row)
      }),
  )

  app.post(
    '/v1/tenant/broadcasts',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['tenant'],
        summary: 'Broadcast a message to every member (a BROADCAST_MESSAGE activity)',
        body: BroadcastBody,
        response: { 201: Activity },
      },
    },
    async (request, reply) => {
      const row = await request.inTenant((tx) => tx.one(insertBroadcast(request.body.message)))
      return reply.code(201).send(toActivity(row))
    },
  )

  app.post(
    '/v1/tenants',
    {
      config: { access: 'user' },
      schema: {
        tags: ['tenant'],
        summary: 'Create another tenant, with you as its owner',
        description:
          'Any signed-in user, tenantless ones included. The new tenant is on the free plan; ' +
          'switch to it with POST /v1/auth/switch.',
        body: CreateTenantBody,
        response: { 201: Tenant },
      },
    },
    async (request, reply) => {
      const row = await request.inUser(async (tx) => {
        const created = await tx.one(queries.createTenant(request.body.name, request.body.slug))
        return tx.one(queries.tenantById(created.id))
      })
      return reply.code(201).send(queries.toTenant(row))
    },
  )
}
