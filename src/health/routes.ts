import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { ping } from './queries.ts'

import type { ReadinessCheck } from './readiness.ts'

export type { ReadinessCheck }

const Status = z.object({
  status: z.enum(['ok', 'unavailable']),
  checks: z.record(z.string(), z.boolean()).optional(),
  values: z.record(z.string(), z.number()).optional(),
})

export async function healthRoutes(fastify: FastifyInstance, options: { checks: ReadinessCheck[] }) {
  const app = fastify.withTypeProvider<ZodTypeProvider>()

  app.get(
    '/health',
    {
      config: { access: 'public', responses: { 200: 'The process is alive' } },
      schema: {
        operationId: 'getHealth',
        tags: ['health'],
        summary: 'Liveness: the process answers',
        description: 'Checks nothing else: use it to restart a hung process, not to route traffic (see /ready).',
        response: { 200: Status },
      },
    },
    async () => ({ status: 'ok' as const }),
  )

  const checks: ReadinessCheck[] = [
    { name: 'database', check: async () => (await app.db.oneFirst(ping())) === 1 },
    ...options.checks,
  ]

  app.get(
    '/ready',
    {
      config: {
        access: 'public',
        responses: { 200: 'Ready: every dependency answers', 503: 'Not ready: `checks` names what is down' },
      },
      schema: {
        operationId: 'getReadiness',
        tags: ['health'],
        summary: 'Readiness: every dependency up (503 otherwise)',
        description:
          'The database and, when realtime runs, the LISTEN connection. Load balancers route traffic on this.',
        response: { 200: Status, 503: Status },
      },
    },
    async (_request, reply) => {
      const results = await Promise.all(
        checks.map(async ({ name, check }) => {
          const result = await check().catch(() => false)
          return typeof result === 'boolean' ? { name, up: result } : { name, ...result }
        }),
      )
      const ok = results.every(({ up }) => up)
      const values = results.filter((result) => 'value' in result)
      return reply.code(ok ? 200 : 503).send({
        status: ok ? 'ok' : 'unavailable',
        checks: Object.fromEntries(results.map(({ name, up }) => [name, up])),
        ...(values.length ? { values: Object.fromEntries(values.map(({ name, value }) => [name, value!])) } : {}),
      })
    },
  )
}
