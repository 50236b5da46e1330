import t, { type Test } from 'tap'
import { noisyClient } from '../../bench/load.ts'
import type { Load, Pressure } from '../../src/fairness/loop-pressure.ts'
import { TenantSlots } from '../../src/fairness/tenant-slots.ts'
import { buildTestApp, call, factoriesOf } from '../helpers/app.ts'
import { listen } from '../helpers/realtime.ts'

const p99 = (values: number[]) => [...values].sort((a, b) => a - b)[Math.ceil(values.length * 0.99) - 1]!
const tally = (values: number[]) =>
  values.reduce<Record<string, number>>((acc, v) => {
    acc[v] = (acc[v] ?? 0) + 1
    return acc
  }, {})

/**
 * Tenant A keeps 100 list calls in flight while tenant B's list calls are timed one after the
 * other. With `aElsewhere`, A is another process (bench/noisy-client.ts) over real HTTP, so the
 * event loop B is timed on is the server's own, loaded by A's requests but not by A's client;
 * otherwise A runs here over app.inject (its 429s and retry-after are then visible). Prints B's
 * p99 alone and beside A; returns what the caller asserts. The target belongs to the bench.
 */
async function noisyNeighbour(t: Test, env: Record<string, string>, aElsewhere: boolean) {
  const { app } = await buildTestApp(t, { env: { DATABASE_POOL_SIZE: '10', ...env } })
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
  const url = aElsewhere ? await listen(app) : null
  const sampleB = async () => {
    const started = performance.now()
    if (url) {
      const res = await fetch(`${url}/v1/items?limit=20`, { headers: { authorization: `Bearer ${b.accessToken}` } })
      await res.arrayBuffer()
      return { ms: performance.now() - started, status: res.status }
    }
    const res = await call(app, b, 'GET', '/v1/items?limit=20')
    return { ms: performance.now() - started, status: res.statusCode }
  }
  for (let i = 0; i < 10; i++) await sampleB() // warm-up

  const idle: number[] = []
  for (let i = 0; i < 60; i++) idle.push((await sampleB()).ms)

  const aStatuses: Record<string, number> = {}
  const retryAfter = new Set<string>()
  const busy: { ms: number; status: number }[] = []
  if (url) {
    const noisy = await noisyClient({
      url,
      connections: 100,
      path: '/v1/items?limit=100',
      headers: { authorization: `Bearer ${a.accessToken}` },
    })
    t.teardown(() => noisy.close())
    await noisy.start()
    try {
      await new Promise((resolve) => setTimeout(resolve, 300))
      for (let i = 0; i < 60; i++) busy.push(await sampleB())
    } finally {
      Object.assign(aStatuses, (await noisy.stop()).statusCodes)
      await noisy.close()
    }
  } else {
    let running = true
    const noisy = Array.from({ length: 100 }, async () => {
      while (running) {
        const res = await call(app, a, 'GET', '/v1/items?limit=100')
        aStatuses[res.statusCode] = (aStatuses[res.statusCode] ?? 0) + 1
        if (res.statusCode === 429) {
          retryAfter.add(String(res.headers['retry-after']))
          // A client that retries when retry-after says (a tight loop in this very process would
          // measure the test's own CPU, not the server's fairness).
          await new Promise((resolve) => setTimeout(resolve, Number(res.headers['retry-after']) * 1000))
        }
      }
    })
    await new Promise((resolve) => setTimeout(resolve, 200))
    for (let i = 0; i < 60; i++) busy.push(await sampleB())
    running = false
    await Promise.all(noisy)
  }

  const ratio = p99(busy.map((s) => s.ms)) / p99(idle)
  t.comment(
    `noisy neighbour (A ${url ? 'in another process, over HTTP' : 'in this process, over inject'}): tenant B p99 ${p99(idle).toFixed(1)} ms idle vs ${p99(busy.map((s) => s.ms)).toFixed(1)} ms while tenant A runs 100 parallel list calls → ${ratio.toFixed(2)}×`,
  )
  t.comment(
    `tenant A: ${JSON.stringify(aStatuses)}; most of A in flight at once: ${app.tenantSlots.peak}; releases held back for the loop: ${app.tenantSlots.throttled}`,
  )
  t.same(tally(busy.map((s) => s.status)), { 200: 60 }, 'B is never refused')
  t.ok((aStatuses['200'] ?? 0) > 0, 'A is served within its share')
  t.ok(
    Object.keys(aStatuses).every((s) => s === '200' || s === '429'),
    'A gets answers, or 429 when its queue is full or too slow, never an error',
  )
  t.ok(
    [...retryAfter].every((value) => value === '1'),
    'every 429 says when to retry',
  )
  return app
}

