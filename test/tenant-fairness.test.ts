import t from 'tap'
import { buildTestApp, call, factoriesOf } from './helpers/app.ts'

const p99 = (values: number[]) => [...values].sort((a, b) => a - b)[Math.ceil(values.length * 0.99) - 1]!
const tally = (values: number[]) =>
  values.reduce<Record<string, number>>((acc, v) => {
    acc[v] = (acc[v] ?? 0) + 1
    return acc
  }, {})

t.test("one tenant's 100 parallel list calls hold at most its share of the pool", async (t) => {
  const { app } = await buildTestApp(t, { env: { DATABASE_POOL_SIZE: '10' } })
  const fixtures = factoriesOf(app)
  const a = await fixtures.tenant({ plan: 'enterprise' })
  const b = await fixtures.tenant({ plan: 'enterprise' })
  // Only the pool share is under test here, not the request rate.
  await fixtures.root.query(`update app_public.plans set requests_per_minute = 10000000 where id = 'enterprise'`)
  await fixtures.root.query(
    `insert into app_public.items (tenant_id, name, created_by, payload)
     select $1, 'heavy ' || g, $2, jsonb_build_object('blob', repeat('z', 500)) from generate_series(1, 200) g`,
    [a.tenant.id, a.user.id],
  )
  await fixtures.root.query(
    `insert into app_public.items (tenant_id, name, created_by) select $1, 'b ' || g, $2 from generate_series(1, 20) g`,
    [b.tenant.id, b.user.id],
  )
  const sampleB = async () => {
    const started = performance.now()
    const res = await call(app, b, 'GET', '/v1/items?limit=20')
    return { ms: performance.now() - started, status: res.statusCode }
  }
  for (let i = 0; i < 10; i++) await sampleB() // warm-up

  const idle: number[] = []
  for (let i = 0; i < 60; i++) idle.push((await sampleB()).ms)

  // Tenant A keeps 100 list calls in flight for as long as B is measured.
  let running = true
  const aStatuses: number[] = []
  const retryAfter = new Set<string>()
  const noisy = Array.from({ length: 100 }, async () => {
    while (running) {
      const res = await call(app, a, 'GET', '/v1/items?limit=100')
      aStatuses.push(res.statusCode)
      if (res.statusCode === 429) {
        retryAfter.add(String(res.headers['retry-after']))
        // A client that retries when retry-after says (a tight loop in this very process would
        // measure the test's own CPU, not the server's fairness).
        await new Promise((resolve) => setTimeout(resolve, Number(res.headers['retry-after']) * 1000))
      }
    }
  })
  await new Promise((resolve) => setTimeout(resolve, 200))
  const busy: { ms: number; status: number }[] = []
  for (let i = 0; i < 60; i++) busy.push(await sampleB())
  running = false
  await Promise.all(noisy)

  const ratio = p99(busy.map((s) => s.ms)) / p99(idle)
  t.comment(
    `noisy neighbour: tenant B p99 ${p99(idle).toFixed(1)} ms idle vs ${p99(busy.map((s) => s.ms)).toFixed(1)} ms while tenant A runs 100 parallel list calls → ${ratio.toFixed(2)}×`,
  )
  t.comment(`tenant A: ${JSON.stringify(tally(aStatuses))}; most of A in flight at once: ${app.tenantSlots.peak}`)
  t.same(tally(busy.map((s) => s.status)), { 200: 60 }, 'B is never refused')
  t.equal(app.tenantSlots.perTenant, 5, 'the share is half the pool')
  t.equal(app.tenantSlots.peak, 5, 'A reached its share of 5 connections, and never more (the rest of A queued)')
  t.ok(aStatuses.filter((s) => s === 200).length > 0, 'A is served within its share')
  t.ok(
    aStatuses.every((s) => s === 200 || s === 429),
    'A gets answers, or 429 when its queue is full or too slow, never an error',
  )
  t.ok(
    [...retryAfter].every((value) => value === '1'),
    'every 429 says when to retry',
  )
})
