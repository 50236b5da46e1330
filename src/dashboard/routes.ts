import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { CSS, HTML, JS, type StaticFile, serveStaticFiles } from '../http/static-files.ts'

const here = (file: string) => readFileSync(new URL(file, import.meta.url))
const require = createRequire(import.meta.url)
const fromPackage = (name: string, file: string) =>
  readFileSync(join(dirname(require.resolve(`${name}/package.json`)), file))

const FILES: Record<string, StaticFile> = {
  '/dashboard': { type: HTML, body: here('./index.html') },
  '/dashboard/app.js': { type: JS, body: here('./app.js') },
  '/dashboard/events.js': { type: JS, body: here('./events.js') },
  '/dashboard/chart.js': { type: JS, body: here('./chart.js') },
  '/dashboard/style.css': { type: CSS, body: here('./style.css') },
  // Browser builds of our dependencies, served from node_modules: no CDN, the same CSP.
  '/dashboard/socket.io.min.js': { type: JS, body: fromPackage('socket.io-client', 'dist/socket.io.min.js') },
  '/dashboard/uplot.iife.min.js': { type: JS, body: fromPackage('uplot', 'dist/uPlot.iife.min.js') },
  '/dashboard/uplot.min.css': { type: CSS, body: fromPackage('uplot', 'dist/uPlot.min.css') },
}

/**
 * The dashboard: static files read once at boot (no build step), and the browser builds of the
 * Socket.IO client and uPlot (the overview chart) from node_modules. Its policy: scripts and
 * styles only from this origin, no inline code (uPlot styles through the CSSOM, which the policy
 * allows), and connections (fetch, WebSocket) only back to this origin.
 */
export async function dashboardRoutes(app: FastifyInstance) {
  serveStaticFiles(app, FILES, {
    csp: [
      "default-src 'none'",
      "script-src 'self'",
      "style-src 'self'",
      "img-src 'self' data:",
      "connect-src 'self'",
      "base-uri 'none'",
      "form-action 'none'",
      "frame-ancestors 'none'",
    ],
    cacheControl: 'no-cache',
  })
}
