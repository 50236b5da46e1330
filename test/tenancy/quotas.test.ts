import t from 'tap'
import { PAGE_PAYLOAD_BYTES } from '../../src/items/queries.ts'
import { buildTestApp, call, factoriesOf } from '../helpers/app.ts'

const ROUNDS = 10
const tally = (values: (string | number)[]) =>
  values.reduce<Record<string, number>>((acc, v) => {
    acc[v] = (acc[v] ?? 0) + 1
    return acc
  }, {})
/** A payload whose JSON text is exactly `bytes` long. */
const payloadOf = (bytes: number) => ({ blob: 'x'.repeat(bytes - '{"blob": ""}'.length) })

t.test('plan quotas are enforced by the database', async (t) => {
  const { app } = await buildTestApp(t, { env: { DATABASE_POOL_SIZE: '12' } })
  const fixtures = factoriesOf(app)
  const { root } = fixtures

  t.test('every plan has an item quota and a payload cap, stored in plans', async (t) => {
    const { rows } = await root.query(
      'select id, member_limit, item_limit, item_payload_bytes, requests_per_minute from app_public.plans order by rank',
    )
    t.same(rows, [
      { id: 'free', member_limit: 3, item_limit: 100, item_payload_bytes: 16384, requests_per_minute: 600 },
      { id: 'pro', member_limit: 10, item_limit: 10000, item_payload_bytes: 16384, requests_per_minute: 3000 },
      { id: 'enterprise', member_limit: null, item_limit: null, item_payload_bytes: 65536, requests_per_minute: 12000 },
    ])
  })

  t.test('GET /v1/tenant reports usage against every limit', async (t) => {
    const owner = await fixtures.tenant()
    await fixtures.member(owner.tenant, 'viewer')
    await call(app, owner, 'POST', '/v1/invitations', { email: 'usage-invitee@example.com', role: 'member' })
    for (let i = 0; i < 3; i++) await call(app, owner, 'POST', '/v1/items', { name: `item ${i}` })
    const res = await call(app, owner, 'GET', '/v1/tenant')
    t.equal(res.statusCode, 200)
    const { usage } = res.json()
    t.match(usage, {
      members: { used: 2, pendingInvitations: 1, limit: 3 },
      items: { used: 3, limit: 100 },
      itemPayloadBytes: { limit: 16384 },
      requestsPerMinute: { used: 5, limit: 600 }, // the invitation, three creates, this read
    })
    t.ok(usage.requestsPerMinute.resetSeconds >= 1 && usage.requestsPerMinute.resetSeconds <= 60)
  })

  t.test('an item payload over the plan cap is refused, naming the limit', async (t) => {
    const owner = await fixtures.tenant()
    const fits = await call(app, owner, 'POST', '/v1/items', { name: 'fits', payload: payloadOf(16384) })
    t.equal(fits.statusCode, 201, 'exactly 16 KiB fits')
    const big = await call(app, owner, 'POST', '/v1/items', { name: 'big', payload: payloadOf(16385) })
    t.equal(big.statusCode, 403)
    t.match(big.json(), {
      type: '/problems/plan-limit-exceeded',
      detail: 'the free plan allows item payloads of at most 16384 bytes; this one has 16385',
    })
    const grown = await call(app, owner, 'PATCH', `/v1/items/${fits.json().id}`, { payload: payloadOf(20000) })
    t.equal(grown.statusCode, 403, 'an update is held to the same cap')
    t.equal((await call(app, owner, 'GET', `/v1/items/${fits.json().id}`)).json().payload.blob.length, 16372)
    const rich = await fixtures.tenant({ plan: 'enterprise' })
    t.equal((await call(app, rich, 'POST', '/v1/items', { name: 'big', payload: payloadOf(60000) })).statusCode, 201)
  })

  t.test(`parallel creates never pass the item quota (${ROUNDS} rounds of 20)`, async (t) => {
    await root.query(`update app_public.plans set item_limit = 10 where id = 'free'`)
    t.teardown(() => root.query(`update app_public.plans set item_limit = 100 where id = 'free'`))
    const seen: string[] = []
    for (let round = 0; round < ROUNDS; round++) {
      const owner = await fixtures.tenant()
      const member = await fixtures.member(owner.tenant, 'member')
      await root.query(
        `insert into app_public.items (tenant_id, name, created_by) select $1, 'seed ' || g, $2 from generate_series(1, 7) g`,
        [owner.tenant.id, owner.user.id],
      )
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          call(app, i % 2 ? member : owner, 'POST', '/v1/items', { name: `racer ${i}` }),
        ),
      )
      const outcome = tally(results.map((r) => r.statusCode))
      t.same(outcome, { 201: 3, 403: 17 }, `round ${round}`)
      for (const refused of results.filter((r) => r.statusCode === 403)) {
        t.match(refused.json(), {
          type: '/problems/plan-limit-exceeded',
          detail: 'the free plan allows at most 10 items',
        })
      }
      const { rows } = await root.query('select count(*)::int as n from app_public.items where tenant_id = $1', [
        owner.tenant.id,
      ])
      t.equal(rows[0].n, 10, `round ${round}: exactly the quota`)
      seen.push(JSON.stringify(outcome))
    }
    t.comment(`item quota race, ${ROUNDS} rounds of 20 parallel creates at 7/10: ${JSON.stringify(tally(seen))}`)
  })

  t.test('a downgrade below the item count is refused', async (t) => {
    const owner = await fixtures.tenant({ plan: 'pro' })
    await root.query(
      `insert into app_public.items (tenant_id, name, created_by) select $1, 'i' || g, $2 from generate_series(1, 101) g`,
      [owner.tenant.id, owner.user.id],
    )
    const down = await call(app, owner, 'PUT', '/v1/tenant/plan', { plan: 'free' })
    t.equal(down.statusCode, 403)
    t.match(down.json(), {
      type: '/problems/plan-limit-exceeded',
      detail: 'the free plan allows 100 items; this tenant has 101',
    })
  })

  t.test('one list page never carries more than about 1 MiB', async (t) => {
    const owner = await fixtures.tenant({ plan: 'enterprise' })
    await root.query(
      `insert into app_public.items (tenant_id, name, created_by, payload)
       select $1, 'big ' || g, $2, jsonb_build_object('blob', repeat('y', 60000)) from generate_series(1, 100) g`,
      [owner.tenant.id, owner.user.id],
    )
    const seen = new Set<string>()
    let cursor: string | null = null
    let pages = 0
    let largest = 0
    do {
      const res = await call(app, owner, 'GET', `/v1/items?limit=100${cursor ? `&cursor=${cursor}` : ''}`)
      t.equal(res.statusCode, 200)
      largest = Math.max(largest, res.body.length)
      t.ok(res.body.length <= PAGE_PAYLOAD_BYTES + 64 * 1024, `page ${pages}: ${res.body.length} bytes`)
      const page = res.json()
      t.ok(page.data.length >= 1, 'every page makes progress')
      for (const item of page.data) seen.add(item.id)
      cursor = page.nextCursor
      pages++
    } while (cursor && pages < 50)
    t.equal(seen.size, 100, 'every item exactly once across the pages')
    t.ok(pages >= 6, `${pages} pages`)
    t.comment(`100 items of 60 KB: ${pages} pages, the largest ${largest} bytes`)
  })
})
