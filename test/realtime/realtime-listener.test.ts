import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { buildApp } from '../../src/app.ts'
import { loadConfig } from '../../src/config.ts'
import { ensureRolesAndDatabase, migrate, withClient } from '../../src/db/bootstrap.ts'
import { type EmbeddedCluster, startEmbeddedPostgres } from '../../src/db/embedded.ts'
import { freePort } from '../../src/net.ts'
import { addMember, attachFactories, call, registerTenant, type Session } from '../helpers/app.ts'
import { type Activity, connectSocket, type LiveSocket, listen, sleep, tally, untilLive } from '../helpers/realtime.ts'

/*
 * This file restarts PostgreSQL, so it runs its own cluster rather than the suite's shared one.
 * Two instances, steady writes through the first; every LISTEN backend is terminated again and
 * again, and the whole server is restarted mid-run. NOTIFYs sent while a listener is away are
 * lost by design: the bridge catches up from the table, so nothing may be missing.
 */
t.test('killed LISTEN backends and a PostgreSQL restart lose no event and duplicate none', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'tenantry-listener-pg-'))
  const port = await freePort()
  let cluster: EmbeddedCluster = await startEmbeddedPostgres({ dataDir, port })
  t.teardown(async () => {
    await cluster.stop().catch(() => {})
    rmSync(dataDir, { recursive: true, force: true })
    rmSync(`${dataDir}.credentials.json`, { force: true })
  })
  const urls = cluster.urls('tenantry_listener')
  await ensureRolesAndDatabase(urls)
  await migrate(urls.owner, urls.root)
  const rootDb = Object.assign(new URL(urls.root), { pathname: '/tenantry_listener' }).toString()

  const config = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    BCRYPT_COST: '10',
    DATABASE_URL: urls.app,
    DATABASE_POOL_SIZE: '5',
    PASSWORD_HASH_THREADS: '1',
    JWT_SECRET: randomBytes(32).toString('base64url'),
  })
  const a = await buildApp({ config, logger: false })
  const b = await buildApp({ config, logger: false })
  t.teardown(async () => {
    await a.close()
    await b.close()
  })
  await attachFactories(t, a, rootDb)
  const bases = [await listen(a), await listen(b)]

  const tenants: { owner: Session; viewer: Session }[] = []
  for (let i = 0; i < 2; i++) {
    const owner = await registerTenant(a)
    tenants.push({ owner, viewer: await addMember(a, owner, 'viewer') })
  }
  const sockets: { session: Session; socket: LiveSocket }[] = []
  for (const { owner, viewer } of tenants) {
    for (const session of [owner, viewer]) {
      for (const base of bases) sockets.push({ session, socket: connectSocket(t, base, session.accessToken) })
    }
  }
  await Promise.all(sockets.map(({ socket }) => untilLive(socket)))
  for (const { owner } of tenants) await call(a, owner, 'POST', '/v1/tenant/broadcasts', { message: 'start' })

  // Steady writes, 4 at a time, for the whole run; failures while PostgreSQL is down are expected.
  let writing = true
  let written = 0
  let failed = 0
  const writers = Array.from({ length: 4 }, async (_, w) => {
    for (let n = 0; writing; n++) {
      const { owner } = tenants[(n + w) % tenants.length]!
      const res = await call(a, owner, 'POST', '/v1/items', { name: `w${w}-${n}` }).catch(() => null)
      if (res?.statusCode === 201) written++
      else {
        failed++
        await sleep(50)
      }
    }
  })

  let kills = 0
  const killListeners = () =>
    withClient(rootDb, async (client) => {
      const result = await client.query(
        `select pg_terminate_backend(pid) from pg_stat_activity
          where datname = current_database() and application_name = 'tenantry_realtime_listener'`,
      )
      kills += result.rowCount ?? 0
    }).catch(() => {})

  for (let round = 0; round < 8; round++) {
    await sleep(300)
    await killListeners()
  }
  // PostgreSQL restarted mid-run: the API processes are not.
  await cluster.stop()
  const restartedAt = performance.now()
  await sleep(500)
  cluster = await startEmbeddedPostgres({ dataDir, port })
  for (let round = 0; round < 6; round++) {
    await sleep(300)
    await killListeners()
  }
  await sleep(1000)
  writing = false
  await Promise.all(writers)

  // The truth, after everything: each tenant's log in commit order.
  const logs = new Map<string, Activity[]>()
  for (const { owner } of tenants) {
    const all: Activity[] = []
    let cursor: string | null = null
    do {
      const page: { data: Activity[]; nextCursor: string | null } = (
        await call(a, owner, 'GET', `/v1/activities?after=0&limit=100${cursor ? `&cursor=${cursor}` : ''}`)
      ).json()
      all.push(...page.data)
      cursor = page.nextCursor
    } while (cursor)
    logs.set(owner.tenant.id, all)
  }
  await Promise.all(
    sockets.map(({ session, socket }) => {
      const last = logs.get(session.tenant.id)!.at(-1)!.id
      return socket.waitFor((r) => (r.data as Activity)?.id === last, 15_000).catch(() => null)
    }),
  )

  const total = { expected: 0, delivered: 0, missing: 0, duplicated: 0, misordered: 0, leaked: 0 }
  for (const { session, socket } of sockets) {
    const log = logs.get(session.tenant.id)!
    const from = log.findIndex((x) => x.payload.message === 'start')
    const canSee = (x: Activity) => x.tenantId === session.tenant.id
    const figures = tally(
      log.slice(from).map((x) => x.id),
      socket.activities(),
      canSee,
    )
    for (const key of Object.keys(total) as (keyof typeof total)[]) total[key] += figures[key]
  }
  const ready = await Promise.all([a, b].map((app) => app.inject({ url: '/ready' })))
  t.comment(
    `${written} writes committed (${failed} failed while PostgreSQL was down), ${kills} LISTEN backends terminated, PostgreSQL restarted ${((performance.now() - restartedAt) / 1000).toFixed(1)} s before the end`,
  )
  t.comment(`${sockets.length} sockets on 2 instances: ${JSON.stringify(total)}`)
  t.ok(kills >= 10, `the listeners were killed repeatedly (${kills})`)
  t.ok(written > 50, 'writes went on throughout')
  t.same(
    { missing: total.missing, duplicated: total.duplicated, misordered: total.misordered, leaked: total.leaked },
    { missing: 0, duplicated: 0, misordered: 0, leaked: 0 },
    '0 missing, 0 duplicated, 0 misordered, 0 leaked',
  )
  t.same(
    ready.map((r) => r.statusCode),
    [200, 200],
    'both instances are ready again without a process restart',
  )
})
