import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { insertBroadcast, toActivity } from '../activities/queries.ts'
import { Activity } from '../activities/schemas.ts'
import { refusal } from '../db/refusal.ts'
import { notFound } from '../problems.ts'
import * as queries from './queries.ts'
import { BroadcastBody, ChangePlanBody, Tenant, UpdateTenantBody } from './schemas.ts'

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
      config: { access: 'viewer' },
      schema: {
        tags: ['tenant'],
        summary: 'The current tenant, with its usage against every limit of its plan',
        response: { 200: Tenant },
      },
    },
    async (request) =>
      request.inTenant(async (tx) => {
        const row = await tx.maybeOne(queries.currentTenant())
        if (!row) throw notFound('tenant')
        return queries.toTenant(row, requestUsage(request))
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
        return queries.toTenant(row, requestUsage(request))
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
        return queries.toTenant(row, requestUsage(request))
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
}
