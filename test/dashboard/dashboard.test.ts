/*
 * The dashboard as a team uses it, in headless Chromium (playwright-core): an owner, a member
 * and a viewer each in their own browser context, against a real listener and database. Prints
 * the figures issue 23's closing note asks for as `# figure:` comments.
 */
import { readFileSync } from 'node:fs'
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core'
import t, { type Test } from 'tap'
import { buildTestApp, call, factoriesOf, PASSWORD, type Session } from '../helpers/app.ts'
import { CHROMIUM, chromiumMissing } from '../helpers/browser.ts'
import { connectSocket, listen, sleep, untilLive } from '../helpers/realtime.ts'

const skip = chromiumMissing(t)
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/
const figure = (t: Test, name: string, value: unknown) => t.comment(`figure: ${name}: ${JSON.stringify(value)}`)
const since = (start: number) => Math.round(performance.now() - start)
// Replays above this make the server send resync_required (a small value, so the test can cross it).
const REPLAY_LIMIT = 30

type Tab = { context: BrowserContext; page: Page; problems: string[]; activityRequests: string[] }

async function launch(t: Test): Promise<Browser> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  })
  t.teardown(() => browser.close())
  return browser
}

/** A browser context of its own (its own sessionStorage) that records CSP violations and errors. */
async function openTab(browser: Browser, base: string, viewport = { width: 1280, height: 900 }): Promise<Tab> {
  const context = await browser.newContext({ viewport })
  const page = await context.newPage()
  const problems: string[] = []
  const activityRequests: string[] = []
  page.on('console', (message) => {
    if (message.type() === 'error' && /Content Security Policy|Refused|Uncaught/.test(message.text()))
      problems.push(message.text())
  })
  page.on('pageerror', (error) => problems.push(String(error)))
  page.on('dialog', (dialog) => void dialog.accept())
  page.on('request', (request) => {
    if (new URL(request.url()).pathname === '/v1/activities') activityRequests.push(request.url())
  })
  await page.goto(`${base}/dashboard`)
  return { context, page, problems, activityRequests }
}

/**
 * Signs in through the form. Milliseconds: the login request (a bcrypt check), from its answer
 * to `live` (the page's REST loads and the socket handshake), and from the click to `live`.
 */
async function signIn(
  tab: Tab,
  session: Session,
): Promise<{ login: number; answerToLive: number; clickToLive: number }> {
  const { page } = tab
  await page.fill('input[name=email]', session.user.email)
  await page.fill('input[name=password]', PASSWORD)
  await page.fill('input[name=tenant]', session.tenant.slug)
  const start = performance.now()
  let sent = 0
  const answered = page.waitForResponse('**/v1/auth/login').then(() => performance.now())
  page.once('request', () => {
    sent = performance.now()
  })
  await page.click('#sign-in button[type=submit]')
  await page.waitForSelector('#connection.live', { timeout: 10_000 })
  const answer = await answered
  return { login: Math.round(answer - sent), answerToLive: since(answer), clickToLive: since(start) }
}

/** Feed sentences in order (oldest first), with the away marker as '--away--'. */
const feedLines = (page: Page) =>
  page.locator('#feed li').evaluateAll((lis) =>
    lis.map((li) => {
      const element = li as unknown as { className: string; querySelector: (s: string) => { textContent: string } }
      return element.className === 'away' ? '--away--' : element.querySelector('.text').textContent
    }),
  )

async function axeViolations(page: Page) {
  await page.evaluate(readFileSync('node_modules/axe-core/axe.min.js', 'utf8'))
  return (await page.evaluate(
    `axe.run(document, { resultTypes: ['violations'] }).then((r) => r.violations.map((v) => ({
      id: v.id, impact: v.impact, nodes: v.nodes.length, targets: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) })))`,
  )) as { id: string; impact: string; nodes: number; targets: string[] }[]
}

const byImpact = (violations: { impact: string; nodes: number }[]) => {
  const counts: Record<string, number> = { critical: 0, serious: 0, moderate: 0, minor: 0 }
  for (const v of violations) counts[v.impact] = (counts[v.impact] ?? 0) + v.nodes
  return counts
}

