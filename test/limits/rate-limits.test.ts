import t from 'tap'
import { loadConfig } from '../../src/config.ts'
import { PLAN_RATE_TTL_MS } from '../../src/limits/plugin.ts'
import { buildTestApp, call, factoriesOf } from '../helpers/app.ts'
import { forgeJwt } from '../helpers/jwt.ts'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const from = (remoteAddress: string) => ({ remoteAddress })
const headers = (res: { headers: Record<string, unknown> }) => ({
  limit: Number(res.headers['ratelimit-limit']),
  remaining: Number(res.headers['ratelimit-remaining']),
  reset: Number(res.headers['ratelimit-reset']),
})

t.test('per address: every request without a valid token, 404s and 401s included', async (t) => {
  const { app } = await buildTestApp(t, { env: { RATE_LIMIT_PER_IP: '6' } })
  const requests = [
    () => app.inject({ method: 'GET', url: '/health', ...from('10.0.0.1') }),
    () => app.inject({ method: 'GET', url: '/no/such/route', ...from('10.0.0.1') }),
    () => app.inject({ method: 'GET', url: '/v1/me', ...from('10.0.0.1') }),
    () => app.inject({ method: 'GET', url: '/v1/me', headers: { authorization: 'Bearer nope' }, ...from('10.0.0.1') }),
    () => app.inject({ method: 'DELETE', url: '/v1/items/x', ...from('10.0.0.1') }),
    () => app.inject({ method: 'GET', url: '/docs/json', ...from('10.0.0.1') }),
  ]
  const statuses = []
  for (const [i, send] of requests.entries()) {
    const res = await send()
    statuses.push(res.statusCode)
    t.same(headers(res), { limit: 6, remaining: 5 - i, reset: headers(res).reset }, `request ${i + 1} headers`)
    t.ok(headers(res).reset >= 1 && headers(res).reset <= 60, 'reset within the minute')
  }
  t.same(statuses, [200, 404, 401, 401, 401, 200])
  for (const url of ['/health', '/nope', '/v1/me']) {
    const refused = await app.inject({ method: 'GET', url, ...from('10.0.0.1') })
    t.equal(refused.statusCode, 429, `${url} is refused`)
    t.match(refused.json(), { type: '/problems/rate-limited', status: 429, detail: /your address/ })
    t.equal(refused.headers['content-type'], 'application/problem+json; charset=utf-8')
    t.ok(Number(refused.headers['retry-after']) >= 1, 'retry-after')
    t.equal(refused.headers['ratelimit-remaining'], '0')
  }
  const other = await app.inject({ method: 'GET', url: '/health', ...from('10.0.0.2') })
  t.equal(other.statusCode, 200, 'another address has its own budget')
  t.equal(other.headers['ratelimit-remaining'], '5')
})

t.test('the sign-in routes share one stricter budget, checked before bcrypt or the database', async (t) => {
  const { app } = await buildTestApp(t, { env: { RATE_LIMIT_PER_IP: '100', RATE_LIMIT_AUTH_PER_IP: '4' } })
  let hashes = 0
  const { verify, hash } = app.passwords
  app.passwords.verify = (...args) => {
    hashes++
    return verify(...args)
  }
  app.passwords.hash = (...args) => {
    hashes++
    return hash(...args)
  }
  const address = from('10.1.0.1')
  const attempts = await Promise.all([
    app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: { email: 'a@example.com', password: 'wrong password' },
      ...address,
    }),
    app.inject({ method: 'POST', url: '/v1/auth/refresh', payload: { refreshToken: 'garbage' }, ...address }),
    app.inject({
      method: 'POST',
      url: '/v1/invitations/accept',
      payload: { token: 'garbage', password: 'whatever12' },
      ...address,
    }),
    app.inject({ method: 'POST', url: '/v1/auth/register', payload: { email: 'bad' }, ...address }),
  ])
  t.same(
    attempts.map((r) => r.statusCode),
    [401, 401, 404, 400],
  )
  t.same(
    attempts.map((r) => r.headers['ratelimit-limit']),
    ['4', '4', '4', '4'],
    'the tighter auth budget is the one reported',
  )
  t.same(attempts.map((r) => r.headers['ratelimit-remaining']).sort(), ['0', '1', '2', '3'])
  const before = hashes
  // Without a pool, any database call would fail: a 429 proves none was made.
  await app.db.end()
  for (const [url, payload] of [
    ['/v1/auth/login', { email: 'a@example.com', password: 'wrong password' }],
    ['/v1/auth/refresh', { refreshToken: 'garbage' }],
    ['/v1/invitations/accept', { token: 'garbage', password: 'whatever12' }],
    [
      '/v1/auth/register',
      { email: 'x@example.com', password: 'long enough', name: 'x', tenant: { name: 'x', slug: 'xx' } },
    ],
  ] as const) {
    const res = await app.inject({ method: 'POST', url, payload, ...address })
    t.equal(res.statusCode, 429, `${url} is refused`)
    t.match(res.json(), { type: '/problems/rate-limited', detail: /sign-in requests from your address/ })
    t.ok(Number(res.headers['retry-after']) >= 1)
  }
  t.equal(hashes, before, 'no bcrypt work for a refused sign-in')
  const elsewhere = await app.inject({ method: 'GET', url: '/health', ...address })
  t.equal(elsewhere.statusCode, 200, 'the general budget of the address is separate')
})

