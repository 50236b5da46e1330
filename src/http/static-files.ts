import type { FastifyInstance } from 'fastify'

/** A file read once at boot and served as it is. */
export type StaticFile = { type: string; body: Buffer }

export const HTML = 'text/html; charset=utf-8'
export const JS = 'text/javascript; charset=utf-8'
export const CSS = 'text/css; charset=utf-8'

/**
 * Serves pages (the dashboard, the account pages) from memory, each with its own
 * Content-Security-Policy, set per route so a global policy added later does not replace it, and
 * `Referrer-Policy: no-referrer`, so neither a token nor the page's address leaves in a Referer.
 */
export function serveStaticFiles(
  app: FastifyInstance,
  files: Record<string, StaticFile>,
  headers: { csp: readonly string[]; cacheControl: 'no-cache' | 'no-store' },
): void {
  const csp = headers.csp.join('; ')
  for (const [url, file] of Object.entries(files)) {
    app.get(url, { config: { access: 'public' }, schema: { hide: true } }, async (_request, reply) =>
      reply
        .type(file.type)
        .header('content-security-policy', csp)
        .header('x-content-type-options', 'nosniff')
        .header('referrer-policy', 'no-referrer')
        .header('cache-control', headers.cacheControl)
        .send(file.body),
    )
  }
}
