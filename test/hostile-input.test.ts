import t from 'tap'
import { buildTestApp, call, registerTenant } from './helpers/app.ts'

t.test('hostile input gets a 4xx problem, never a 500', async (t) => {
  const { app } = await buildTestApp(t)
  const owner = await registerTenant(app)
  const item = (await call(app, owner, 'POST', '/v1/items', { name: 'target' })).json()
  const deep = JSON.parse('['.repeat(2000) + ']'.repeat(2000))
  const cases: [string, string, string, unknown][] = [
    ['NUL in a text column', 'POST', '/v1/items', { name: 'a\u0000b' }],
    ['NUL in a JSON payload', 'POST', '/v1/items', { name: 'x', payload: { s: 'a\u0000b' } }],
    ['NUL in a patch', 'PATCH', `/v1/items/${item.id}`, { name: '\u0000' }],
    ['number as name', 'POST', '/v1/items', { name: 12 }],
    ['array body', 'POST', '/v1/items', [{ name: 'x' }]],
    ['null body', 'POST', '/v1/items', null],
    ['huge limit', 'GET', '/v1/items?limit=99999999999999999999', undefined],
    ['repeated limit', 'GET', '/v1/items?limit=1&limit=2', undefined],
    ['negative after', 'GET', '/v1/activities?after=-1', undefined],
    ['huge after', 'GET', '/v1/activities?after=1e400', undefined],
    [
      'cursor with a bad timestamp',
      'GET',
      `/v1/items?cursor=${Buffer.from(JSON.stringify(['not a time', item.id])).toString('base64url')}`,
      undefined,
    ],
    ['NUL in an email', 'POST', '/v1/invitations', { email: 'a\u0000@example.com', role: 'member' }],
    ['NUL in a slug', 'POST', '/v1/auth/switch', { tenant: 'a\u0000b' }],
    ['NUL in a password', 'POST', '/v1/auth/login', { email: 'a@example.com', password: 'pass\u0000word' }],
    ['NUL in a refresh token', 'POST', '/v1/auth/refresh', { refreshToken: '\u0000' }],
    ['uuid-looking garbage', 'GET', '/v1/items/00000000-0000-0000-0000-00000000000g', undefined],
  ]
  for (const [name, method, url, payload] of cases) {
    const res = await call(app, owner, method as 'GET', url, payload)
    t.ok(
      res.statusCode >= 400 && res.statusCode < 500,
      `${name}: ${res.statusCode} ${res.statusCode >= 500 ? res.body : ''}`,
    )
    t.match(res.headers['content-type'], /application\/problem\+json/, name)
  }
  const after = (await call(app, owner, 'GET', '/v1/items')).json()
  t.equal(after.data.length, 1, 'nothing half-written')
  // Odd but representable input is simply accepted.
  const lone = await call(app, owner, 'POST', '/v1/items', { name: '\ud800' })
  t.equal(lone.statusCode, 201, 'a lone surrogate is stored as U+FFFD')
  const nested = await call(app, owner, 'POST', '/v1/items', { name: 'deep', payload: { deep } })
  t.equal(nested.statusCode, 201, 'deep nesting within the body limit is fine')
})
