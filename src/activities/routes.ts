import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { decodeCursor, IdCursor, toPage } from '../http/cursor.ts'
import { notFound } from '../problems.ts'
import { getActivity, listActivities, toActivity } from './queries.ts'
import { Activity, ActivityPage, ActivityQuery } from './schemas.ts'

export async function activityRoutes(fastify: FastifyInstance) {
  const app = fastify.withTypeProvider<ZodTypeProvider>()

  app.get(
    '/v1/activities',
    {
      config: { access: 'viewer', responses: { 200: 'One page of activities' } },
      schema: {
        operationId: 'listActivities',
        tags: ['activities'],
        summary: 'The tenant activity log',
        description:
          'Newest first. With `after=<id>`: the events after that one, oldest first, to fill a gap after a reconnect. ' +
          'Invitation events are shown to admins and owners only.',
        querystring: ActivityQuery,
        response: { 200: ActivityPage },
      },
    },
    async (request) => {
      const { limit, cursor, type, after } = request.query
      const position = decodeCursor(cursor, IdCursor)?.[0]
      const rows = await request.inTenant((tx) =>
        tx.any(
          after === undefined
            ? listActivities({ type, limit, beforeId: position })
            : listActivities({ type, limit, afterId: Math.max(after, position ?? 0) }),
        ),
      )
      return toPage(rows, limit, (row) => [row.id], toActivity)
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
    async (request) =>
      request.inTenant(async (tx) => {
        const row = await tx.maybeOne(getActivity(request.params.id))
        if (!row) throw notFound('activity')
        return toActivity(row)
      }),
  )
}
