import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { arg } from '../db/read.ts'
import { refusal } from '../db/refusal.ts'
import { decodeCursor, TimeAndIdCursor } from '../http/cursor.ts'
import { ConditionalReadHeaders, ConditionalWriteHeaders, requireMatch, withEtag } from '../http/etag.ts'
import { sendJsonText } from '../http/json-text.ts'
import { IdParams, PageQuery } from '../http/schemas.ts'
import { notFound } from '../problems.ts'
import * as queries from './queries.ts'
import { CreateItemBody, Item, ItemPage, UpdateItemBody } from './schemas.ts'

export async function itemRoutes(fastify: FastifyInstance) {
  const app = fastify.withTypeProvider<ZodTypeProvider>()

  app.get(
    '/v1/items',
    {
      config: { access: 'viewer', responses: { 200: 'One page of items; pass `nextCursor` as `cursor` for the next' } },
      schema: {
        operationId: 'listItems',
        tags: ['items'],
        summary: 'Items, newest first',
        description: `Cursor-paginated: \`nextCursor\` is null on the last page. A page holds up to \`limit\` items and about ${queries.PAGE_PAYLOAD_BYTES / 1024} KiB of payloads.`,
        querystring: PageQuery,
        response: { 200: ItemPage },
      },
    },
    async (request, reply) => {
      const { limit, cursor } = request.query
      const before = decodeCursor(cursor, TimeAndIdCursor)
      const page = await request.readInTenant('list_items', queries.listItemsArgs(before, limit))
      return sendJsonText(reply, page?.body ?? null)
    },
  )

  app.post(
    '/v1/items',
    {
      config: {
        access: 'member',
        etag: true,
        problems: ['plan-limit-exceeded'],
        responses: { 201: 'The new item, with its ETag' },
      },
      schema: {
        operationId: 'createItem',
        tags: ['items'],
        summary: 'Create an item',
        description: 'An ITEM_CREATED activity is recorded and pushed to the tenant. `Location` names the new item.',
        body: CreateItemBody,
        response: { 201: Item },
      },
    },
    async (request, reply) => {
      const { body, etag, id } = await request.inTenant((tx) => tx.one(queries.createItem(request.body)))
      withEtag(request, reply, etag)
      return reply
        .code(201)
        .header('location', `/v1/items/${id}`)
        .type('application/json; charset=utf-8')
        .send(body as never)
    },
  )

  app.get(
    '/v1/items/:id',
    {
      config: {
        access: 'viewer',
        etag: true,
        problems: ['not-found'],
        responses: { 200: 'The item', 304: 'Not modified: your If-None-Match is the current ETag' },
      },
      schema: {
        operationId: 'getItem',
        tags: ['items'],
        summary: 'One item',
        description: 'With its `ETag`: send it as `If-Match` when you change or delete the item.',
        params: IdParams,
        headers: ConditionalReadHeaders,
        response: { 200: Item, 304: z.null() },
      },
    },
    async (request, reply) => {
      const item = await request.readInTenant('get_item', [arg(request.params.id, 'uuid')])
      if (item === null) throw notFound('item')
      if (withEtag(request, reply, item.etag)) return reply.code(304).send(null)
      return sendJsonText(reply, item.body)
    },
  )

  app.patch(
    '/v1/items/:id',
    {
      config: {
        access: 'member',
        etag: true,
        problems: ['not-found', 'precondition-failed', 'plan-limit-exceeded'],
        responses: { 200: 'The item as changed, with its new ETag' },
      },
      schema: {
        operationId: 'updateItem',
        tags: ['items'],
        summary: 'Change an item',
        description:
          'Send only the fields to change. With `If-Match: <ETag>` the change is applied only if nobody changed the item since you read it (412 otherwise).',
        params: IdParams,
        headers: ConditionalWriteHeaders,
        body: UpdateItemBody,
        response: { 200: Item },
      },
    },
    async (request, reply) => {
      const { id } = request.params
      const item = await request.inTenant(async (tx) => {
        const ifMatch = request.headers['if-match']
        if (ifMatch !== undefined) {
          const current = await tx.maybeOne(queries.lockItem(id))
          if (!current) throw await refusal(tx, queries.itemVisible(id), 'item')
          requireMatch(ifMatch, current.etag, 'item')
        }
        const row = await tx.maybeOne(queries.updateItem(id, request.body))
        if (!row) throw await refusal(tx, queries.itemVisible(id), 'item')
        return row
      })
      withEtag(request, reply, item.etag)
      return sendJsonText(reply, item.body)
    },
  )

  app.delete(
    '/v1/items/:id',
    {
      config: { access: 'admin', problems: ['not-found', 'precondition-failed'], responses: { 204: 'Deleted' } },
      schema: {
        operationId: 'deleteItem',
        tags: ['items'],
        summary: 'Delete an item',
        description: 'With `If-Match: <ETag>`, only if nobody changed the item since you read it (412 otherwise).',
        params: IdParams,
        headers: ConditionalWriteHeaders,
        response: { 204: z.null() },
      },
    },
    async (request, reply) => {
      const { id } = request.params
      await request.inTenant(async (tx) => {
        const ifMatch = request.headers['if-match']
        if (ifMatch !== undefined) {
          const current = await tx.maybeOne(queries.lockItem(id))
          if (!current) throw await refusal(tx, queries.itemVisible(id), 'item')
          requireMatch(ifMatch, current.etag, 'item')
        }
        const deleted = await tx.maybeOne(queries.deleteItem(id))
        if (!deleted) throw await refusal(tx, queries.itemVisible(id), 'item')
      })
      return reply.code(204).send(null)
    },
  )
}
