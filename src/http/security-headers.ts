import fastifyHelmet from '@fastify/helmet'
import type { FastifyInstance } from 'fastify'

/**
 * helmet's headers on every response. Its default CSP (scripts and styles from our own origin,
 * no plugins, no framing by others) is what Swagger UI at /docs needs; the one change is no
 * `upgrade-insecure-requests`, which would break the docs on a plain-HTTP development server.
 * helmet sets its headers in onRequest, so a route that sets its own Content-Security-Policy
 * (a page with other needs) simply overrides it.
 */
export async function registerSecurityHeaders(app: FastifyInstance): Promise<void> {
  await app.register(fastifyHelmet, {
    contentSecurityPolicy: { directives: { 'upgrade-insecure-requests': null } },
  })
}
