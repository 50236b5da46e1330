import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import type { FastifyInstance } from 'fastify'

/**
 * The dashboard: static files read once at boot (no build step), and the browser builds of the
 * Socket.IO client and uPlot (the overview chart) from node_modules. The page gets its own
 * Content-Security-Policy, set here so a global policy added later does not replace it: scripts
 * and styles only from this origin, no inline code (uPlot styles through the CSSOM, which the
 * policy allows), and connections (fetch, WebSocket) only back to this origin.
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
const fromPackage = (name: string, file: string) =>
  readFileSync(join(dirname(require.resolve(`${name}/package.json`)), file))

const JS = 'text/javascript; charset=utf-8'
const CSS = 'text/css; charset=utf-8'
const FILES: Record<string, { type: string; body: Buffer }> = {
  '/dashboard': { type: 'text/html; charset=utf-8', body: readFileSync(here('./index.html')) },
  '/dashboard/app.js': { type: JS, body: readFileSync(here('./app.js')) },
  '/dashboard/events.js': { type: JS, body: readFileSync(here('./events.js')) },
  '/dashboard/chart.js': { type: JS, body: readFileSync(here('./chart.js')) },
  '/dashboard/style.css': { type: CSS, body: readFileSync(here('./style.css')) },
  // Browser builds of our dependencies, served from node_modules: no CDN, the same CSP.
  '/dashboard/socket.io.min.js': { type: JS, body: fromPackage('socket.io-client', 'dist/socket.io.min.js') },
  '/dashboard/uplot.iife.min.js': { type: JS, body: fromPackage('uplot', 'dist/uPlot.iife.min.js') },
  '/dashboard/uplot.min.css': { type: CSS, body: fromPackage('uplot', 'dist/uPlot.min.css') },
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
