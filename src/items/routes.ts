import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { refusal } from '../db/refusal.ts'
import { decodeCursor, TimeAndIdCursor, toPage } from '../http/cursor.ts'
import { IdParams, PageQuery } from '../http/schemas.ts'
import { notFound } from '../problems.ts'
import * as queries from './queries.ts'
import { CreateItemBody, Item, ItemPage, UpdateItemBody } from './schemas.ts'

export async function itemRoutes(fastify: FastifyInstance) {
  const app = fastify.withTypeProvider<ZodTypeProvider>()

  app.get(
    '/v1/items',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['items'],
        summary: 'Items, newest first',
        description: `A page holds up to \`limit\` items and about ${queries.PAGE_PAYLOAD_BYTES / 1024} KiB of payloads; \`nextCursor\` continues after its last item.`,
        querystring: PageQuery,
        response: { 200: ItemPage },
      },
    },
    async (request) => {
      const { limit, cursor } = request.query
      const before = decodeCursor(cursor, TimeAndIdCursor)
      const page = queries.pageRows(await request.inTenant((tx) => tx.any(queries.listItems(before, limit))), limit)
      return toPage(page.rows, page.limit, queries.itemCursor, queries.toItem)
    },
  )

  app.post(
    '/v1/items',
    {
      config: { access: 'member' },
      schema: { tags: ['items'], summary: 'Create an item', body: CreateItemBody, response: { 201: Item } },
    },
    async (request, reply) => {
      const row = await request.inTenant((tx) => tx.one(queries.createItem(request.body)))
      return reply.code(201).send(queries.toItem(row))
    },
  )

  app.get(
    '/v1/items/:id',
    {
      config: { access: 'viewer' },
      schema: { tags: ['items'], summary: 'One item', params: IdParams, response: { 200: Item } },
    },
    async (request) =>
      request.inTenant(async (tx) => {
        const row = await tx.maybeOne(queries.getItem(request.params.id))
        if (!row) throw notFound('item')
        return queries.toItem(row)
      }),
  )

  app.patch(
    '/v1/items/:id',
    {
      config: { access: 'member' },
      schema: {
        tags: ['items'],
        summary: 'Change an item',
        params: IdParams,
        body: UpdateItemBody,
        response: { 200: Item },
      },
    },
    async (request) =>
      request.inTenant(async (tx) => {
        const row = await tx.maybeOne(queries.updateItem(request.params.id, request.body))
        if (!row) throw await refusal(tx, queries.itemVisible(request.params.id), 'item')
        return queries.toItem(row)
      }),
  )

  app.delete(
    '/v1/items/:id',
    {
      config: { access: 'admin' },
      schema: { tags: ['items'], summary: 'Delete an item', params: IdParams, response: { 204: z.null() } },
    },
    async (request, reply) => {
      await request.inTenant(async (tx) => {
        const deleted = await tx.maybeOne(queries.deleteItem(request.params.id))
        if (!deleted) throw await refusal(tx, queries.itemVisible(request.params.id), 'item')
      })
      return reply.code(204).send(null)
    },
  )
}
