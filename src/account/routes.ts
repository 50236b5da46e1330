import { readFileSync } from 'node:fs'
import type { FastifyInstance } from 'fastify'
import { CSS, HTML, JS, type StaticFile, serveStaticFiles } from '../http/static-files.ts'

const here = (file: string) => readFileSync(new URL(file, import.meta.url))

const FILES: Record<string, StaticFile> = {
  '/account/reset': { type: HTML, body: here('./reset.html') },
  '/account/confirm': { type: HTML, body: here('./confirm.html') },
  '/account/accept': { type: HTML, body: here('./accept.html') },
  '/account/account.js': { type: JS, body: here('./account.js') },
  '/account/style.css': { type: CSS, body: here('./style.css') },
}

/**
 * The pages mailed links open, in the spirit of /dashboard. Their policy: this origin only, no
 * inline code, forms post nowhere but through fetch to this origin. `no-store`: a page that held
 * a token stays out of caches.
 */
export async function accountPageRoutes(app: FastifyInstance) {
  serveStaticFiles(app, FILES, {
    csp: [
      "default-src 'none'",
      "script-src 'self'",
      "style-src 'self'",
      "connect-src 'self'",
      "base-uri 'none'",
      "form-action 'none'",
      "frame-ancestors 'none'",
    ],
    cacheControl: 'no-store',
  })
}
