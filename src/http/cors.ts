import fastifyCors from '@fastify/cors'
import type { FastifyInstance } from 'fastify'

/**
 * Cross-origin browsers: only the origins in CORS_ORIGINS (none by default). Credentials are
 * bearer tokens in a header, never cookies, so `credentials` stays off. Preflights are cached
 * for two hours (Chromium's cap), and scripts may read the headers clients need: rate-limit
 * budget, request id for support, Location of created resources, ETag for If-Match.
 */
export async function registerCors(app: FastifyInstance, origins: string[]): Promise<void> {
  await app.register(fastifyCors, {
    origin: origins,
    methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
    allowedHeaders: ['authorization', 'content-type', 'if-match', 'if-none-match', 'x-request-id'],
    exposedHeaders: [
      'ratelimit-limit',
      'ratelimit-remaining',
      'ratelimit-reset',
      'retry-after',
      'x-request-id',
      'location',
      'etag',
    ],
    maxAge: 7200,
    credentials: false,
    // A plain OPTIONS (no Origin) is answered 204 like any OPTIONS, not with the plugin's
    // text/plain 400: every error we send is a problem.
    strictPreflight: false,
  })
}
