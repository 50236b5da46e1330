import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import type { FastifyInstance } from 'fastify'

/**
 * The dashboard: static files read once at boot (no build step), and the Socket.IO browser
 * client from node_modules. The page gets its own Content-Security-Policy, set here so a global
 * policy added later does not replace it: scripts and styles only from this origin, no inline
 * code, and connections (fetch, WebSocket) only back to this origin.
 */
const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ')

const here = (file: string) => new URL(file, import.meta.url)
const require = createRequire(import.meta.url)

const FILES: Record<string, { type: string; body: Buffer }> = {
  '/dashboard': { type: 'text/html; charset=utf-8', body: readFileSync(here('./index.html')) },
  '/dashboard/app.js': { type: 'text/javascript; charset=utf-8', body: readFileSync(here('./app.js')) },
  '/dashboard/style.css': { type: 'text/css; charset=utf-8', body: readFileSync(here('./style.css')) },
  '/dashboard/socket.io.min.js': {
    type: 'text/javascript; charset=utf-8',
    body: readFileSync(join(dirname(require.resolve('socket.io-client/package.json')), 'dist/socket.io.min.js')),
  },
}

export async function dashboardRoutes(app: FastifyInstance) {
  for (const [url, file] of Object.entries(FILES)) {
    app.get(url, { config: { access: 'public' }, schema: { hide: true } }, async (_request, reply) =>
      reply
        .type(file.type)
        .header('content-security-policy', CSP)
        .header('x-content-type-options', 'nosniff')
        .header('referrer-policy', 'no-referrer')
        .header('cache-control', 'no-cache')
        .send(file.body),
    )
  }
}
