import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import * as queries from './queries.ts'

const DevMailQuery = z.strictObject({ limit: z.coerce.number().int().min(1).max(100).default(20) })

/**
 * GET /dev/mail: what the worker "sent" while SMTP_URL was unset, so `npm start` alone shows every
 * flow end to end. Registered only outside production (there it is an unknown route: 404), and
 * undocumented: it is a development tool, not part of the API.
 */
export async function devMailRoutes(fastify: FastifyInstance) {
  if (fastify.config.NODE_ENV === 'production') return
  const app = fastify.withTypeProvider<ZodTypeProvider>()
  app.get(
    '/dev/mail',
    { config: { access: 'public' }, schema: { hide: true, querystring: DevMailQuery } },
    async (request, reply) => {
      const { body } = await app.db.one(queries.devMailbox(request.query.limit))
      return reply.type('application/json; charset=utf-8').header('cache-control', 'no-store').send(body)
    },
  )
}
