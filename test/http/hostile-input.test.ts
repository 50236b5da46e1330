import { sql } from 'slonik'
import t from 'tap'
import { problemFromDatabaseError } from '../../src/db/errors.ts'
import { MAX_JSON_DEPTH } from '../../src/http/json.ts'
import { buildTestApp, call, registerTenant, type Session, type TestApp } from '../helpers/app.ts'

t.test('hostile input gets a 4xx problem, never a 500', async (t) => {
  const { app } = await buildTestApp(t)
  const owner = await registerTenant(app)
  const item = (await call(app, owner, 'POST', '/v1/items', { name: 'target' })).json()
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
})

/** A raw JSON body: JSON.stringify cannot write some of these (depth, 1e400), and others it would escape. */
const raw = (app: TestApp['app'], session: Session, method: 'POST' | 'PATCH', url: string, body: string) =>
  app.inject({
    method,
    url,
    payload: body,
    headers: { authorization: `Bearer ${session.accessToken}`, 'content-type': 'application/json' },
  })

t.test('unrepresentable JSON is a 400 problem that names the field, on every write', async (t) => {
  const { app, factories } = await buildTestApp(t)
  const owner = await registerTenant(app)
  const item = (await call(app, owner, 'POST', '/v1/items', { name: 'target' })).json()
  const writes: ['POST' | 'PATCH', string, (inner: string) => string][] = [
    ['POST', '/v1/items', (inner) => `{"name":"x","payload":${inner}}`],
    ['PATCH', `/v1/items/${item.id}`, (inner) => `{"payload":${inner}}`],
  ]
  const cases: [string, string, string][] = [
    // [case, JSON placed as the payload, expected error path]
    ['a lone surrogate as a value', '{"a":"\\ud800"}', 'body.payload.a'],
    ['a lone low surrogate as a value', '{"a":["ok","x\\udfff"]}', 'body.payload.a.1'],
    ['a lone surrogate as a key', '{"\\ud83d":1}', 'body.payload.\ufffd'],
    ['NUL as a key', '{"a\\u0000":1}', 'body.payload.a\\0'],
    ['a number beyond double range', '{"n":1e400}', 'body.payload.n'],
    ['a negative number beyond double range', '{"n":[-1e999]}', 'body.payload.n.0'],
  ]
  for (const [method, url, wrap] of writes) {
    for (const [name, inner, path] of cases) {
      const res = await raw(app, owner, method, url, wrap(inner))
      t.equal(res.statusCode, 400, `${method} ${name}: 400`)
      t.match(res.headers['content-type'], /application\/problem\+json/)
      t.ok(
        res.json().errors?.some((error: { path: string }) => error.path === path),
        `${method} ${name}: names ${path} (${res.body})`,
      )
    }
  }
  const broadcast = await raw(app, owner, 'POST', '/v1/tenant/broadcasts', '{"message":"hi \\udc00"}')
  t.equal(broadcast.statusCode, 400, 'a lone surrogate in a broadcast: 400')
  t.match(broadcast.json().errors, [{ path: 'body.message' }])
  const name = await call(app, owner, 'POST', '/v1/items', { name: '\ud800' })
  t.equal(name.statusCode, 400, 'a lone surrogate in a text field: 400, not silently replaced')
  t.match(name.json().errors, [{ path: 'body.name' }])

  // Odd but valid input is accepted: 1e308, -0, RTL and combining marks, well-formed pairs.
  const fine = await call(app, owner, 'POST', '/v1/items', {
    name: 'שלום e\u0301 😀',
    payload: { big: 1e308, negZero: -0, emoji: '😀', rtl: '\u202e', proto: { constructor: 1 } },
  })
  t.equal(fine.statusCode, 201, `valid edge cases are stored (${fine.body})`)
  t.match(fine.json().payload, { big: 1e308, negZero: 0, emoji: '😀' })

  const count = await factories.root.query('select count(*)::int as n from app_public.items')
  t.equal(count.rows[0].n, 2, 'no refused write left a row behind')
})

