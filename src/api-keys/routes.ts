import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { newApiKey } from '../auth/api-keys.ts'
import { oneOrNotFound } from '../db/not-found.ts'
import { decodeCursor, TimeAndIdCursor, toPage } from '../http/cursor.ts'
import { IdParams, PageQuery } from '../http/schemas.ts'
import * as queries from './queries.ts'
import { ApiKey, ApiKeyPage, CreateApiKeyBody, CreatedApiKey, UpdateApiKeyBody } from './schemas.ts'

/**
 * /v1/api-keys: admins (people, never keys: `apiKeys: false`, and the table's policies require a
 * user) manage the tenant's keys. A key is shown once, at creation.
 */
export async function apiKeyRoutes(fastify: FastifyInstance) {
  const app = fastify.withTypeProvider<ZodTypeProvider>()
  const tags = ['api-keys']

  app.post(
    '/v1/api-keys',
    {
      config: {
        access: 'admin',
        apiKeys: false,
        problems: ['plan-limit-exceeded'],
        responses: { 201: 'The key, with its secret (shown only this once)' },
      },
      schema: {
        operationId: 'createApiKey',
        tags,
        summary: 'Create an API key for a machine client',
        description:
          'The key acts for this tenant at `role` (never owner) on every tenant route, until it is revoked or expires. ' +
          'It cannot reach `/v1/me`, refresh, switch tenants, manage API keys or open a Socket.IO connection. The plan limits live keys (`/problems/plan-limit-exceeded`). Records API_KEY_CREATED.',
        body: CreateApiKeyBody,
        response: { 201: CreatedApiKey },
      },
    },
    async (request, reply) => {
      const { key, prefix, hash } = newApiKey()
      const { name, role, expiresAt } = request.body
      const row = await request.inTenant(async (tx) => {
        const created = await tx.one(queries.createApiKey({ name, role, prefix, expiresAt: expiresAt ?? null }))
        await tx.query(queries.recordApiKeyHash(created.id, hash))
        return created
      })
      return reply
        .code(201)
        .header('location', `/v1/api-keys/${row.id}`)
        .send({ ...queries.toApiKey(row), key })
    },
  )

  app.get(
    '/v1/api-keys',
    {
      config: { access: 'admin', apiKeys: false, responses: { 200: 'One page of keys' } },
      schema: {
        operationId: 'listApiKeys',
        tags,
        summary: 'API keys not revoked, newest first',
        description:
          'Expired keys are listed (with `expiresAt`) until they are revoked. The secret is never shown again.',
        querystring: PageQuery,
        response: { 200: ApiKeyPage },
      },
    },
    async (request) => {
      const { limit, cursor } = request.query
      const before = decodeCursor(cursor, TimeAndIdCursor)
      const rows = await request.inTenant((tx) => tx.any(queries.listApiKeys(before, limit)))
      return toPage(rows, limit, queries.apiKeyCursor, queries.toApiKey)
    },
  )

  app.get(
    '/v1/api-keys/:id',
    {
      config: { access: 'admin', apiKeys: false, problems: ['not-found'], responses: { 200: 'The key' } },
      schema: {
        operationId: 'getApiKey',
        tags,
        summary: 'One API key',
        description: 'A revoked key answers 404.',
        params: IdParams,
        response: { 200: ApiKey },
      },
    },
    async (request) =>
      request.inTenant(async (tx) =>
        queries.toApiKey(await oneOrNotFound(tx, queries.getApiKey(request.params.id), 'API key')),
      ),
  )

  app.patch(
    '/v1/api-keys/:id',
    {
      config: { access: 'admin', apiKeys: false, problems: ['not-found'], responses: { 200: 'The key as changed' } },
      schema: {
        operationId: 'updateApiKey',
        tags,
        summary: 'Rename an API key or change its role',
        description:
          "The new role applies from the key's next request. Records API_KEY_UPDATED. A revoked key answers 404.",
        params: IdParams,
        body: UpdateApiKeyBody,
        response: { 200: ApiKey },
      },
    },
    async (request) =>
      request.inTenant(async (tx) =>
        queries.toApiKey(await oneOrNotFound(tx, queries.updateApiKey(request.params.id, request.body), 'API key')),
      ),
  )

  app.delete(
    '/v1/api-keys/:id',
    {
      config: {
        access: 'admin',
        apiKeys: false,
        problems: ['not-found'],
        responses: { 204: 'Revoked: the key is refused from its next request' },
      },
      schema: {
        operationId: 'revokeApiKey',
        tags,
        summary: 'Revoke an API key',
        description: 'Records API_KEY_REVOKED. A key already revoked answers 404.',
        params: IdParams,
        response: { 204: z.null() },
      },
    },
    async (request, reply) => {
      await request.inTenant((tx) => oneOrNotFound(tx, queries.revokeApiKey(request.params.id), 'API key'))
      return reply.code(204).send(null)
    },
  )
}
