import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import t from 'tap'
import { freePort } from '../../src/net.ts'
import { addMember, buildTestApp, call, registerTenant, type Session } from '../helpers/app.ts'
import { createTestDatabase } from '../helpers/db.ts'
import { type Activity, connectSocket, type LiveSocket, sleep, tally, untilLive } from '../helpers/realtime.ts'

/** src/server.ts in its own process, as `npm start` runs it, over the given database. */
async function startInstance(t: Parameters<typeof createTestDatabase>[0], env: Record<string, string>) {
  const port = await freePort()
  const child: ChildProcess = spawn(process.execPath, ['src/server.ts'], {
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      NODE_ENV: 'test',
      LOG_LEVEL: 'warn',
      HOST: '127.0.0.1',
      PORT: String(port),
      ...env,
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  })
  const exited = new Promise((resolve) => child.once('exit', resolve))
  t.teardown(async () => {
    child.kill('SIGTERM')
    await exited
  })
  const url = `http://127.0.0.1:${port}`
  for (let i = 0; ; i++) {
    const up = await fetch(`${url}/ready`).then(
      (res) => res.ok,
      () => false,
    )
    if (up) return url
    if (i > 300 || child.exitCode !== null) throw new Error('API process did not become ready')
    await sleep(100)
  }
}

t.test(
  'two API processes: writes through instance 1 reach the tenant’s sockets on both, in order, never another tenant’s',
  async (t) => {
    const db = await createTestDatabase(t)
    const env = { JWT_SECRET: randomBytes(32).toString('base64url'), DATABASE_URL: db.appUrl, BCRYPT_COST: '10' }
    // An in-process app only for setup (registrations, invitations), over the same database.
    const { app: setup } = await buildTestApp(t, { db, env })
    const [one, two] = await Promise.all([startInstance(t, env), startInstance(t, env)])

    const TENANTS = 4
    const ITEMS = 250
    const BROADCASTS = 25
    const INVITATIONS = 10
    type Tenant = { owner: Session; users: Session[] }
    const tenants: Tenant[] = []
    for (let i = 0; i < TENANTS; i++) {
      const owner = await registerTenant(setup)
      await call(setup, owner, 'PUT', '/v1/tenant/plan', { plan: 'enterprise' })
      const users = [owner]
      for (const role of ['admin', 'member', 'viewer'] as const) users.push(await addMember(setup, owner, role))
      tenants.push({ owner, users })
    }
    // Every user of every tenant has a socket on each instance.
    const sockets: { tenant: Tenant; session: Session; instance: string; socket: LiveSocket }[] = []
    for (const tenant of tenants) {
      for (const session of tenant.users) {
        for (const instance of [one, two]) {
          sockets.push({ tenant, session, instance, socket: connectSocket(t, instance, session.accessToken) })
        }
      }
    }
    await Promise.all(sockets.map(({ socket }) => untilLive(socket, 10_000)))

    // Writes through instance 1 only, interleaved across tenants, 8 at a time.
    const post = (session: Session, path: string, body: unknown) =>
      fetch(`${one}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${session.accessToken}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      }).then((res) => {
        if (!res.ok) throw new Error(`${path}: ${res.status}`)
      })
    const jobs: (() => Promise<void>)[] = []
    for (let n = 0; n < ITEMS; n++) {
      for (const tenant of tenants) {
        const writer = tenant.users[n % 3]! // owner, admin, member write items
        jobs.push(() => post(writer, '/v1/items', { name: `item ${n}` }))
        if (n % (ITEMS / BROADCASTS) === 0)
          jobs.push(() => post(tenant.users[1]!, '/v1/tenant/broadcasts', { message: `b${n}` }))
        if (n % (ITEMS / INVITATIONS) === 0) {
          jobs.push(() =>
            post(tenant.users[1]!, '/v1/invitations', {
              email: `i${n}-${tenant.owner.tenant.slug}@example.com`,
              role: 'viewer',
            }),
          )
        }
      }
    }
    // Everything from this marker on must reach every socket that may read it.
    for (const tenant of tenants) await post(tenant.owner, '/v1/tenant/broadcasts', { message: 'start' })
    const started = performance.now()
    let next = 0
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < jobs.length) await jobs[next++]!()
      }),
    )
    const writeSeconds = (performance.now() - started) / 1000

    // The truth: each tenant's log in commit order, read over REST as its owner.
    const logs = new Map<string, Activity[]>()
    for (const tenant of tenants) {
      const all: Activity[] = []
      let cursor: string | null = null
      do {
        const page: { data: Activity[]; nextCursor: string | null } = (
          await call(setup, tenant.owner, 'GET', `/v1/activities?after=0&limit=100${cursor ? `&cursor=${cursor}` : ''}`)
        ).json()
        all.push(...page.data)
        cursor = page.nextCursor
      } while (cursor)
      logs.set(tenant.owner.tenant.id, all)
    }

    // Wait until every socket has its tenant's last event (bounded).
    await Promise.all(
      sockets.map(({ tenant, socket }) => {
        const last = logs.get(tenant.owner.tenant.id)!.at(-1)!.id
        return socket.waitFor((r) => (r.data as Activity)?.id === last, 20_000).catch(() => null)
      }),
    )

    const total = { expected: 0, delivered: 0, missing: 0, duplicated: 0, misordered: 0, leaked: 0 }
    for (const { tenant, session, socket, instance } of sockets) {
      const tenantId = tenant.owner.tenant.id
      const canSee = (a: Activity) =>
        a.tenantId === tenantId && (!a.type.startsWith('INVITATION_') || ['owner', 'admin'].includes(session.role))
      // What this socket should get: everything from the marker written after all were live.
      const log = logs.get(tenantId)!
      const from = log.findIndex((a) => a.type === 'BROADCAST_MESSAGE' && a.payload.message === 'start')
      const expected = log.slice(from).filter(canSee)
      const figures = tally(
        expected.map((a) => a.id),
        socket.activities(),
        canSee,
      )
      for (const key of Object.keys(total) as (keyof typeof total)[]) total[key] += figures[key]
      if (figures.missing || figures.duplicated || figures.misordered || figures.leaked) {
        t.comment(`${session.role} on ${instance}: ${JSON.stringify(figures)}`)
        const got = socket.activities().filter((a) => expected.some((e) => e.id === a.id))
        const k = got.findIndex((a, i) => a.id !== expected[i]!.id)
        t.comment(
          `first difference at ${k}: expected ${expected.slice(k - 2, k + 4).map((a) => `${a.id}:${a.type}`)} got ${got.slice(k - 2, k + 4).map((a) => `${a.id}:${a.type}`)}`,
        )
      }
    }
    const written = [...logs.values()].reduce((sum, log) => sum + log.length, 0)
    t.comment(
      `two processes, ${TENANTS} tenants × 4 roles × 2 instances = ${sockets.length} sockets; ${written} events written through instance 1 in ${writeSeconds.toFixed(1)} s`,
    )
    t.comment(`totals: ${JSON.stringify(total)}`)
    t.ok(total.expected > TENANTS * ITEMS * 8 * 0.9, `${total.expected} deliveries expected`)
    t.same(
      { missing: total.missing, duplicated: total.duplicated, misordered: total.misordered, leaked: total.leaked },
      { missing: 0, duplicated: 0, misordered: 0, leaked: 0 },
      'every socket on both instances got its tenant’s events, once, in order, and nothing else',
    )
    t.equal(total.delivered, total.expected)
  },
)
