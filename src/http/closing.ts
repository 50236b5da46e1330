import type { FastifyInstance } from 'fastify'
import { Problem } from '../problems.ts'
import { sendProblem } from './error-handler.ts'

/**
 * Once the app starts closing (SIGTERM), requests already running finish, and a request that
 * still arrives on an open connection gets a 503 problem telling the client to retry elsewhere,
 * with `connection: close` so the connection does not hold the drain open. Fastify's own
 * return503OnClosing answers with a non-problem body, so it is off in app.ts.
 */
export function refuseWhileClosing(app: FastifyInstance): void {
  let closing = false
  app.addHook('preClose', async () => {
    closing = true
  })
  app.addHook('onRequest', async (request, reply) => {
    if (!closing) return
    reply.header('connection', 'close')
    return sendProblem(
      request,
      reply,
      new Problem('unavailable', 'the server is shutting down; retry the request', { headers: { 'retry-after': '1' } }),
    )
  })
}
