/*
 * In a real browser (headless Chromium through playwright-core): a page on another origin calls
 * the API, allowed only when CORS_ORIGINS lists it; Swagger UI renders and "Try it out" works
 * for register and login under our Content-Security-Policy; problem pages render under theirs.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { type Browser, chromium, type Page } from 'playwright-core'
import t from 'tap'
import { buildTestApp } from '../helpers/app.ts'
import { CHROMIUM, chromiumMissing } from '../helpers/browser.ts'
import { connect } from '../helpers/db.ts'

t.test('in Chromium', { skip: chromiumMissing(t) }, async (t) => {
  const browser: Browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  })
  t.teardown(() => browser.close())

  /** A static page on its own origin (a port of its own). */
  const pageServer = async (): Promise<{ origin: string; server: Server }> => {
    const server = createServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>client app</title>')
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    t.teardown(() => new Promise((resolve) => server.close(resolve)))
    return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server }
  }
  const listed = await pageServer()
  const unlisted = await pageServer()
  const { app, db } = await buildTestApp(t, { env: { CORS_ORIGINS: listed.origin } })
  const api = await app.listen({ host: '127.0.0.1', port: 0 })

  /** A fresh page that records every CSP violation and console error. */
  const open = async (url: string): Promise<{ page: Page; violations: string[]; errors: string[] }> => {
    const page = await browser.newPage()
    t.teardown(() => page.close())
    const violations: string[] = []
    const errors: string[] = []
    await page.exposeFunction('reportViolation', (line: string) => violations.push(line))
    // Browser code as a string: this file is type-checked against Node's globals, not the DOM's.
    await page.addInitScript({
      content:
        "document.addEventListener('securitypolicyviolation', (e) => reportViolation(e.violatedDirective + ' blocked ' + e.blockedURI))",
    })
    page.on('console', (message) => {
      if (message.type() === 'error') errors.push(message.text())
    })
    await page.goto(url)
    return { page, violations, errors }
  }

  /** From the page: register with JSON (a preflighted request), then read /v1/me with the token. */
  const callFrom = (page: Page, slug: string) =>
    page.evaluate(
      async ({ api, slug }) => {
        try {
          const registered = await fetch(`${api}/v1/auth/register`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({
              email: `${slug}@example.com`,
              password: 'correct horse battery',
              name: 'Browser',
              tenant: { name: slug, slug },
            }),
          })
          const session = (await registered.json()) as { accessToken: string }
          const me = await fetch(`${api}/v1/me`, { headers: { authorization: `Bearer ${session.accessToken}` } })
          return {
            register: registered.status,
            location: registered.headers.get('location'),
            me: me.status,
            requestId: me.headers.get('x-request-id'),
            role: ((await me.json()) as { role: string }).role,
          }
        } catch (error) {
          return { blocked: String(error) }
        }
      },
      { api, slug },
    )

  t.test('a page on a listed origin calls the API and reads the exposed headers', async (t) => {
    const { page } = await open(listed.origin)
    const result = await callFrom(page, `cors-ok-${process.pid}`)
    t.match(result, { register: 201, location: '/v1/me', me: 200, role: 'owner' }, JSON.stringify(result))
    t.match((result as { requestId: string }).requestId, /^[\w.-]+$/, 'x-request-id is readable')
  })

  t.test('a page on an origin that is not listed is blocked by the browser', async (t) => {
    const { page } = await open(unlisted.origin)
    const result = await callFrom(page, `cors-no-${process.pid}`)
    t.match(result, { blocked: /TypeError: Failed to fetch/ }, JSON.stringify(result))
    const root = await connect(t, db.rootUrl)
    const { rows } = await root.query('select 1 from app_public.tenants where slug = $1', [`cors-no-${process.pid}`])
    t.equal(rows.length, 0, 'and the preflight kept the request from reaching the handler')
  })

  t.test('Swagger UI renders under the CSP, and "Try it out" registers and signs in', async (t) => {
    const { page, violations, errors } = await open(`${api}/docs`)
    await page.waitForSelector('.swagger-ui .info .title')
    t.match(await page.textContent('.swagger-ui .info .title'), /Tenantry API/)
    const operations = await page.locator('.opblock').count()
    t.ok(operations >= 27, `${operations} operations rendered`)

    const tryIt = async (operationId: string, status: string) => {
      const block = page.locator(`#operations-auth-${operationId}`)
      await block.locator('.opblock-summary').click()
      await block.locator('button.try-out__btn').click()
      await block.locator('button.execute').click()
      const cell = block.locator('.live-responses-table .response .response-col_status').first()
      await cell.waitFor()
      t.equal((await cell.textContent())?.trim(), status, `${operationId} with its example: ${status}`)
    }
    await tryIt('register', '201')
    await tryIt('login', '200')
    t.same(violations, [], 'no Content-Security-Policy violation')
    t.same(errors, [], 'no console error')
  })

  t.test('a problem page renders, styled, under its own strict CSP', async (t) => {
    const { page, violations } = await open(`${api}/problems/precondition-failed`)
    t.match(await page.textContent('h1'), 'Precondition failed')
    const font = String(await page.evaluate('getComputedStyle(document.body).fontFamily'))
    t.match(font, /system-ui/, 'its inline style is allowed by hash')
    t.same(violations, [], 'no Content-Security-Policy violation')
    // The recorder works: anything the page did not ship is refused and reported.
    await page.evaluate("document.body.insertAdjacentHTML('beforeend', '<img src=\"http://127.0.0.1:9/x.png\">')")
    for (let i = 0; i < 20 && violations.length === 0; i++) await new Promise((r) => setTimeout(r, 50))
    t.match(violations, [/^img-src blocked http:\/\/127\.0\.0\.1:9\/x\.png/], 'an injected image is blocked')
  })
})
