/*
 * The pages mailed links open, in headless Chromium: forgot → dev mailbox → reset page → sign in
 * with the new password at /dashboard; and invitation mail → accept page → signed in. Loading a
 * link (a GET, as a mail scanner does) consumes nothing: only the page's POST does. Each page
 * runs under its own CSP with no violation, and drops the token from the address bar.
 */
import { type Browser, chromium, type Page } from 'playwright-core'
import t from 'tap'
import { freePort } from '../../src/net.ts'
import { buildTestApp, call, registerTenant } from '../helpers/app.ts'
import { CHROMIUM, chromiumMissing } from '../helpers/browser.ts'
import { createTestDatabase } from '../helpers/db.ts'
import { startTestWorker } from '../helpers/mail.ts'
import { waitFor } from '../helpers/wait.ts'

type DevMail = { to: string; subject: string; links: string[] }

t.test('account pages in Chromium', { skip: chromiumMissing(t) }, async (t) => {
  const port = await freePort()
  const base = `http://127.0.0.1:${port}`
  const db = await createTestDatabase(t)
  const { app, config } = await buildTestApp(t, { db, env: { PUBLIC_URL: base } })
  await app.listen({ host: '127.0.0.1', port })
  await startTestWorker(t, { config, ownerUrl: db.ownerUrl })

  const browser: Browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  })
  t.teardown(() => browser.close())

  /** A fresh page that records CSP violations and errors. */
  const open = async (url: string): Promise<{ page: Page; problems: string[] }> => {
    const page = await browser.newPage()
    t.teardown(() => page.close())
    const problems: string[] = []
    await page.exposeFunction('reportViolation', (line: string) => problems.push(line))
    await page.addInitScript({
      content:
        "document.addEventListener('securitypolicyviolation', (e) => reportViolation(e.violatedDirective + ' blocked ' + e.blockedURI))",
    })
    // Chromium asks every origin for /favicon.ico; any other failed load is a problem.
    page.on('response', (response) => {
      if (response.status() >= 400 && new URL(response.url()).pathname !== '/favicon.ico')
        problems.push(`${response.status()} ${response.url()}`)
    })
    page.on('console', (message) => {
      if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) {
        problems.push(message.text())
      }
    })
    page.on('pageerror', (error) => problems.push(String(error)))
    await page.goto(url)
    return { page, problems }
  }

  /** The newest link mailed to `to` whose subject matches, from the dev mailbox (GET /dev/mail). */
  const mailedLink = async (to: string, subject: RegExp): Promise<string> => {
    let link: string | undefined
    await waitFor(`a "${subject.source}" mail to ${to}`, async () => {
      const mails = ((await (await fetch(`${base}/dev/mail`)).json()) as { data: DevMail[] }).data
      link = mails.find((m) => m.to === to && subject.test(m.subject))?.links[0]
      return link !== undefined
    })
    return link!
  }

  t.test('the pages come with their own CSP and no referrer', async (t) => {
    for (const path of ['/account/reset', '/account/confirm', '/account/accept']) {
      const res = await fetch(`${base}${path}`)
      t.equal(res.status, 200, path)
      t.equal(res.headers.get('referrer-policy'), 'no-referrer', `${path}: Referrer-Policy`)
      t.match(res.headers.get('content-security-policy'), /default-src 'none'.*script-src 'self'/, `${path}: CSP`)
      t.equal(res.headers.get('cache-control'), 'no-store', `${path}: not cached`)
    }
  })

  t.test('forgot → dev mailbox → reset page → sign in with the new password', async (t) => {
    const user = await registerTenant(app)
    const { page, problems } = await open(`${base}/account/reset`)
    await page.fill('#forgot input[name=email]', user.user.email)
    await page.click('#forgot button[type=submit]')
    await page.waitForSelector('#result:not([hidden])')
    t.match(await page.textContent('#result'), /mail is on its way/, 'the same answer as the API')

    const link = await mailedLink(user.user.email, /Reset your password/)
    t.match(link, `${base}/account/reset#token=`)
    // A mail scanner fetches the link: a GET of the page, which consumes nothing.
    t.equal((await fetch(link)).status, 200)
    // The link opens in a new tab, as from a mail client.
    const { page: resetPage, problems: resetProblems } = await open(link)
    await resetPage.waitForSelector('#reset:not([hidden])')
    t.equal(resetPage.url(), `${base}/account/reset`, 'the token left the address bar')
    await resetPage.fill('#reset input[name=password]', 'a brand new passphrase')
    await resetPage.click('#reset button[type=submit]')
    await resetPage.waitForSelector('#result:has-text("Your password is set")')
    t.pass('the page reset the password')
    problems.push(...resetProblems)

    await page.goto(`${base}/dashboard`)
    await page.fill('input[name=email]', user.user.email)
    await page.fill('input[name=password]', 'a brand new passphrase')
    await page.click('#sign-in button[type=submit]')
    await page.waitForSelector('#connection.live', { timeout: 10_000 })
    t.pass('signed in at /dashboard with the new password')
    t.same(problems, [], 'no CSP violation, no console error')
  })

  t.test('invitation mail → accept page → signed in', async (t) => {
    const owner = await registerTenant(app)
    const invited = await call(app, owner, 'POST', '/v1/invitations', { email: 'browser-invitee@example.com' })
    t.equal(invited.statusCode, 201)
    const link = await mailedLink('browser-invitee@example.com', /invited/)
    t.match(link, `${base}/account/accept#token=`)
    const { page, problems } = await open(link)
    await page.fill('#accept input[name=name]', 'Browser Invitee')
    await page.fill('#accept input[name=password]', 'correct horse battery')
    await page.click('#accept button[type=submit]')
    await page.waitForSelector('#result:has-text("Signed in as")')
    t.match(await page.textContent('#result'), `Signed in as browser-invitee@example.com to ${owner.tenant.name}`)
    t.same(problems, [], 'no CSP violation, no console error')
  })
})
