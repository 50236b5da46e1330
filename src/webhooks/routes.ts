import { isIP } from 'node:net'
import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { oneOrNotFound } from '../db/not-found.ts'
import { decodeCursor, TimeAndIdCursor, toPage } from '../http/cursor.ts'
import { IdParams } from '../http/schemas.ts'
import { Problem } from '../problems.ts'
import { refusedAddress, refusedUrl } from './outbound.ts'
import * as queries from './queries.ts'
import {
  CreatedWebhookEndpoint,
  CreateWebhookBody,
  DeliveryParams,
  DeliveryQuery,
  RotatedSecret,
  UpdateWebhookBody,
  WebhookDeliveryPage,
  WebhookEndpoint,
  WebhookEndpointPage,
} from './schemas.ts'
import { newWebhookSecret } from './signing.ts'

/** How long a rotated-out secret keeps signing, so receivers can switch without missing a delivery. */
const ROTATION_GRACE_SECONDS = 24 * 3600

/**
 * /v1/webhooks (admins): endpoints that receive the tenant's activities, signed as Standard
 * Webhooks says, in commit order, retried for about a day (src/webhooks/deliver.ts).
 */
export async function webhookRoutes(fastify: FastifyInstance) {
  const app = fastify.withTypeProvider<ZodTypeProvider>()
  const tags = ['webhooks']
  const { WEBHOOK_ALLOW_PRIVATE: allowPrivate } = app.config

  /** Early feedback on a URL we will never call; DNS answers are checked at each delivery. */
  const checkUrl = (value: string | undefined) => {
    if (value === undefined) return
    const url = new URL(value)
    const host = url.hostname.replace(/^\[|\]$/g, '')
    const why = refusedUrl(url, allowPrivate) ?? (!allowPrivate && isIP(host) ? refusedAddress(host) : null)
    if (why) {
      throw new Problem('validation-failed', `this URL cannot receive webhooks: ${why}`, {
        errors: [{ path: 'body.url', message: why }],
      })
    }
  }

  app.post(
    '/v1/webhooks',
    {
      config: {
        access: 'admin',
        problems: ['plan-limit-exceeded'],
        responses: { 201: 'The endpoint, with its signing secret (shown only this once)' },
      },
      schema: {
        operationId: 'createWebhook',
        tags,
        summary: 'Add a webhook endpoint',
        description:
          'Every activity of the listed types committed from now on is POSTed to `url` in commit order, signed (Standard Webhooks: ' +
          '`webhook-id`, `webhook-timestamp`, `webhook-signature`), and retried with exponential backoff for about a day; an endpoint ' +
          'failing longer is disabled (WEBHOOK_DISABLED). The body of each event is in this document’s `webhooks` section. ' +
          'https only; loopback, private, link-local and metadata addresses are refused. The plan limits the endpoints ' +
          'of a tenant, enabled or not (`/problems/plan-limit-exceeded`): each one is another request per event.',
        body: CreateWebhookBody,
        response: { 201: CreatedWebhookEndpoint },
      },
    },
    async (request, reply) => {
      checkUrl(request.body.url)
      const secret = newWebhookSecret()
      const row = await request.inTenant(async (tx) => {
        const created = await tx.one(queries.createEndpoint(request.body))
        await tx.query(queries.setSecret(created.id, secret, ROTATION_GRACE_SECONDS))
        return created
      })
      return reply
        .code(201)
        .header('location', `/v1/webhooks/${row.id}`)
        .send({ ...queries.toEndpoint(row), secret })
    },
  )

  app.get(
    '/v1/webhooks',
    {
      config: { access: 'admin', responses: { 200: 'One page of endpoints' } },
      schema: {
        operationId: 'listWebhooks',
        tags,
        summary: 'Webhook endpoints, newest first',
        description: 'Secrets are never shown again.',
        querystring: DeliveryQuery,
        response: { 200: WebhookEndpointPage },
      },
    },
    async (request) => {
      const { limit, cursor } = request.query
      const before = decodeCursor(cursor, TimeAndIdCursor)
      const rows = await request.inTenant((tx) => tx.any(queries.listEndpoints(before, limit)))
      return toPage(rows, limit, queries.endpointCursor, queries.toEndpoint)
    },
  )

  app.get(
    '/v1/webhooks/:id',
    {
      config: { access: 'admin', problems: ['not-found'], responses: { 200: 'The endpoint' } },
      schema: {
        operationId: 'getWebhook',
        tags,
        summary: 'One webhook endpoint',
        description: '`disabledReason` says why the worker stopped delivering, if it did.',
        params: IdParams,
        response: { 200: WebhookEndpoint },
      },
    },
    async (request) =>
      request.inTenant(async (tx) =>
        queries.toEndpoint(await oneOrNotFound(tx, queries.getEndpoint(request.params.id), 'webhook')),
      ),
  )

  app.patch(
    '/v1/webhooks/:id',
    {
      config: { access: 'admin', problems: ['not-found'], responses: { 200: 'The endpoint as changed' } },
      schema: {
        operationId: 'updateWebhook',
        tags,
        summary: 'Change a webhook endpoint’s URL, event types, or enable it again',
        description:
          'Enabling a disabled endpoint resumes delivery where it stopped (the failed event first, with a fresh round of attempts).',
        params: IdParams,
        body: UpdateWebhookBody,
        response: { 200: WebhookEndpoint },
      },
    },
    async (request) => {
      checkUrl(request.body.url)
      return request.inTenant(async (tx) =>
        queries.toEndpoint(await oneOrNotFound(tx, queries.updateEndpoint(request.params.id, request.body), 'webhook')),
      )
    },
  )

  app.delete(
    '/v1/webhooks/:id',
    {
      config: { access: 'admin', problems: ['not-found'], responses: { 204: 'Deleted, with its delivery log' } },
      schema: {
        operationId: 'deleteWebhook',
        tags,
        summary: 'Delete a webhook endpoint',
        description: 'Nothing more is delivered to it; its delivery log goes with it.',
        params: IdParams,
        response: { 204: z.null() },
      },
    },
    async (request, reply) => {
      await request.inTenant((tx) => oneOrNotFound(tx, queries.deleteEndpoint(request.params.id), 'webhook'))
      return reply.code(204).send(null)
    },
  )

  app.post(
    '/v1/webhooks/:id/secret',
    {
      config: { access: 'admin', problems: ['not-found'], responses: { 200: 'The new secret (shown only this once)' } },
      schema: {
        operationId: 'rotateWebhookSecret',
        tags,
        summary: 'Rotate a webhook endpoint’s signing secret',
        description:
          'For 24 hours every delivery carries two signatures, one with the new secret and one with the old: switch the receiver to the new one within that time.',
        params: IdParams,
        response: { 200: RotatedSecret },
      },
    },
    async (request) => {
      const secret = newWebhookSecret()
      const { until } = await request.inTenant((tx) =>
        tx.one(queries.setSecret(request.params.id, secret, ROTATION_GRACE_SECONDS)),
      )
      return { secret, previousSecretExpiresAt: until! }
    },
  )

  app.get(
    '/v1/webhooks/:id/deliveries',
    {
      config: { access: 'admin', problems: ['not-found'], responses: { 200: 'One page of deliveries, newest first' } },
      schema: {
        operationId: 'listWebhookDeliveries',
        tags,
        summary: 'The delivery log of an endpoint',
        description: 'Per delivery: attempts, status, and the last attempt’s response code, latency and error.',
        params: IdParams,
        querystring: DeliveryQuery,
        response: { 200: WebhookDeliveryPage },
      },
    },
    async (request) => {
      const { limit, cursor } = request.query
      const before = decodeCursor(cursor, TimeAndIdCursor)
      const rows = await request.inTenant(async (tx) => {
        await oneOrNotFound(tx, queries.getEndpoint(request.params.id), 'webhook')
        return tx.any(queries.listDeliveries(request.params.id, before, limit))
      })
      return toPage(rows, limit, queries.deliveryCursor, queries.toDelivery)
    },
  )

  app.post(
    '/v1/webhooks/:id/deliveries/:deliveryId/retry',
    {
      config: {
        access: 'admin',
        problems: ['not-found'],
        responses: { 202: 'Queued: one more attempt, with the same webhook-id' },
      },
      schema: {
        operationId: 'retryWebhookDelivery',
        tags,
        summary: 'Attempt a delivery again',
        description:
          'Whatever its status; the outcome appears in the delivery log. The receiver sees the same `webhook-id` again.',
        params: DeliveryParams,
        response: { 202: z.null() },
      },
    },
    async (request, reply) => {
      await request.inTenant((tx) => tx.query(queries.retryDelivery(request.params.id, request.params.deliveryId)))
      return reply.code(202).send(null)
    },
  )
}
