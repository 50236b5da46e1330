import { Server } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import { Problem } from '../problems.ts'
import { sendProblem } from './error-handler.ts'

/** Apps that closeGracefully is draining: their responses end their connection. */
const draining = new WeakSet<FastifyInstance>()

/**
 * Once the app starts closing (SIGTERM), requests already running finish, and a request that
 * still arrives on an open connection gets a 503 problem telling the client to retry elsewhere,
 * with `connection: close` so the connection does not hold the drain open. Fastify's own
 * return503OnClosing answers with a non-problem body, so it is off in app.ts. While the server
 * drains (closeGracefully, before close), responses are served as usual but end their connection.
 */
export function refuseWhileClosing(app: FastifyInstance): void {
  let closing = false
  app.addHook('preClose', async () => {
    closing = true
  })
  app.addHook('onRequest', async (request, reply) => {
    if (draining.has(app)) reply.header('connection', 'close')
    if (!closing) return
    reply.header('connection', 'close')
    return sendProblem(
      request,
      reply,
      new Problem('unavailable', 'the server is shutting down; retry the request', { headers: { 'retry-after': '1' } }),
    )
  })
}

/**
 * Stops an app behind a load balancer without resetting a request that reached it:
 * 1. The listener closes: the balancer's next connection is refused and goes to another instance
 *    (deploy/nginx.conf). This is net.Server's close: http.Server's also destroys every connection
 *    that has not sent a request yet, and a connection accepted a moment ago is one of them; its
 *    request was already sent, so nginx saw a reset and answered a POST with 502.
 * 2. For `graceMs`, requests on connections already open are served, each ending its connection.
 * 3. The app closes: running requests finish, later ones get a 503, idle connections are closed.
 */
export async function closeGracefully(app: FastifyInstance, graceMs: number): Promise<void> {
  draining.add(app)
  Server.prototype.close.call(app.server)
  await sleep(graceMs)
  // app.close() waits for open connections; an idle keep-alive one would hold it open.
  const sweep = setInterval(() => app.server.closeIdleConnections(), 100)
  await app.close().finally(() => clearInterval(sweep))
}
