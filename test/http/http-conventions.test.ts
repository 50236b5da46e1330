/*
 * HTTP conventions clients rely on: Location on 201, 405 with Allow, WWW-Authenticate on 401,
 * ETag / If-Match / If-None-Match, compression, security headers, CORS, empty JSON bodies,
 * problem pages. Every response this file provokes must be one its operation documents.
 */
import { createHash, randomUUID } from 'node:crypto'
import { brotliDecompressSync, gunzipSync } from 'node:zlib'
import type { LightMyRequestResponse } from 'fastify'
import t from 'tap'
import { ConfigError, loadConfig } from '../../src/config.ts'
import { PROBLEM_SLUGS, PROBLEM_TYPES, problemUri } from '../../src/problems.ts'
import { buildTestApp, call, PASSWORD, uniqueName } from '../helpers/app.ts'

// biome-ignore lint/suspicious/noExplicitAny: response bodies, checked by shape below
type Json = any

const ORIGIN = 'https://app.example.com'

t.test('HTTP conventions', async (t) => {
  const { app, db, factories: f } = await buildTestApp(t, { env: { CORS_ORIGINS: `${ORIGIN}, http://localhost:5173` } })

  // A route that sets its own Content-Security-Policy, as the dashboard page does.
  const ownPolicy = "default-src 'self'; connect-src 'self' ws: wss:"
  app.get('/own-csp', { config: { access: 'public' } }, async (_request, reply) =>
    reply.header('content-security-policy', ownPolicy).type('text/html').send('<p>page</p>'),
  )

  // Every response of a documented operation, to compare with the document at the end.
  const seen: { operation: string; status: number }[] = []
  app.addHook('onResponse', async (request, reply) => {
    const url = request.routeOptions.url
    if (url?.startsWith('/v1/')) seen.push({ operation: `${request.method} ${url}`, status: reply.statusCode })
  })

  const owner = await f.tenant({ plan: 'enterprise' })
  const newItem = async (name = uniqueName('item')) => {
    const res = await call(app, owner, 'POST', '/v1/items', { name, payload: { n: 1 } })
    t.equal(res.statusCode, 201)
    return res.json()
  }
  const withHeaders = (
    session: { accessToken: string } | null,
    method: 'GET' | 'PATCH' | 'PUT' | 'DELETE' | 'POST',
    url: string,
    headers: Record<string, string>,
    payload?: unknown,
  ) =>
    app.inject({
      method,
      url,
      headers: { ...(session ? { authorization: `Bearer ${session.accessToken}` } : {}), ...headers },
      ...(payload === undefined ? {} : { payload: payload as object }),
    })

  t.test('every 201 carries a Location that can be read back', async (t) => {
    const spec = (await app.inject({ method: 'GET', url: '/docs/json' })).json()
    const creating = Object.entries(spec.paths as Record<string, Record<string, Json>>).flatMap(([path, item]) =>
      Object.entries(item)
        .filter(([, op]) => op.responses?.['201'])
        .map(([method]) => `${method.toUpperCase()} ${path}`),
    )
    const cases: Record<string, () => Promise<{ res: LightMyRequestResponse; reader: { accessToken: string } }>> = {
      'POST /v1/auth/register': async () => {
        const name = uniqueName('loc')
        const res = await app.inject({
          method: 'POST',
          url: '/v1/auth/register',
          payload: { email: `${name}@example.com`, password: PASSWORD, name, tenant: { name, slug: name } },
        })
        return { res, reader: res.json() }
      },
      'POST /v1/items': async () => ({
        res: await call(app, owner, 'POST', '/v1/items', { name: 'located' }),
        reader: owner,
      }),
      'POST /v1/invitations': async () => ({
        res: await call(app, owner, 'POST', '/v1/invitations', { email: `${uniqueName('loc')}@example.com` }),
        reader: owner,
      }),
      'POST /v1/tenants': async () => {
        const slug = uniqueName('loc-tenant')
        const res = await call(app, owner, 'POST', '/v1/tenants', { name: 'Located', slug })
        // GET /v1/tenant is the tenant of the token: switched to the new one, it is that tenant.
        const switched = await call(app, owner, 'POST', '/v1/auth/switch', { tenant: slug })
        return { res, reader: switched.json() }
      },
      'POST /v1/tenant/broadcasts': async () => ({
        res: await call(app, owner, 'POST', '/v1/tenant/broadcasts', { message: 'located' }),
        reader: owner,
      }),
      'POST /v1/api-keys': async () => ({
        res: await call(app, owner, 'POST', '/v1/api-keys', { name: 'located', role: 'viewer' }),
        reader: owner,
      }),
      'POST /v1/webhooks': async () => ({
        res: await call(app, owner, 'POST', '/v1/webhooks', {
          url: 'https://hooks.example.com/located',
          events: ['ITEM_CREATED'],
        }),
        reader: owner,
      }),
    }
    t.same(creating.sort(), Object.keys(cases).sort(), 'every operation that answers 201 is exercised here')
    for (const [operation, run] of Object.entries(cases)) {
      const { res, reader } = await run()
      t.equal(res.statusCode, 201, operation)
      const location = res.headers.location as string
      t.match(location, /^\/v1\//, `${operation}: Location ${location}`)
      const read = await call(app, reader, 'GET', location)
      t.equal(read.statusCode, 200, `${operation}: GET ${location} answers 200`)
      if (res.json().id !== undefined) t.equal(read.json().id, res.json().id, `${operation}: the created resource`)
    }
  })

  t.test('a known path with the wrong method answers 405 with Allow; an unknown path 404', async (t) => {
    const cases = [
      ['PUT', '/v1/items', 'GET, HEAD, POST'],
      ['POST', `/v1/items/${randomUUID()}`, 'GET, HEAD, PATCH, DELETE'],
      ['DELETE', '/v1/tenant', 'GET, HEAD, PATCH'],
      ['GET', '/v1/auth/login', 'POST'],
      ['PATCH', '/health/', 'GET, HEAD'],
    ] as const
    for (const [method, url, allow] of cases) {
      const res = await call(app, owner, method, url)
      t.equal(res.statusCode, 405, `${method} ${url}: 405`)
      t.equal(res.headers.allow, allow, `${method} ${url}: Allow: ${allow}`)
      t.match(res.headers['content-type'], /^application\/problem\+json/)
      t.match(res.json(), { type: '/problems/method-not-allowed', status: 405 })
    }
    const missing = await call(app, owner, 'GET', '/v1/nothing-here')
    t.equal(missing.statusCode, 404)
    t.notOk(missing.headers.allow, 'no Allow on a 404')
  })

  t.test('every 401 says WWW-Authenticate: Bearer, with error="invalid_token" for a refused token', async (t) => {
    const plain = 'Bearer realm="tenantry"'
    const signedOut = await f.signIn(owner.user, owner.tenant)
    t.equal((await call(app, signedOut, 'POST', '/v1/auth/logout')).statusCode, 204)
    const cases: [string, LightMyRequestResponse, 'plain' | 'invalid_token'][] = [
      ['no token', await call(app, null, 'GET', '/v1/me'), 'plain'],
      ['not a JWT', await call(app, { accessToken: 'garbage' }, 'GET', '/v1/me'), 'invalid_token'],
      [
        'expired token',
        await call(
          app,
          {
            accessToken: app.jwt.sign(
              { sub: owner.user.id, tenant_id: owner.tenant.id, role: 'owner', sid: randomUUID() },
              { expiresIn: -10 },
            ),
          },
          'GET',
          '/v1/me',
        ),
        'invalid_token',
      ],
      ['a session that was logged out', await call(app, signedOut, 'GET', '/v1/me'), 'invalid_token'],
      [
        'wrong password at login',
        await app.inject({
          method: 'POST',
          url: '/v1/auth/login',
          payload: { email: owner.user.email, password: 'wrong password' },
        }),
        'plain',
      ],
      [
        'unknown refresh token',
        await app.inject({ method: 'POST', url: '/v1/auth/refresh', payload: { refreshToken: 'nope' } }),
        'invalid_token',
      ],
    ]
    for (const [name, res, kind] of cases) {
      t.equal(res.statusCode, 401, `${name}: 401`)
      const header = String(res.headers['www-authenticate'])
      if (kind === 'plain') t.equal(header, plain, `${name}: ${header}`)
      else t.match(header, /^Bearer realm="tenantry", error="invalid_token", error_description="[^"]+"$/, name)
    }
  })

  t.test('items: ETag on read, 304 on If-None-Match, 412 on a stale If-Match, nothing written', async (t) => {
    const item = await newItem()
    const read = await call(app, owner, 'GET', `/v1/items/${item.id}`)
    const etag = read.headers.etag as string
    t.match(etag, /^"[\w-]{32}"$/, 'a strong ETag')
    // The database computes it (app_api.etag) over the very text it sends.
    const etagOf = (text: string) => `"${createHash('sha256').update(text).digest('base64url').slice(0, 32)}"`
    t.equal(etag, etagOf(read.body), 'computed from the representation as sent')
    const created = await call(app, owner, 'POST', '/v1/items', { name: 'with etag' })
    t.equal(created.headers.etag, etagOf(created.body), 'a 201 carries the ETag of what it created')

    const cached = await withHeaders(owner, 'GET', `/v1/items/${item.id}`, { 'if-none-match': etag })
    t.equal(cached.statusCode, 304, 'If-None-Match with the current ETag: 304')
    t.equal(cached.body, '', 'without a body')
    t.equal(cached.headers.etag, etag)
    const fresh = await withHeaders(owner, 'GET', `/v1/items/${item.id}`, { 'if-none-match': '"other", W/"x"' })
    t.equal(fresh.statusCode, 200, 'another ETag: the full item')

    const changed = await withHeaders(owner, 'PATCH', `/v1/items/${item.id}`, { 'if-match': etag }, { name: 'v2' })
    t.equal(changed.statusCode, 200, 'If-Match with the current ETag: applied')
    const etag2 = changed.headers.etag as string
    t.not(etag2, etag, 'a new ETag')
    t.equal(etag2, (await call(app, owner, 'GET', `/v1/items/${item.id}`)).headers.etag, 'the one GET now shows')

    const stale = await withHeaders(owner, 'PATCH', `/v1/items/${item.id}`, { 'if-match': etag }, { name: 'lost' })
    t.equal(stale.statusCode, 412, 'the ETag before that change: 412')
    t.match(stale.json(), { type: '/problems/precondition-failed', status: 412 })
    t.equal((await call(app, owner, 'GET', `/v1/items/${item.id}`)).json().name, 'v2', 'and nothing was written')
    const weak = await withHeaders(owner, 'PATCH', `/v1/items/${item.id}`, { 'if-match': `W/${etag2}` }, { name: 'x' })
    t.equal(weak.statusCode, 412, 'a weak tag never matches If-Match (strong comparison)')
    const any = await withHeaders(owner, 'PATCH', `/v1/items/${item.id}`, { 'if-match': '*' }, { name: 'v3' })
    t.equal(any.statusCode, 200, 'If-Match: * matches any current item')
    const listed = await withHeaders(
      owner,
      'PATCH',
      `/v1/items/${item.id}`,
      { 'if-match': `"nope", ${any.headers.etag}` },
      { name: 'v4' },
    )
    t.equal(listed.statusCode, 200, 'a list of tags matches when one of them does')

    const staleDelete = await withHeaders(owner, 'DELETE', `/v1/items/${item.id}`, { 'if-match': etag2 })
    t.equal(staleDelete.statusCode, 412, 'DELETE with a stale ETag: 412')
    t.equal((await call(app, owner, 'GET', `/v1/items/${item.id}`)).statusCode, 200, 'the item is still there')
    const current = (await call(app, owner, 'GET', `/v1/items/${item.id}`)).headers.etag as string
    t.equal((await withHeaders(owner, 'DELETE', `/v1/items/${item.id}`, { 'if-match': current })).statusCode, 204)
    const gone = await withHeaders(owner, 'PATCH', `/v1/items/${item.id}`, { 'if-match': current }, { name: 'x' })
    t.equal(gone.statusCode, 404, 'If-Match on a deleted item: 404')
    const viewer = await f.member(owner.tenant, 'viewer')
    const other = await newItem()
    const refused = await withHeaders(viewer, 'PATCH', `/v1/items/${other.id}`, { 'if-match': '*' }, { name: 'x' })
    t.equal(refused.statusCode, 403, 'a viewer with If-Match is refused by role, as without it')
    t.equal(
      (await withHeaders(owner, 'PATCH', `/v1/items/${other.id}`, { 'if-match': 'x'.repeat(2000) }, { name: 'x' }))
        .statusCode,
      400,
      'an absurd If-Match is a validation problem',
    )
  })

  t.test('tenant: ETag follows the member count; If-Match on PATCH and PUT plan', async (t) => {
    const admin = await f.tenant({ plan: 'pro' })
    const first = (await call(app, admin, 'GET', '/v1/tenant')).headers.etag as string
    await f.member(admin.tenant, 'member')
    const second = (await call(app, admin, 'GET', '/v1/tenant')).headers.etag as string
    t.not(second, first, 'a new member changes the ETag (memberCount is part of the representation)')
    const stale = await withHeaders(admin, 'PATCH', '/v1/tenant', { 'if-match': first }, { name: 'Renamed' })
    t.equal(stale.statusCode, 412)
    t.equal((await call(app, admin, 'GET', '/v1/tenant')).json().name, admin.tenant.name, 'not renamed')
    const renamed = await withHeaders(admin, 'PATCH', '/v1/tenant', { 'if-match': second }, { name: 'Renamed' })
    t.equal(renamed.statusCode, 200)
    t.equal(renamed.json().name, 'Renamed')
    const plan = await withHeaders(admin, 'PUT', '/v1/tenant/plan', { 'if-match': second }, { plan: 'enterprise' })
    t.equal(plan.statusCode, 412, 'PUT plan with the ETag from before the rename: 412')
    const planned = await withHeaders(
      admin,
      'PUT',
      '/v1/tenant/plan',
      { 'if-match': renamed.headers.etag as string },
      { plan: 'enterprise' },
    )
    t.equal(planned.statusCode, 200)
    t.equal(planned.json().plan, 'enterprise')
    const cached = await withHeaders(admin, 'GET', '/v1/tenant', { 'if-none-match': planned.headers.etag as string })
    t.equal(cached.statusCode, 304)
  })

  t.test('the lost update: of editors holding the same ETag, exactly one write wins, every round', async (t) => {
    const editors = await Promise.all(Array.from({ length: 6 }, () => f.member(owner.tenant, 'member')))
    const admins = await Promise.all(Array.from({ length: 4 }, () => f.member(owner.tenant, 'admin')))
    for (let round = 0; round < 8; round++) {
      const item = await newItem(`race-${round}`)
      const etag = (await call(app, owner, 'GET', `/v1/items/${item.id}`)).headers.etag as string
      const results = await Promise.all(
        editors.map((editor, i) =>
          withHeaders(editor, 'PATCH', `/v1/items/${item.id}`, { 'if-match': etag }, { payload: { editor: i } }),
        ),
      )
      const statuses = results.map((res) => res.statusCode)
      t.equal(statuses.filter((s) => s === 200).length, 1, `round ${round}: one 200 (${statuses.join(' ')})`)
      t.equal(statuses.filter((s) => s === 412).length, editors.length - 1, `round ${round}: the rest 412`)
      const winner = results.find((res) => res.statusCode === 200)!.json()
      t.same((await call(app, owner, 'GET', `/v1/items/${item.id}`)).json(), winner, 'the winner is what is stored')

      const tenantTag = (await call(app, owner, 'GET', '/v1/tenant')).headers.etag as string
      const renames = await Promise.all(
        admins.map((admin, i) =>
          withHeaders(admin, 'PATCH', '/v1/tenant', { 'if-match': tenantTag }, { name: `Round ${round} by ${i}` }),
        ),
      )
      const renamed = renames.map((res) => res.statusCode)
      t.same(
        renamed.slice().sort(),
        [200, 412, 412, 412],
        `round ${round}: one tenant rename wins (${renamed.join(' ')})`,
      )
    }
  })

  t.test('large responses are compressed (br, gzip); small ones are not', async (t) => {
    const plain = await app.inject({ method: 'GET', url: '/docs/json' })
    t.ok(plain.body.length > 10_000, `the document is ${plain.body.length} bytes`)
    const br = await app.inject({ method: 'GET', url: '/docs/json', headers: { 'accept-encoding': 'br, gzip' } })
    t.equal(br.headers['content-encoding'], 'br')
    const decoded = brotliDecompressSync(br.rawPayload).toString()
    t.same(JSON.parse(decoded), plain.json(), 'brotli decodes to the same document')
    t.comment(`/docs/json: ${plain.body.length} bytes, ${br.rawPayload.length} with br`)
    await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        call(app, owner, 'POST', '/v1/items', { name: `big ${i}`, payload: { text: 'lorem ipsum '.repeat(200) } }),
      ),
    )
    const gz = await app.inject({
      method: 'GET',
      url: '/v1/items?limit=5',
      headers: { authorization: `Bearer ${owner.accessToken}`, 'accept-encoding': 'gzip' },
    })
    t.equal(gz.headers['content-encoding'], 'gzip')
    t.equal(JSON.parse(gunzipSync(gz.rawPayload).toString()).data.length, 5, 'a page of items, gzipped')
    const small = await app.inject({ method: 'GET', url: '/health', headers: { 'accept-encoding': 'br, gzip' } })
    t.notOk(small.headers['content-encoding'], 'a small response goes as it is')
  })

  t.test('security headers on every response; a route that sets its own CSP keeps it', async (t) => {
    for (const res of [await call(app, owner, 'GET', '/v1/me'), await app.inject({ method: 'GET', url: '/docs/' })]) {
      t.equal(res.headers['x-content-type-options'], 'nosniff')
      t.match(res.headers['strict-transport-security'], /max-age=\d+/)
      t.equal(res.headers['x-frame-options'], 'SAMEORIGIN')
      const csp = String(res.headers['content-security-policy'])
      t.match(csp, /default-src 'self'/)
      t.match(csp, /object-src 'none'/)
      t.notMatch(csp, /upgrade-insecure-requests/, 'no forced upgrade: plain-HTTP development keeps working')
    }
    const own = await app.inject({ method: 'GET', url: '/own-csp' })
    t.equal(own.headers['content-security-policy'], ownPolicy, "the route's policy, not helmet's")
    t.equal(own.headers['x-content-type-options'], 'nosniff', 'the other headers still apply')
  })

  t.test('an empty body sent as application/json is no body', async (t) => {
    const json = { 'content-type': 'application/json' }
    const session = await f.signIn(owner.user, owner.tenant)
    const logout = await withHeaders(session, 'POST', '/v1/auth/logout', json, '')
    t.equal(logout.statusCode, 204, 'logout with an empty JSON body: 204')
    const item = await newItem()
    const deleted = await withHeaders(owner, 'DELETE', `/v1/items/${item.id}`, json, '')
    t.equal(deleted.statusCode, 204, 'DELETE with an empty JSON body: 204')
    const login = await app.inject({ method: 'POST', url: '/v1/auth/login', headers: json, payload: '' })
    t.equal(login.statusCode, 400, 'a route that needs a body still says so')
    t.match(login.json(), { type: '/problems/validation-failed' })
    const stray = await withHeaders(session, 'POST', '/v1/auth/logout', json, '{"sid":"x"}')
    t.equal(stray.statusCode, 400, 'a body on logout is still refused')
  })

  t.test('CORS: listed origins only, cached preflights, readable headers', async (t) => {
    const preflight = (origin: string) =>
      app.inject({
        method: 'OPTIONS',
        url: '/v1/items',
        headers: {
          origin,
          'access-control-request-method': 'PATCH',
          'access-control-request-headers': 'authorization, content-type, if-match',
        },
      })
    const allowed = await preflight(ORIGIN)
    t.equal(allowed.statusCode, 204)
    t.equal(allowed.headers['access-control-allow-origin'], ORIGIN)
    t.equal(allowed.headers['access-control-max-age'], '7200', 'cached for two hours')
    t.match(allowed.headers['access-control-allow-methods'], /PATCH/)
    t.match(allowed.headers['access-control-allow-headers'], /authorization.*content-type.*if-match/)
    t.notOk(allowed.headers['access-control-allow-credentials'], 'no credentials: tokens travel in a header')
    t.match(allowed.headers.vary, /Origin/i)
    t.equal((await preflight('http://localhost:5173')).headers['access-control-allow-origin'], 'http://localhost:5173')
    for (const origin of ['https://evil.example.com', 'https://app.example.com.evil.com', 'null']) {
      t.notOk((await preflight(origin)).headers['access-control-allow-origin'], `${origin}: not allowed`)
    }
    const get = await withHeaders(owner, 'GET', '/v1/items', { origin: ORIGIN })
    t.equal(get.headers['access-control-allow-origin'], ORIGIN)
    t.same(
      String(get.headers['access-control-expose-headers'])
        .split(',')
        .map((name) => name.trim())
        .sort(),
      ['etag', 'location', 'ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset', 'retry-after', 'x-request-id'],
      'scripts may read the rate-limit budget, request id, Location, ETag and Retry-After',
    )

    const plainOptions = await app.inject({ method: 'OPTIONS', url: '/v1/items' })
    t.equal(plainOptions.statusCode, 204, 'an OPTIONS without Origin: 204, not an error in plain text')
    t.notOk(plainOptions.headers['access-control-allow-origin'])

    const closed = (await buildTestApp(t, { db })).app
    const none = await closed.inject({
      method: 'OPTIONS',
      url: '/v1/items',
      headers: { origin: ORIGIN, 'access-control-request-method': 'GET' },
    })
    t.notOk(none.headers['access-control-allow-origin'], 'CORS_ORIGINS unset: no origin is allowed')
    t.equal(closed.config.CORS_ORIGINS.length, 0)
  })

  t.test('CORS_ORIGINS is validated at boot', async (t) => {
    t.same(loadConfig({ NODE_ENV: 'test', CORS_ORIGINS: ' https://a.example, http://b.example:8080 ' }).CORS_ORIGINS, [
      'https://a.example',
      'http://b.example:8080',
    ])
    for (const bad of ['https://a.example/', 'a.example', 'https://a.example/app', 'ftp://a.example']) {
      const error = (() => {
        try {
          loadConfig({ NODE_ENV: 'test', CORS_ORIGINS: bad })
        } catch (caught) {
          return caught
        }
      })()
      t.type(error, ConfigError, `${bad}: refused`)
      t.match((error as Error).message, /CORS_ORIGINS: every entry must be an origin/, `${bad}: by name`)
    }
  })

  t.test('every problem type URI resolves to a page that explains it', async (t) => {
    for (const slug of PROBLEM_SLUGS) {
      const page = await app.inject({ method: 'GET', url: problemUri(slug) })
      t.equal(page.statusCode, 200, `${problemUri(slug)}: 200`)
      t.match(page.headers['content-type'], /^text\/html/)
      t.match(page.body, PROBLEM_TYPES[slug].title)
      t.match(page.body, `HTTP ${PROBLEM_TYPES[slug].status}`)
      t.match(page.body, /What to do/)
      t.match(page.headers['content-security-policy'], /^default-src 'none'/, 'a page that runs no script')
    }
    const index = await app.inject({ method: 'GET', url: '/problems' })
    t.equal(index.statusCode, 200)
    for (const slug of PROBLEM_SLUGS) t.match(index.body, `href="${problemUri(slug)}"`)
    const unknown = await app.inject({ method: 'GET', url: '/problems/<script>' })
    t.equal(unknown.statusCode, 404)
    t.notMatch(unknown.body, /<script>/, 'nothing of the URL is echoed as HTML')
  })

  t.test('every response above was documented for its operation', async (t) => {
    const spec = (await app.inject({ method: 'GET', url: '/docs/json' })).json()
    const undocumented = seen.filter(({ operation, status }) => {
      const [method, url] = operation.split(' ') as [string, string]
      const op = spec.paths[url.replace(/:(\w+)/g, '{$1}')]?.[method.toLowerCase()]
      return !op?.responses?.[String(status)]
    })
    t.ok(seen.length > 100, `${seen.length} responses checked`)
    t.same([...new Set(undocumented.map((u) => `${u.operation} → ${u.status}`))], [], 'undocumented statuses')
  })
})