t.test('the dashboard, as an owner, a member and a viewer use it', { skip }, async (t) => {
  const { app } = await buildTestApp(t, { env: { REALTIME_REPLAY_LIMIT: String(REPLAY_LIMIT) } })
  const base = await listen(app)
  const factories = factoriesOf(app)
  const owner = await factories.tenant({ plan: 'pro' })
  const member = await factories.member(owner.tenant, 'member', `bob-${process.pid}`)
  const viewer = await factories.member(owner.tenant, 'viewer', `vic-${process.pid}`)
  const handshakes: { lastEventId?: unknown }[] = []
  app.realtime.io.of('/').on('connection', (socket) => handshakes.push(socket.handshake.auth))

  const page0 = await app.inject({ url: '/dashboard' })
  t.match(page0.headers['content-security-policy'], /default-src 'none'; script-src 'self'; style-src 'self'/)
  t.notMatch(page0.body, /<script>|style="|https?:\/\//, 'no inline script or style, nothing from another origin')

  const browser = await launch(t)
  const a = await openTab(browser, base)
  const b = await openTab(browser, base)
  const timeToLive = await signIn(a, owner)
  figure(t, 'time to live (owner, ms)', timeToLive)
  await signIn(b, member)

  await t.test('an item created over REST appears on the page', async (t) => {
    const start = performance.now()
    t.equal((await call(app, owner, 'POST', '/v1/items', { name: 'made by REST' })).statusCode, 201)
    await a.page.waitForSelector('#items li:has-text("made by REST")', { timeout: 5000 })
    figure(t, 'REST-created item visible on the page (ms)', since(start))
    await b.page.waitForSelector(`#feed li:has-text("${owner.user.name} created made by REST")`, { timeout: 5000 })
    t.pass('and the feed says who did it, by name')
  })

  await t.test('created, renamed and deleted on one page, seen on another member’s within a second', async (t) => {
    const latencies: Record<string, number> = {}
    // Created with the keyboard only: type, Enter.
    await a.page.focus('#item-create input[name=name]')
    await a.page.keyboard.type('Quarterly report')
    let start = performance.now()
    await a.page.keyboard.press('Enter')
    await b.page.waitForSelector('#items li:has-text("Quarterly report")', { timeout: 1000 })
    latencies.created = since(start)

    // Renamed with the keyboard: the row's Rename button, Enter, a new name, Enter.
    await a.page.focus('#items li:has-text("Quarterly report") button.rename')
    await a.page.keyboard.press('Enter')
    await a.page.keyboard.type('Quarterly report (final)')
    start = performance.now()
    await a.page.keyboard.press('Enter')
    await b.page.waitForSelector('#items li:has-text("Quarterly report (final)")', { timeout: 1000 })
    latencies.renamed = since(start)
    t.equal(await a.page.evaluate('document.activeElement.className'), 'rename', 'focus returns to the Rename button')

    start = performance.now()
    await a.page.click('#items li:has-text("Quarterly report (final)") button.delete')
    await b.page.waitForSelector('#items li:has-text("Quarterly report (final)")', { state: 'detached', timeout: 1000 })
    latencies.deleted = since(start)
    figure(t, 'page → another member’s page (ms)', latencies)

    const name = owner.user.name
    await b.page.waitForSelector(`#feed li:has-text("${name} deleted Quarterly report (final)")`, { timeout: 1000 })
    const lines = await feedLines(b.page)
    t.same(
      lines.slice(-3),
      [
        `${name} created Quarterly report`,
        `${name} changed Quarterly report (final)`,
        `${name} deleted Quarterly report (final)`,
      ],
      'the feed reads as sentences, by name',
    )
    const feedText = (await b.page.textContent('#feed')) ?? ''
    t.notMatch(feedText, UUID, 'no ids in the feed')
    t.notMatch(feedText, /ITEM_|USER_/, 'no type codes in the feed')
    t.match(feedText, new RegExp(`${member.user.name} joined as member`), 'members who joined are named')
    // One from REST, created, renamed, deleted: four item events since this page went live.
    await b.page.waitForSelector('#chart-totals li[data-family=items]:text-is("Items: 4")', { timeout: 2000 })
    t.pass('the chart counts what came over the socket')
    t.equal((await b.page.locator('#chart canvas').count()) > 0, true, 'and draws it')
  })

  await t.test('a viewer has no controls that would be refused, and a 403 is a notice', async (t) => {
    const c = await openTab(browser, base)
    await signIn(c, viewer)
    t.equal(await c.page.locator('#item-create').isVisible(), false, 'no create form')
    t.equal(await c.page.locator('#items button').count(), 0, 'no rename or delete buttons')
    t.equal(await c.page.locator('#members select, #members button:not(:has-text("Leave"))').count(), 0)
    t.equal(await c.page.locator('#invitations-card').isVisible(), false, 'no invitations')
    t.equal(await c.page.locator('#plan-change').isVisible(), false, 'no plan change')
    t.equal((await call(app, viewer, 'POST', '/v1/items', { name: 'by hand' })).statusCode, 403, 'the API refuses')
    // The same request, sent by hand from the page: the form made visible and submitted.
    await c.page.evaluate("document.querySelector('#item-create').hidden = false")
    await c.page.fill('#item-create input[name=name]', 'by hand')
    const start = performance.now()
    await c.page.click('#item-create button[type=submit]')
    await c.page.waitForSelector('#notice:has-text("Not allowed")', { timeout: 5000 })
    figure(t, 'viewer 403 shown as a notice (ms)', since(start))
    t.match(await c.page.textContent('#notice'), /Your role here is viewer/)
    t.equal(await c.page.locator('#workspace').isVisible(), true, 'the page stays whole')

    // Sign-out ends the session on the server, not only in the page.
    const stored = JSON.parse(String(await c.page.evaluate("sessionStorage.getItem('tenantry.session')")))
    await c.page.click('#sign-out')
    await c.page.waitForSelector('#notice:has-text("Signed out.")', { timeout: 5000 })
    const refresh = await app.inject({
      method: 'POST',
      url: '/v1/auth/refresh',
      payload: { refreshToken: stored.refreshToken },
    })
    t.equal(refresh.statusCode, 401, 'the refresh token no longer works')
    t.equal(await c.page.evaluate('sessionStorage.length'), 0, 'nothing is left in the tab')
    t.same(c.problems, [], 'no CSP violation or script error')
    await c.context.close()
  })

  await t.test('a reload while 10 events are written: back signed in, the 10 replayed once, in order', async (t) => {
    const { page } = b
    const lastBefore = JSON.parse(String(await page.evaluate(`sessionStorage.getItem('${feedKeyOf(member)}')`)))
      .lastEventId as number
    t.ok(lastBefore > 0, `the page keeps its last event id (${lastBefore})`)
    // The socket handshake of the reloaded page waits until the 10 are committed, so they are
    // certainly missed by the page, not received by the old one.
    let release = () => {}
    const written = new Promise<void>((resolve) => {
      release = resolve
    })
    await page.route('**/socket.io/**', async (route) => {
      await written
      await route.continue()
    })
    b.activityRequests.length = 0
    const handshakesBefore = handshakes.length
    const start = performance.now()
    await page.reload({ waitUntil: 'commit' })
    const names = Array.from({ length: 10 }, (_, i) => `away ${i + 1}`)
    for (const name of names) t.equal((await call(app, owner, 'POST', '/v1/items', { name })).statusCode, 201)
    release()
    await page.waitForSelector(`#feed li:has-text("created away 10")`, { timeout: 10_000 })
    await page.waitForSelector('#connection.live', { timeout: 10_000 })
    figure(t, 'reload → the 10 missed events shown and live (ms)', since(start))
    await page.unroute('**/socket.io/**')

    t.equal(await page.locator('#sign-in').isVisible(), false, 'signed in without the form')
    t.equal(await page.locator('#workspace').isVisible(), true)
    const lines = await feedLines(page)
    const marker = lines.indexOf('--away--')
    t.ok(marker > 0, 'a "while you were away" marker, after what was shown before')
    const after = lines.slice(marker + 1)
    t.same(
      after,
      names.map((name) => `${owner.user.name} created ${name}`),
      'the 10, once each, in order',
    )
    t.match(await page.textContent('#away-marker'), /While you were away: 10 new events/)
    const ids = await page
      .locator('#feed li[data-id]')
      .evaluateAll((lis) => lis.map((li) => (li as unknown as { dataset: { id: string } }).dataset.id))
    t.equal(new Set(ids).size, ids.length, 'no event shown twice')
    t.same(b.activityRequests, [], 'none of them was fetched over REST (no /v1/activities request)')
    const replayed = handshakes.slice(handshakesBefore)
    t.same(
      replayed.map((h) => h.lastEventId),
      [lastBefore],
      'the reconnect sent the stored lastEventId',
    )
    figure(t, 'reload replay', { eventsMissed: 10, shownAfterMarker: after.length, restActivityRequests: 0 })
  })

  await t.test('too far behind: resync_required reloads the state over REST', async (t) => {
    const { page } = b
    let release = () => {}
    const written = new Promise<void>((resolve) => {
      release = resolve
    })
    await page.route('**/socket.io/**', async (route) => {
      await written
      await route.continue()
    })
    b.activityRequests.length = 0
    await page.reload({ waitUntil: 'commit' })
    for (let i = 0; i < REPLAY_LIMIT + 5; i++) await call(app, owner, 'POST', '/v1/items', { name: `far ${i}` })
    release()
    await page.waitForSelector(`#feed li:has-text("created far ${REPLAY_LIMIT + 4}")`, { timeout: 10_000 })
    await page.waitForSelector('#connection.live', { timeout: 10_000 })
    await page.unroute('**/socket.io/**')
    t.ok(b.activityRequests.length > 0, 'the feed was reloaded over REST')
    t.equal(await page.locator('#items li:has-text("far 0")').count(), 1, 'and the items')
    await call(app, owner, 'POST', '/v1/items', { name: 'after the resync' })
    await page.waitForSelector('#items li:has-text("after the resync")', { timeout: 5000 })
    t.pass('then it is live again')
  })

  await t.test('axe-core finds no serious or critical violation', async (t) => {
    const violations = await axeViolations(a.page)
    figure(t, 'axe violations by impact (owner page, signed in)', byImpact(violations))
    if (violations.length > 0) t.comment(JSON.stringify(violations, null, 1))
    t.same(
      violations.filter((v) => v.impact === 'serious' || v.impact === 'critical'),
      [],
      'no serious or critical violation',
    )
    const signedOut = await openTab(browser, base, { width: 390, height: 800 })
    await signedOut.page.waitForSelector('#sign-in:not([hidden])')
    const outside = await axeViolations(signedOut.page)
    figure(t, 'axe violations by impact (sign-in page, 390 px)', byImpact(outside))
    t.same(
      outside.filter((v) => v.impact === 'serious' || v.impact === 'critical'),
      [],
    )
    // The keyboard reaches the skip link first, and it leads into the page.
    await signedOut.page.keyboard.press('Tab')
    t.equal(await signedOut.page.evaluate('document.activeElement.textContent'), 'Skip to content')
    await signedOut.page.keyboard.press('Enter')
    t.equal(await signedOut.page.evaluate('document.activeElement.id'), 'main', 'Enter moves focus to the content')
    await signedOut.context.close()
  })

  await t.test('a member demoted to viewer loses the controls at once', async (t) => {
    await b.page.waitForSelector('#item-create', { state: 'visible' })
    const patch = await call(app, owner, 'PATCH', `/v1/members/${member.user.id}`, { role: 'viewer' })
    t.equal(patch.statusCode, 200)
    await b.page.waitForSelector('#item-create', { state: 'hidden', timeout: 2000 })
    t.equal(await b.page.locator('#items button.rename').count(), 0, 'no rename buttons')
    t.match(await b.page.textContent('#who'), /viewer/)
    await b.page.waitForSelector(`#feed li:has-text("changed ${member.user.name}’s role from member to viewer")`)
  })

  await t.test('removing the member signs their page out within a second', async (t) => {
    const start = performance.now()
    t.equal((await call(app, owner, 'DELETE', `/v1/members/${member.user.id}`)).statusCode, 204)
    await b.page.waitForSelector('#sign-in:not([hidden])', { timeout: 1000 })
    figure(t, 'member removed → their page signed out (ms)', since(start))
    t.match(await b.page.textContent('#notice'), /signed out of this tenant/)
    t.equal(await b.page.locator('#items li').count(), 0, 'the tenant data is gone from the page')
    t.equal(await b.page.evaluate('sessionStorage.length'), 0, 'and from the tab')
    await a.page.waitForSelector(`#feed li:has-text("${owner.user.name} removed ${member.user.name}")`)
    t.pass('the owner’s feed names who was removed')
  })

  t.same(a.problems, [], 'the owner page: no CSP violation or script error')
  t.same(b.problems, [], 'the member page: no CSP violation or script error')
})

t.test('an admin broadcasts, invites and revokes, and switches tenants', { skip }, async (t) => {
  const { app } = await buildTestApp(t)
  const base = await listen(app)
  const factories = factoriesOf(app)
  const owner = await factories.tenant()
  const other = await factories.tenant()
  await factories.join(owner.user, other.tenant, 'viewer')
  await call(app, other, 'POST', '/v1/items', { name: 'only in the other tenant' })
  const browser = await launch(t)
  const tab = await openTab(browser, base)
  const { page } = tab
  await signIn(tab, owner)

  // Members from the page: a role change, a removal, and a refusal shown as a notice.
  const dan = await factories.member(owner.tenant, 'member', `dan-${process.pid}`)
  await page.waitForSelector(`#members li[data-user-id="${dan.user.id}"]`)
  await page.selectOption(`#members li[data-user-id="${dan.user.id}"] select`, 'admin')
  await page.waitForSelector(
    `#feed li:has-text("${owner.user.name} changed ${dan.user.name}’s role from member to admin")`,
  )
  await page.click(`#members li[data-user-id="${dan.user.id}"] button:has-text("Remove")`)
  await page.waitForSelector(`#members li[data-user-id="${dan.user.id}"]`, { state: 'detached' })
  await page.waitForSelector(`#feed li:has-text("${owner.user.name} removed ${dan.user.name}")`)
  t.pass('a role changed and a member removed from the page, both in the feed by name')
  await page.click(`#members li[data-user-id="${owner.user.id}"] button:has-text("Leave")`)
  await page.waitForSelector('#notice:has-text("owner")')
  t.equal(await page.locator('#workspace').isVisible(), true, 'the last owner cannot leave: a notice, the page intact')

  await page.fill('#broadcast input[name=message]', 'hello from the page')
  await page.click('#broadcast button[type=submit]')
  await page.waitForSelector(`#feed li:has-text("${owner.user.name} broadcast: hello from the page")`)
  t.pass('a broadcast sent from the page comes back over the socket, as a sentence')

  await page.fill('#invite input[name=email]', `carol-${process.pid}@example.com`)
  await page.selectOption('#invite select[name=role]', 'viewer')
  await page.click('#invite button[type=submit]')
  await page.waitForSelector(`#invitations li:has-text("carol-${process.pid}@example.com")`)
  await page.waitForSelector(`#feed li:has-text("invited carol-${process.pid}@example.com as viewer")`)
  await page.waitForSelector('#usage dd:has-text("1 invitation pending")')
  t.pass('an invitation from the page is listed, in the feed, and counted in the usage')
  const resent = page.waitForResponse((response) => response.url().endsWith('/resend'))
  await page.click(`#invitations li:has-text("carol-${process.pid}") button:has-text("Resend")`)
  t.equal((await resent).status(), 202, 'Resend asks the API for a fresh mail')
  await page.waitForSelector(`#notice:has-text("A fresh link goes to carol-${process.pid}@example.com")`)
  await page.click(`#invitations li:has-text("carol-${process.pid}") button:has-text("Revoke")`)
  await page.waitForSelector(`#invitations li:has-text("carol-${process.pid}")`, { state: 'detached' })
  t.pass('and revoked')

  await page.selectOption('#plan-change select', 'enterprise')
  await page.click('#plan-change button')
  await page.waitForSelector('#feed li:has-text("Plan upgraded to enterprise (was free)")')
  await page.waitForSelector('#plan-name:has-text("enterprise")')
  t.pass('the plan changes from the page')

  await page.selectOption('#tenant-switch', other.tenant.slug)
  await page.waitForSelector('#items li:has-text("only in the other tenant")', { timeout: 10_000 })
  await page.waitForSelector('#connection.live', { timeout: 10_000 })
  t.equal(await page.locator('#feed li:has-text("hello from the page")').count(), 0, "the first tenant's feed is gone")
  t.equal(await page.locator('#broadcast').isVisible(), false, 'and a viewer has no broadcast form')
  await call(app, other, 'POST', '/v1/items', { name: 'live in the other tenant' })
  await page.waitForSelector('#items li:has-text("live in the other tenant")', { timeout: 5000 })
  t.pass('the socket now follows the other tenant')
  t.same(tab.problems, [], 'no CSP violation or script error')
})

function feedKeyOf(session: Session) {
  return `tenantry.feed.${session.tenant.id}.${session.user.id}`
}

// The README's pictures: `DASHBOARD_SCREENSHOTS=1 npm test -- test/dashboard/dashboard.test.ts`.
t.test(
  'screenshots of the signed-in page at 1280 and 390 px',
  { skip: skip || !process.env.DASHBOARD_SCREENSHOTS },
  async (t) => {
    const { app } = await buildTestApp(t)
    const base = await listen(app)
    const factories = factoriesOf(app)
    const founder = await factories.tenant({ plan: 'pro', slug: 'acme' })
    const ann = await factories.member(founder.tenant, 'admin', 'ann')
    const bob = await factories.member(founder.tenant, 'member', 'bob')
    const carol = await factories.member(founder.tenant, 'viewer', 'carol')
    // Display names as people write them (the factories derive them from the email).
    const people = [
      [founder, 'Fatima Okafor'],
      [ann, 'Ann Lee'],
      [bob, 'Bob Martin'],
      [carol, 'Carol Diaz'],
    ] as const
    for (const [session, name] of people) {
      await factories.root.query('update app_public.users set name = $2 where id = $1', [session.user.id, name])
    }
    const browser = await launch(t)
    const tab = await openTab(browser, base)
    await signIn(tab, ann)
    const { page } = tab
    for (const name of ['Quarterly report', 'Roadmap 2027', 'Onboarding checklist']) {
      await call(app, bob, 'POST', '/v1/items', { name })
    }
    const items = (await call(app, ann, 'GET', '/v1/items')).json().data as { id: string; name: string }[]
    const roadmap = items.find((item) => item.name === 'Roadmap 2027')!
    await call(app, bob, 'PATCH', `/v1/items/${roadmap.id}`, { name: 'Roadmap 2027 (draft)' })
    await call(app, ann, 'POST', '/v1/tenant/broadcasts', { message: 'Release train leaves at 16:00' })
    await call(app, ann, 'POST', '/v1/invitations', { email: 'dave@example.com', role: 'member' })
    await page.waitForSelector('#feed li:has-text("invited dave@example.com")')
    await page.waitForTimeout(500)
    await page.evaluate('document.activeElement.blur()')
    await page.screenshot({ path: 'docs/dashboard-1280.png', fullPage: true })
    await page.setViewportSize({ width: 390, height: 844 })
    await page.waitForTimeout(300)
    await page.screenshot({ path: 'docs/dashboard-390.png', fullPage: true })
    t.same(tab.problems, [])
  },
)

t.test('a duplicated tab shares the session: neither presents a spent refresh token', { skip }, async (t) => {
  // Strict rotation: any replay of a spent refresh token revokes the session.
  const { app } = await buildTestApp(t, { env: { REFRESH_REUSE_INTERVAL: '0' } })
  const base = await listen(app)
  const owner = await factoriesOf(app).tenant()
  const browser = await launch(t)
  const first = await openTab(browser, base)
  await signIn(first, owner)
  // "Duplicate tab": a second page of the same browser with a copy of the first's sessionStorage.
  const copy = String(await first.page.evaluate('JSON.stringify(Object.entries(sessionStorage))'))
  const second = await first.context.newPage()
  await second.addInitScript({
    content: `if (sessionStorage.length === 0) for (const [k, v] of ${copy}) sessionStorage.setItem(k, v)`,
  })
  await second.goto(`${base}/dashboard`)
  await second.waitForSelector('#connection.live', { timeout: 10_000 })
  t.pass('the copy resumed the session (and rotated its refresh token)')
  await first.page.reload()
  await first.page.waitForSelector('#connection.live', { timeout: 10_000 })
  t.pass('the first tab reloads with the rotated token it was told about')
  await second.reload()
  await second.waitForSelector('#connection.live', { timeout: 10_000 })
  t.pass('and so does the copy')
  t.equal(await first.page.locator('#sign-in').isVisible(), false, 'nobody was signed out')
})

t.test('a handshake refused for load (429) is tried again until the page is live', { skip }, async (t) => {
  // One socket per user: while another client of the owner holds it, the page's handshake is
  // refused with 429. socket.io-client never retries a refusal by itself; the page must.
  const { app } = await buildTestApp(t, { env: { REALTIME_SOCKETS_PER_USER: '1' } })
  const base = await listen(app)
  const owner = await factoriesOf(app).tenant()
  const holder = connectSocket(t, base, owner.accessToken)
  await untilLive(holder)
  const browser = await launch(t)
  const tab = await openTab(browser, base)
  const { page } = tab
  await page.fill('input[name=email]', owner.user.email)
  await page.fill('input[name=password]', PASSWORD)
  await page.fill('input[name=tenant]', owner.tenant.slug)
  await page.click('#sign-in button[type=submit]')
  await page.waitForSelector('#connection.reconnecting', { timeout: 10_000 })
  await sleep(3000) // refused again meanwhile: the page keeps trying, backing off
  t.equal(await page.locator('#connection.live').count(), 0, 'not live while the seat is taken')
  holder.socket.close()
  const freed = performance.now()
  await page.waitForSelector('#connection.live', { timeout: 20_000 })
  figure(t, 'seat freed → the page live (ms)', since(freed))
  t.same(tab.problems, [])
})
