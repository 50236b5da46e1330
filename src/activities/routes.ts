import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { arg } from '../db/read.ts'
import { decodeCursor, IdCursor } from '../http/cursor.ts'
import { sendJsonText } from '../http/json-text.ts'
import { notFound } from '../problems.ts'
import { Activity, ActivityPage, ActivityQuery } from './schemas.ts'

export async function activityRoutes(fastify: FastifyInstance) {
  const app = fastify.withTypeProvider<ZodTypeProvider>()

  app.get(
    '/v1/activities',
    {
      config: { access: 'viewer', problems: ['not-found'], responses: { 200: 'One page of activities' } },
      schema: {
        operationId: 'listActivities',
        tags: ['activities'],
        summary: 'The tenant activity log',
        description:
          'Newest first. With `after=<id>`: the events committed after that one, oldest first in commit order (the order sockets receive them), to fill a gap after a reconnect; `after=0` starts at the beginning. An `after` id the caller cannot read is a 404. ' +
          'Invitation events are shown to admins and owners only.',
        querystring: ActivityQuery,
        response: { 200: ActivityPage },
      },
    },
    async (request, reply) => {
      const { limit, cursor, type, after } = request.query
      if (after === undefined) {
        const beforeId = decodeCursor(cursor, IdCursor)?.[0] ?? null
        const page = await request.readInTenant('list_activities', [
          arg(limit, 'int4'),
          arg(beforeId, 'int8'),
          arg(type ?? null, 'text'),
        ])
        return sendJsonText(reply, page?.body ?? null)
      }
      // Gap fill in commit order, the order sockets receive events in. The cursor is the last
      // row's id, like `after` itself: a client never sees the internal position, which counts
      // every tenant's writes.
      const from = decodeCursor(cursor, IdCursor)?.[0] ?? after
      const page = await request.readInTenant('list_activities_after', [
        arg(limit, 'int4'),
        arg(from, 'int8'),
        arg(type ?? null, 'text'),
      ])
      if (page === null) throw notFound(`activity ${from}`)
      return sendJsonText(reply, page.body)
    },
  )

  app.get(
    '/v1/activities/:id',
    {
      config: { access: 'viewer', problems: ['not-found'], responses: { 200: 'The activity' } },
      schema: {
        operationId: 'getActivity',
        tags: ['activities'],
        summary: 'One activity',
        description: 'What `Location` of a broadcast points to. An activity your role may not read answers 404.',
        params: z.strictObject({ id: z.coerce.number().int().min(1).max(Number.MAX_SAFE_INTEGER) }),
        response: { 200: Activity },
      },
    },
    async (request, reply) => {
      const activity = await request.readInTenant('get_activity', [arg(request.params.id, 'int8')])
      if (activity === null) throw notFound('activity')
      return sendJsonText(reply, activity.body)
    },
  )
}