t.test('authenticated requests are counted per tenant at its plan rate', async (t) => {
  const { app } = await buildTestApp(t)
  const fixtures = factoriesOf(app)
  await fixtures.root.query(`update app_public.plans set requests_per_minute = 5 where id = 'free'`)
  await fixtures.root.query(`update app_public.plans set requests_per_minute = 50 where id = 'pro'`)
  const a = await fixtures.tenant()
  const colleague = await fixtures.member(a.tenant, 'member')
  const b = await fixtures.tenant()

  t.test('colleagues share the tenant budget, whatever their address', async (t) => {
    const results = []
    for (let i = 0; i < 5; i++) {
      const who = i % 2 ? colleague : a
      results.push(
        await app.inject({
          method: 'GET',
          url: '/v1/me',
          headers: { authorization: `Bearer ${who.accessToken}` },
          ...from(`10.2.0.${i + 1}`),
        }),
      )
    }
    t.same(
      results.map((r) => [r.statusCode, r.headers['ratelimit-limit'], r.headers['ratelimit-remaining']]),
      [0, 1, 2, 3, 4].map((i) => [200, '5', String(4 - i)]),
    )
    const refused = await call(app, colleague, 'GET', '/v1/items')
    t.equal(refused.statusCode, 429)
    t.match(refused.json(), { type: '/problems/rate-limited', detail: /this tenant has used its plan's requests/ })
    t.ok(Number(refused.headers['retry-after']) >= 1)
    const other = await call(app, b, 'GET', '/v1/me')
    t.equal(other.statusCode, 200, 'another tenant is not affected')
    t.equal(other.headers['ratelimit-remaining'], '4')
  })

  t.test('a forged token with the victim tenant never spends its budget', async (t) => {
    const before = headers(await call(app, b, 'GET', '/v1/me')).remaining
    const forged = forgeJwt({
      sub: b.user.id,
      tenant_id: b.tenant.id,
      sid: '00000000-0000-4000-8000-000000000000',
      iss: 'tenantry',
      aud: 'tenantry-api',
      iat: Math.floor(Date.now() / 1000),
      exp: Math.floor(Date.now() / 1000) + 600,
    })
    for (let i = 0; i < 10; i++) {
      const res = await app.inject({
        method: 'GET',
        url: '/v1/me',
        headers: { authorization: `Bearer ${forged}` },
        ...from('10.3.0.1'),
      })
      t.equal(res.statusCode, 401)
      t.equal(res.headers['ratelimit-limit'], '1000000', 'counted against the sender address')
    }
    t.equal(headers(await call(app, b, 'GET', '/v1/me')).remaining, before - 1, 'only its own request counted')
  })

  t.test('a plan change is in force within seconds', async (t) => {
    const started = Date.now()
    await fixtures.root.query(`update app_public.tenants set plan = 'pro' where id = $1`, [a.tenant.id])
    let res = await call(app, a, 'GET', '/v1/me')
    while (res.statusCode === 429 && Date.now() - started < PLAN_RATE_TTL_MS + 2000) {
      await sleep(200)
      res = await call(app, a, 'GET', '/v1/me')
    }
    const took = Date.now() - started
    t.equal(res.statusCode, 200)
    t.equal(res.headers['ratelimit-limit'], '50', 'the pro rate applies')
    t.ok(took <= PLAN_RATE_TTL_MS + 1000, `in force after ${took} ms`)
    t.comment(`plan change in force after ${took} ms (cache TTL ${PLAN_RATE_TTL_MS} ms)`)
  })
})

t.test('client address: X-Forwarded-For only from a trusted proxy, IPv6 by /64', async (t) => {
  t.test('TRUST_PROXY off: the header is ignored', async (t) => {
    const { app } = await buildTestApp(t, { env: { RATE_LIMIT_PER_IP: '2' } })
    const spoof = (xff: string) =>
      app.inject({ method: 'GET', url: '/health', headers: { 'x-forwarded-for': xff }, ...from('10.4.0.1') })
    t.same(
      [(await spoof('1.1.1.1')).statusCode, (await spoof('2.2.2.2')).statusCode, (await spoof('3.3.3.3')).statusCode],
      [200, 200, 429],
    )
  })

  t.test('TRUST_PROXY=1: the address the proxy saw, IPv6 grouped by /64', async (t) => {
    const { app } = await buildTestApp(t, { env: { RATE_LIMIT_PER_IP: '2', TRUST_PROXY: '1' } })
    const via = (xff: string) =>
      app.inject({ method: 'GET', url: '/health', headers: { 'x-forwarded-for': xff }, ...from('10.4.0.2') })
    t.same([(await via('1.1.1.1')).statusCode, (await via('1.1.1.1')).statusCode], [200, 200])
    t.equal((await via('1.1.1.1')).statusCode, 429)
    t.equal((await via('9.9.9.9, 1.1.1.2')).statusCode, 200, 'only the last hop is trusted')
    t.equal((await via('1.1.1.1, 1.1.1.2')).statusCode, 200, 'a client-supplied first hop is not its address')
    t.equal((await via('1.1.1.2')).statusCode, 429)
    t.equal((await via('2001:db8:aa:bb::1')).statusCode, 200)
    t.equal((await via('2001:db8:aa:bb:ffff:ffff:ffff:fffe')).statusCode, 200, 'same /64')
    t.equal((await via('2001:db8:aa:bb:1234::9')).statusCode, 429, 'still the same /64')
    t.equal((await via('2001:db8:aa:bc::1')).statusCode, 200, 'the next /64 is another client')
  })

  t.test('TRUST_PROXY=<CIDR list>: only those proxies are believed', async (t) => {
    const { app } = await buildTestApp(t, { env: { RATE_LIMIT_PER_IP: '1', TRUST_PROXY: '10.5.0.0/16, ::1' } })
    const via = (proxy: string, xff: string) =>
      app.inject({ method: 'GET', url: '/health', headers: { 'x-forwarded-for': xff }, ...from(proxy) })
    t.equal((await via('10.5.1.1', '8.8.8.8')).statusCode, 200)
    t.equal((await via('10.5.1.1', '8.8.4.4')).statusCode, 200, 'a trusted proxy forwards another client')
    t.equal((await via('10.6.1.1', '8.8.8.8')).statusCode, 200, 'an untrusted peer is its own client')
    t.equal((await via('10.6.1.1', '7.7.7.7')).statusCode, 429, 'whatever it claims')
  })

  t.test('TRUST_PROXY refuses a bare true and malformed entries', async (t) => {
    for (const value of ['true', 'yes', '10.0.0.0/33', '10.0.0.1/8/2', 'example.com']) {
      t.throws(() => loadConfig({ NODE_ENV: 'test', TRUST_PROXY: value }), /TRUST_PROXY/, value)
    }
    t.same(loadConfig({ NODE_ENV: 'test' }).TRUST_PROXY, false)
    t.same(loadConfig({ NODE_ENV: 'test', TRUST_PROXY: '2' }).TRUST_PROXY, 2)
    t.same(loadConfig({ NODE_ENV: 'test', TRUST_PROXY: '10.0.0.0/8,fd00::/8' }).TRUST_PROXY, ['10.0.0.0/8', 'fd00::/8'])
  })
})