t.test("one tenant's 100 parallel list calls hold at most its share of the pool", async (t) => {
  // The busy share equal to the full one: the pool share alone, whatever the loop does.
  const app = await noisyNeighbour(t, { DATABASE_POOL_PER_TENANT_BUSY: '5' }, false)
  t.equal(app.tenantSlots.perTenant, 5, 'the share is half the pool')
  t.equal(app.tenantSlots.peak, 5, 'A reached its share of 5 connections, and never more (the rest of A queued)')
  t.equal(app.tenantSlots.throttled, 0, 'nothing waited for the loop: the busy share is the full one')
})

t.test('with the event loop saturated, the busy tenant is held to one request at a time', async (t) => {
  const app = await noisyNeighbour(t, {}, true)
  t.equal(app.tenantSlots.perTenantBusy, 1, 'the busy share defaults to one')
  // A's 100 list calls keep the server's loop busy: the pressure must have engaged.
  t.ok(app.tenantSlots.throttled > 0, `A waited for the loop ${app.tenantSlots.throttled} times below its share`)
})

/** A pressure whose windows the test reports. */
function fakePressure() {
  const listeners: ((load: Load) => void)[] = []
  return {
    onWindow: (listener: (load: Load) => void) => {
      listeners.push(listener)
    },
    close: () => {},
    window: (load: Load) => {
      for (const listener of listeners) listener(load)
    },
  } satisfies Pressure & { window: (load: Load) => void }
}

/** A task that holds its slot until released. */
function holder(slots: TenantSlots, tenantId: string) {
  let release = () => {}
  let started = false
  const done = slots.run(tenantId, async () => {
    started = true
    await new Promise<void>((resolve) => {
      release = resolve
    })
  })
  return {
    done,
    get started() {
      return started
    },
    release: () => release(),
  }
}

const tick = () => new Promise((resolve) => setImmediate(resolve))

/** Releases every task, including those that start only as others end. */
async function drain(tasks: ReturnType<typeof holder>[]) {
  for (let round = 0; round < 100 && !tasks.every((task) => task.started); round++) {
    for (const task of tasks) task.release()
    await tick()
  }
  for (const task of tasks) task.release()
  await Promise.all(tasks.map((task) => task.done))
}

t.test('the busy share: one at a time under pressure beside another tenant, the full share otherwise', async (t) => {
  const pressure = fakePressure()
  const slots = new TenantSlots({ perTenant: 4, perTenantBusy: 1, maxWaiting: 100, maxWaitMs: 5000, pressure })

  const a = Array.from({ length: 8 }, () => holder(slots, 'A'))
  await tick()
  t.equal(slots.inFlight('A'), 4, 'no pressure: A holds its full share')

  pressure.window('saturated')
  const b = holder(slots, 'B')
  await tick()
  t.ok(b.started, 'B starts at once beside A')
  t.equal(slots.limit('A'), 1, 'under pressure with B active, A may hold one')

  const inFlight: number[] = []
  for (const task of a.slice(0, 4)) {
    task.release()
    await task.done
    await tick()
    inFlight.push(slots.inFlight('A'))
  }
  t.same(inFlight, [3, 2, 1, 1], 'A drains to one and is then handed one slot at a time')
  t.equal(slots.throttled, 4, "four releases kept their slot from A's waiters because of the loop")

  pressure.window('steady')
  await tick()
  t.equal(slots.inFlight('A'), 1, 'a steady window holds the cap where it is')
  const grown: number[] = []
  for (let i = 0; i < 4; i++) {
    pressure.window('idle')
    await tick()
    grown.push(slots.inFlight('A'))
  }
  t.same(grown, [2, 3, 4, 4], 'each calm window gives one slot back, up to the full share')
  pressure.window('saturated')
  t.equal(slots.limit('A'), 1, 'a saturated window cuts it to one again at once')

  await drain([b, ...a])
  t.equal(slots.inFlight('A'), 0, 'every slot came back')
})

t.test('a tenant alone keeps its whole share under pressure', async (t) => {
  const pressure = fakePressure()
  const slots = new TenantSlots({ perTenant: 3, perTenantBusy: 1, maxWaiting: 100, maxWaitMs: 5000, pressure })
  pressure.window('saturated')
  const a = Array.from({ length: 5 }, () => holder(slots, 'A'))
  await tick()
  t.equal(slots.inFlight('A'), 3, 'nobody else is active: nobody to protect')
  await drain(a)
  t.equal(slots.throttled, 0, 'and nothing was held back for the loop')
})
