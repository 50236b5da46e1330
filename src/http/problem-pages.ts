import { createHash } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { PROBLEM_BASE, PROBLEM_SLUGS, PROBLEM_TYPES, Problem, type ProblemType, problemUri } from '../problems.ts'

/*
 * RFC 9457 §3.1.1: a problem `type` URI should resolve to documentation for people. Each
 * /problems/<slug> is a short static page: what the problem means and what to do about it.
 */

const STYLE =
  'body{font:16px/1.5 system-ui,sans-serif;max-width:42rem;margin:3rem auto;padding:0 1rem;color:#222}' +
  'code{background:#f3f3f3;padding:0 .2em;border-radius:3px}h1{font-size:1.6rem}.status{color:#666}'
// The page's only style is this inline block: the CSP allows exactly it, and nothing else.
const CSP = `default-src 'none'; style-src 'sha256-${createHash('sha256').update(STYLE).digest('base64')}'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`

const escapeHtml = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!)
// The texts in problems.ts use `backticks` for code, as the OpenAPI document's Markdown does.
const prose = (text: string) => escapeHtml(text).replace(/`([^`]+)`/g, '<code>$1</code>')

const page = (title: string, body: string) =>
  `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">` +
  `<title>${escapeHtml(title)} · Tenantry API</title><style>${STYLE}</style></head><body>${body}` +
  `<p><a href="${PROBLEM_BASE}">All problem types</a> · <a href="/docs">API reference</a></p></body></html>\n`

const problemPage = (slug: ProblemType) => {
  const problem = PROBLEM_TYPES[slug]
  return page(
    problem.title,
    `<h1>${escapeHtml(problem.title)}</h1><p class="status">HTTP ${problem.status} · <code>${problemUri(slug)}</code></p>` +
      `<h2>What it means</h2><p>${prose(problem.means)}</p><h2>What to do</h2><p>${prose(problem.fix)}</p>` +
      '<p>The response body is an RFC 9457 problem: <code>type</code> (this page), <code>title</code>, ' +
      '<code>status</code>, <code>detail</code> (what went wrong with your request) and, for validation ' +
      'failures, <code>errors</code>.</p>',
  )
}

const indexPage = () =>
  page(
    'Problem types',
    '<h1>Problem types</h1><p>Every error of the Tenantry API is an RFC 9457 problem ' +
      '(<code>application/problem+json</code>) whose <code>type</code> is one of these:</p><ul>' +
      PROBLEM_SLUGS.map(
        (slug) =>
          `<li><a href="${problemUri(slug)}"><code>${slug}</code></a> (${PROBLEM_TYPES[slug].status}): ${escapeHtml(PROBLEM_TYPES[slug].title)}</li>`,
      ).join('') +
      '</ul>',
  )

const pages = new Map<string, string>(PROBLEM_SLUGS.map((slug) => [slug, problemPage(slug)]))

export async function problemPageRoutes(app: FastifyInstance) {
  const html = 'text/html; charset=utf-8'
  app.get('/problems/', { config: { access: 'public' }, schema: { hide: true } }, async (_request, reply) =>
    reply.type(html).header('content-security-policy', CSP).send(indexPage()),
  )
  app.get<{ Params: { slug: string } }>(
    '/problems/:slug',
    { config: { access: 'public' }, schema: { hide: true } },
    async (request, reply) => {
      const body = pages.get(request.params.slug)
      if (!body) throw new Problem('not-found', 'there is no such problem type; the index is /problems/')
      return reply
        .type(html)
        .header('content-security-policy', CSP)
        .header('cache-control', 'public, max-age=86400')
        .send(body)
    },
  )
}
