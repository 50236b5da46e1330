import { readFileSync } from 'node:fs'
import type { FastifyInstance } from 'fastify'

/**
 * The pages mailed links open: static files read once at boot, in the spirit of /dashboard. Their
 * own Content-Security-Policy (this origin only, no inline code, forms post nowhere but through
 * fetch to this origin), and `Referrer-Policy: no-referrer`, so neither a token nor the page's
 * address ever leaves in a Referer. `no-store`: a page that held a token stays out of caches.
 */
const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ')

const here = (file: string) => new URL(file, import.meta.url)
const html = 'text/html; charset=utf-8'

const FILES: Record<string, { type: string; body: Buffer }> = {
  '/account/reset': { type: html, body: readFileSync(here('./reset.html')) },
  '/account/confirm': { type: html, body: readFileSync(here('./confirm.html')) },
  '/account/accept': { type: html, body: readFileSync(here('./accept.html')) },
  '/account/account.js': { type: 'text/javascript; charset=utf-8', body: readFileSync(here('./account.js')) },
  '/account/style.css': { type: 'text/css; charset=utf-8', body: readFileSync(here('./style.css')) },
}

export async function accountPageRoutes(app: FastifyInstance) {
  for (const [url, file] of Object.entries(FILES)) {
    app.get(url, { config: { access: 'public' }, schema: { hide: true } }, async (_request, reply) =>
      reply
        .type(file.type)
        .header('content-security-policy', CSP)
        .header('x-content-type-options', 'nosniff')
        .header('referrer-policy', 'no-referrer')
        .header('cache-control', 'no-store')
        .send(file.body),
    )
  }
}
