import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { decodeCursor, IdCursor, toPage } from '../http/cursor.ts'
import { listActivities, toActivity } from './queries.ts'
import { ActivityPage, ActivityQuery } from './schemas.ts'

export async function activityRoutes(fastify: FastifyInstance) {
  const app = fastify.withTypeProvider<ZodTypeProvider>()

  app.get(
    '/v1/activities',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['activities'],
        summary: 'The tenant activity log',
        description:
          'Newest first. With `after=<id>`: the events after that one, oldest first, to fill a gap after a reconnect.',
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
}