t.test('JSON nesting is bounded at parse time: 32 levels pass, 33 are a 400', async (t) => {
  const { app } = await buildTestApp(t)
  const owner = await registerTenant(app)
  // The body is level 1, so a payload of `levels - 1` objects makes `levels` in all.
  const nested = (levels: number) => `${'{"a":'.repeat(levels - 1)}1${'}'.repeat(levels - 1)}`
  const ok = await raw(app, owner, 'POST', '/v1/items', `{"name":"deep","payload":${nested(MAX_JSON_DEPTH)}}`)
  t.equal(ok.statusCode, 201, `${MAX_JSON_DEPTH} levels are stored`)
  const deep = await raw(app, owner, 'POST', '/v1/items', `{"name":"deep","payload":${nested(MAX_JSON_DEPTH + 1)}}`)
  t.equal(deep.statusCode, 400, `${MAX_JSON_DEPTH + 1} levels: 400`)
  t.match(deep.json().errors, [{ path: 'body', message: /nested deeper than 32 levels/ }])
  // 30,000 levels fit in the 64 KiB body limit; they used to overflow JSON.stringify's stack.
  const huge = await raw(
    app,
    owner,
    'POST',
    '/v1/items',
    `{"name":"x","payload":{"a":${'['.repeat(30_000)}${']'.repeat(30_000)}}}`,
  )
  t.equal(huge.statusCode, 400, '30,000 levels: 400, no stack overflow')
  // Brackets inside strings are text, not nesting.
  const text = await call(app, owner, 'POST', '/v1/items', { name: 'brackets', payload: { s: '['.repeat(100) } })
  t.equal(text.statusCode, 201, 'brackets inside a string do not count')
  const proto = await raw(app, owner, 'POST', '/v1/items', '{"name":"x","payload":{"__proto__":{"admin":true}}}')
  t.equal(proto.statusCode, 400, 'a __proto__ key: 400')
  t.match(proto.json().errors, [{ path: 'body', message: /__proto__/ }])
})

t.test('forged cursors are 400 problems naming the cursor, on every list that takes one', async (t) => {
  const { app } = await buildTestApp(t)
  const owner = await registerTenant(app)
  const id = '00000000-0000-4000-8000-000000000000'
  const forged = (time: string) => Buffer.from(JSON.stringify([time, id])).toString('base64url')
  for (const list of ['/v1/items', '/v1/members', '/v1/invitations']) {
    for (const time of [
      '2026-01-01 00:00:00 Mars/Olympus',
      '2026-01-01 00:00:00+16:00',
      '2026-13-01 00:00:00+00',
      '2026-02-30 00:00:00+00',
    ]) {
      const res = await call(app, owner, 'GET', `${list}?cursor=${forged(time)}`)
      t.equal(res.statusCode, 400, `${list} with ${time}: 400 (${res.statusCode >= 500 ? res.body : ''})`)
      t.match(res.json().errors, [{ path: 'querystring.cursor' }])
    }
  }
})

t.test('database errors that escape validation still map to 4xx and 503, never 500', async (t) => {
  const { app, factories } = await buildTestApp(t)
  const failure = (run: Promise<unknown> | (() => Promise<unknown>)) =>
    (typeof run === 'function' ? Promise.resolve().then(run) : run).then(
      () => t.fail('expected an error'),
      (error: unknown) => error,
    )
  const statuses = {
    unknownZone: problemFromDatabaseError(
      await failure(factories.root.query(`select '2026-01-01 00:00 Mars/Olympus'::timestamptz`)),
    )?.status,
    offset: problemFromDatabaseError(
      await failure(factories.root.query(`select '2026-01-01 00:00:00+16:00'::timestamptz`)),
    )?.status,
    // slonik refuses a lone surrogate in sql.jsonb with a code-less InvalidInputError.
    slonikInput: problemFromDatabaseError(
      await failure(() => app.db.query(sql.unsafe`select ${sql.jsonb({ a: '\ud800' })}`)),
    )?.status,
    statementTimeout: problemFromDatabaseError(
      await failure(
        app.db.transaction(async (tx) => {
          await tx.query(sql.unsafe`select set_config('statement_timeout', '10', true)`)
          await tx.query(sql.unsafe`select pg_sleep(1)`)
        }),
      ),
    )?.status,
  }
  t.same(statuses, { unknownZone: 400, offset: 400, slonikInput: 400, statementTimeout: 503 })
})
