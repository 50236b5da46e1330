import { chromium } from 'playwright-core'
import t from 'tap'
import { addMember, buildTestApp, call, PASSWORD, registerTenant } from '../helpers/app.ts'
import { CHROMIUM, chromiumMissing } from '../helpers/browser.ts'
import { invitationToken } from '../helpers/mail.ts'
import { listen } from '../helpers/realtime.ts'

const skip = chromiumMissing(t)

t.test(
  'the dashboard, driven in headless Chromium, stays live and loses access with the member',
  { skip },
  async (t) => {
    const { app } = await buildTestApp(t)
    const base = await listen(app)
    const owner = await registerTenant(app)
    const member = await addMember(app, owner, 'member')

    const page0 = await app.inject({ url: '/dashboard' })
    t.equal(page0.statusCode, 200)
    t.match(page0.headers['content-security-policy'], /default-src 'none'; script-src 'self'/, 'its own CSP')

    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    })
    t.teardown(() => browser.close())
    const context = await browser.newContext()
    const page = await context.newPage()
    const consoleErrors: string[] = []
    page.on('console', (message) => {
      if (message.type() === 'error') consoleErrors.push(message.text())
    })
    page.on('pageerror', (error) => consoleErrors.push(String(error)))

    await page.goto(`${base}/dashboard`)
    await page.fill('input[name=email]', member.user.email)
    await page.fill('input[name=password]', PASSWORD)
    await page.click('#sign-in button[type=submit]')
    await page.waitForSelector('#connection.live', { timeout: 10_000 })
    t.pass('signed in, and the connection is live')
    t.equal(await page.locator('#members li').count(), 2, 'the members are listed')
    t.match(await page.locator(`#members li[data-user-id="${member.user.id}"]`).textContent(), /member/, 'with roles')
    t.equal(await page.locator('#broadcast').isVisible(), false, 'no broadcast form for a member')

    // Action: an item created through the API appears without a reload.
    await call(app, owner, 'POST', '/v1/items', { name: 'made elsewhere' })
    await page.waitForSelector('#items li:has-text("made elsewhere")', { timeout: 5000 })
    await page.waitForSelector('#feed li:has-text("made elsewhere")', { timeout: 5000 })
    t.pass('an item created through the API appears in the items list and the feed')

    // Action: the connection drops, writes happen while it is away, it comes back.
    await context.setOffline(true)
    // Server side, drop the transport (not a server disconnect: the client reconnects by itself).
    for (const socket of app.realtime.io.of('/').sockets.values()) socket.conn.close()
    await page.waitForSelector('#connection.reconnecting', { timeout: 5000 })
    for (const name of ['while away 1', 'while away 2', 'while away 3']) {
      await call(app, owner, 'POST', '/v1/items', { name })
    }
    await call(app, owner, 'POST', '/v1/tenant/broadcasts', { message: 'you missed this' })
    await context.setOffline(false)
    await page.waitForSelector('#connection.live', { timeout: 10_000 })
    await page.waitForSelector('#feed li:has-text("you missed this")', { timeout: 5000 })
    const feed = await page.locator('#feed li .text').allTextContents()
    t.same(
      feed.slice(0, 4),
      ['you missed this', 'while away 3', 'while away 2', 'while away 1'],
      'the missed events appear after the reconnect, newest first, once each',
    )
    await page.waitForSelector('#items li:has-text("while away 3")', { timeout: 5000 })
    t.pass('and the items list caught up')

    // Action: the owner removes the member; the page loses access.
    t.equal((await call(app, owner, 'DELETE', `/v1/members/${member.user.id}`)).statusCode, 204)
    await page.waitForSelector('#notice:has-text("no longer have access")', { timeout: 5000 })
    t.equal(await page.locator('#workspace').isVisible(), false, 'the tenant data is gone from the page')
    t.equal(await page.locator('#items li').count(), 0)

    t.same(
      consoleErrors.filter((text) => /Content Security Policy|Refused/.test(text)),
      [],
      'the page satisfies its Content-Security-Policy',
    )
  },
)

t.test('an admin sees the broadcast form and can switch tenants', { skip }, async (t) => {
  const { app } = await buildTestApp(t)
  const base = await listen(app)
  const owner = await registerTenant(app)
  // The owner is also a viewer of a second tenant.
  const other = await registerTenant(app)
  const invite = await call(app, other, 'POST', '/v1/invitations', { email: owner.user.email, role: 'viewer' })
  const accepted = await app.inject({
    method: 'POST',
    url: '/v1/invitations/accept',
    payload: { token: await invitationToken(app, invite.json().id), password: PASSWORD },
  })
  t.equal(accepted.statusCode, 200)
  await call(app, other, 'POST', '/v1/items', { name: 'only in the other tenant' })
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  })
  t.teardown(() => browser.close())
  const page = await browser.newPage()
  await page.goto(`${base}/dashboard`)
  await page.fill('input[name=email]', owner.user.email)
  await page.fill('input[name=password]', PASSWORD)
  await page.fill('input[name=tenant]', owner.tenant.slug)
  await page.click('#sign-in button[type=submit]')
  await page.waitForSelector('#connection.live', { timeout: 10_000 })
  await page.fill('#broadcast input[name=message]', 'hello from the page')
  await page.click('#broadcast button[type=submit]')
  await page.waitForSelector('#feed li:has-text("hello from the page")', { timeout: 5000 })
  t.pass('a broadcast sent from the page comes back over the socket')

  await page.selectOption('#tenant-switch', other.tenant.slug)
  await page.waitForSelector('#items li:has-text("only in the other tenant")', { timeout: 10_000 })
  await page.waitForSelector('#connection.live', { timeout: 10_000 })
  t.equal(await page.locator('#feed li:has-text("hello from the page")').count(), 0, "the first tenant's feed is gone")
  t.equal(await page.locator('#broadcast').isVisible(), false, 'and a viewer has no broadcast form')
  await call(app, other, 'POST', '/v1/items', { name: 'live in the other tenant' })
  await page.waitForSelector('#items li:has-text("live in the other tenant")', { timeout: 5000 })
  t.pass('the socket now follows the other tenant')
})
