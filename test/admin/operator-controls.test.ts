/**
 * Quotas that bind people who register (issue 17, item 6): the operator decides who raises a
 * plan (PLAN_UPGRADES), and how many tenants one user (TENANTS_PER_USER, in the database) and
 * one address per day (TENANTS_PER_IP_PER_DAY, in the limiter) may create.
 */
import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { buildTestApp, call, factoriesOf, PASSWORD, type Session, uniqueName } from '../helpers/app.ts'
import { connect, whoOf, withApiRole } from '../helpers/db.ts'

const ADMIN_TOKEN = 'platform-admin-token-for-tests-0123456789'

const putPlan = (app: FastifyInstance, session: Session, plan: string) =>
  call(app, session, 'PUT', '/v1/tenant/plan', { plan })

const createTenant = (app: FastifyInstance, session: Session) => {
  const slug = uniqueName('created').toLowerCase()
  return call(app, session, 'POST', '/v1/tenants', { name: slug, slug })
}

const register = (app: FastifyInstance, remoteAddress: string) => {
  const name = uniqueName('reg').toLowerCase()
  return app.inject({
    method: 'POST',
    url: '/v1/auth/register',
    remoteAddress,
    payload: { email: `${name}@example.com`, password: PASSWORD, name, tenant: { name, slug: name } },
  })
}

t.test('PLAN_UPGRADES=platform: admins downgrade, only /v1/admin upgrades', async (t) => {
  const { app, db, config } = await buildTestApp(t, {
    env: { PLAN_UPGRADES: 'platform', PLATFORM_ADMIN_TOKEN: ADMIN_TOKEN },
  })
  t.equal(config.PLAN_UPGRADES, 'platform')
  const f = factoriesOf(app)
  const planOf = async (tenantId: string) =>
    (await f.root.query<{ plan: string }>('select plan from app_public.tenants where id = $1', [tenantId])).rows[0]!
      .plan

  t.test('attack: a tenant admin moves the tenant to enterprise for free → 403 /forbidden', async (t) => {
    const owner = await f.tenant({ plan: 'free' })
    const admin = await f.member(owner.tenant, 'admin')
    for (const [who, session] of [
      ['admin', admin],
      ['owner', owner],
    ] as const) {
      for (const plan of ['pro', 'enterprise']) {
        const res = await putPlan(app, session, plan)
        t.equal(res.statusCode, 403, `${who} → ${plan}: 403`)
        t.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8')
        t.equal(res.json().type, '/problems/forbidden', `${who} → ${plan}: /forbidden`)
      }
    }
    t.equal(await planOf(owner.tenant.id), 'free', 'the tenant is still on free')
    const activities = await f.root.query(
      "select 1 from app_public.activities where tenant_id = $1 and type like 'PLAN_%'",
      [owner.tenant.id],
    )
    t.equal(activities.rowCount, 0, 'and no plan activity was recorded')
  })

  t.test('a downgrade works, and staying on the same plan is not an upgrade', async (t) => {
    const owner = await f.tenant({ plan: 'enterprise' })
    const admin = await f.member(owner.tenant, 'admin')
    t.equal((await putPlan(app, admin, 'enterprise')).statusCode, 200, 'enterprise → enterprise: 200')
    const down = await putPlan(app, admin, 'pro')
    t.equal(down.statusCode, 200, 'enterprise → pro: 200')
    t.equal(down.json().plan, 'pro')
    t.equal((await putPlan(app, owner, 'free')).statusCode, 200, 'pro → free: 200')
    t.equal((await putPlan(app, owner, 'pro')).statusCode, 403, 'and back up: 403')
    t.equal(await planOf(owner.tenant.id), 'free')
  })

  t.test('the platform admin still upgrades', async (t) => {
    const owner = await f.tenant({ plan: 'free' })
    const res = await app.inject({
      method: 'PATCH',
      url: `/v1/admin/tenants/${owner.tenant.id}`,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      payload: { plan: 'enterprise' },
    })
    t.equal(res.statusCode, 200)
    t.equal(await planOf(owner.tenant.id), 'enterprise')
  })

  t.test('the database refuses it too: the API role cannot update tenants.plan directly', async (t) => {
    const owner = await f.tenant({ plan: 'free' })
    const client = await connect(t, db.appUrl)
    await t.rejects(
      withApiRole(client, whoOf(owner), () =>
        client.query("update app_public.tenants set plan = 'enterprise' where id = $1", [owner.tenant.id]),
      ),
      { code: '42501' },
      'a direct UPDATE of plan is a permission error',
    )
    await t.rejects(
      withApiRole(client, whoOf(owner), () => client.query("select app_private.change_plan('enterprise', false)")),
      { code: 'TN403' },
      'change_plan refuses the upgrade',
    )
    const member = await f.member(owner.tenant, 'member')
    await t.rejects(
      withApiRole(client, whoOf(member), () => client.query("select app_private.change_plan('free', true)")),
      { code: '42501' },
      'a member cannot change the plan even with upgrades open',
    )
    t.equal(await planOf(owner.tenant.id), 'free')
  })
})

t.test('PLAN_UPGRADES defaults: platform in production, open in development and test', async (t) => {
  const { loadConfig } = await import('../../src/config.ts')
  const mailEnv = { SMTP_URL: 'smtp://mail.example.com', PUBLIC_URL: 'https://app.example.com' }
  t.equal(loadConfig({ NODE_ENV: 'production', JWT_SECRET: 's'.repeat(32), ...mailEnv }).PLAN_UPGRADES, 'platform')
  t.equal(loadConfig({ NODE_ENV: 'development', DATA_DIR: t.testdirName }).PLAN_UPGRADES, 'open')
  t.equal(loadConfig({ NODE_ENV: 'test' }).PLAN_UPGRADES, 'open')
  t.equal(
    loadConfig({ NODE_ENV: 'production', JWT_SECRET: 's'.repeat(32), ...mailEnv, PLAN_UPGRADES: 'open' }).PLAN_UPGRADES,
    'open',
  )
  t.throws(() => loadConfig({ NODE_ENV: 'test', PLAN_UPGRADES: 'anyone' }), /PLAN_UPGRADES/)
  t.equal(loadConfig({ NODE_ENV: 'test' }).TENANTS_PER_USER, 5)
  t.equal(loadConfig({ NODE_ENV: 'test' }).TENANTS_PER_IP_PER_DAY, 20)
})

t.test('PLAN_UPGRADES=open: tenant admins upgrade themselves', async (t) => {
  const { app } = await buildTestApp(t, { env: { PLAN_UPGRADES: 'open' } })
  const f = factoriesOf(app)
  const owner = await f.tenant({ plan: 'free' })
  const admin = await f.member(owner.tenant, 'admin')
  const res = await putPlan(app, admin, 'enterprise')
  t.equal(res.statusCode, 200)
  t.equal(res.json().plan, 'enterprise')
  const member = await f.member(owner.tenant, 'viewer')
  t.equal((await putPlan(app, member, 'free')).statusCode, 403, 'a viewer still cannot')
})

t.test('TENANTS_PER_USER (default 5): the database caps tenants one user creates', async (t) => {
  const { app, config } = await buildTestApp(t)
  t.equal(config.TENANTS_PER_USER, 5)
  const f = factoriesOf(app)

  t.test('attack: one account creates 40 tenants → 5 created, 35 × 403 /forbidden', async (t) => {
    const user = await f.tenant() // a tenant the factory made, not the user: it does not count
    const statuses: number[] = []
    for (let i = 0; i < 40; i++) statuses.push((await createTenant(app, user)).statusCode)
    const created = statuses.filter((s) => s === 201).length
    const refused = statuses.filter((s) => s === 403).length
    t.equal(created, 5, '5 created')
    t.equal(refused, 35, '35 refused')
    const last = await createTenant(app, user)
    t.equal(last.json().type, '/problems/forbidden')
    t.match(last.json().detail, /created 5 tenants/)
    t.comment(`40 sequential POST /v1/tenants by one account: ${created} × 201, ${refused} × 403 /forbidden`)
  })

  t.test('registration counts as the first tenant a user creates', async (t) => {
    const registered = (await register(app, '127.0.0.1')).json() as Session
    for (let i = 0; i < 4; i++) t.equal((await createTenant(app, registered)).statusCode, 201, `creation ${i + 2}`)
    t.equal((await createTenant(app, registered)).statusCode, 403, 'the 6th is refused')
  })
})

t.test('10 parallel creations by a user at cap − 1 create exactly one tenant, every round', async (t) => {
  const CAP = 3
  const ROUNDS = 5
  const PARALLEL = 10
  const { app } = await buildTestApp(t, { env: { TENANTS_PER_USER: String(CAP) } })
  const f = factoriesOf(app)
  const outcomes: string[] = []
  for (let round = 0; round < ROUNDS; round++) {
    const user = await f.tenant()
    for (let i = 0; i < CAP - 1; i++) t.equal((await createTenant(app, user)).statusCode, 201)
    const results = await Promise.all(Array.from({ length: PARALLEL }, () => createTenant(app, user)))
    const created = results.filter((r) => r.statusCode === 201).length
    const refused = results.filter((r) => r.statusCode === 403 && r.json().type === '/problems/forbidden').length
    t.equal(created, 1, `round ${round}: exactly one 201`)
    t.equal(refused, PARALLEL - 1, `round ${round}: ${PARALLEL - 1} × 403 /forbidden`)
    const count = await f.root.query<{ n: number }>(
      'select count(*)::int as n from app_public.tenants where created_by = $1',
      [user.user.id],
    )
    t.equal(count.rows[0]!.n, CAP, `round ${round}: the user created exactly ${CAP}`)
    outcomes.push(`${created}/${PARALLEL}`)
  }
  t.comment(`cap ${CAP}, user at ${CAP - 1}: ${PARALLEL} parallel creations → created ${outcomes.join(', ')}`)
})

t.test('TENANTS_PER_IP_PER_DAY: registrations and creations from one address share a daily budget', async (t) => {
  const { app } = await buildTestApp(t, { env: { TENANTS_PER_IP_PER_DAY: '3' } })
  const here = '127.0.0.21'
  const first = await register(app, here)
  t.equal(first.statusCode, 201, 'registration 1')
  t.equal((await register(app, here)).statusCode, 201, 'registration 2')
  const user = first.json() as Session
  const third = await app.inject({
    method: 'POST',
    url: '/v1/tenants',
    remoteAddress: here,
    headers: { authorization: `Bearer ${user.accessToken}` },
    payload: { name: 'third', slug: uniqueName('third').toLowerCase() },
  })
  t.equal(third.statusCode, 201, 'a created tenant is the 3rd')
  const refused = await register(app, here)
  t.equal(refused.statusCode, 429, 'a 4th registration from that address: 429')
  t.equal(refused.json().type, '/problems/rate-limited')
  t.ok(Number(refused.headers['retry-after']) > 3600, 'retry after hours, not seconds')
  const fourth = await app.inject({
    method: 'POST',
    url: '/v1/tenants',
    remoteAddress: here,
    headers: { authorization: `Bearer ${user.accessToken}` },
    payload: { name: 'fourth', slug: uniqueName('fourth').toLowerCase() },
  })
  t.equal(fourth.statusCode, 429, 'and a 4th creation too')
  t.equal((await register(app, '127.0.0.22')).statusCode, 201, 'another address still registers')
  const invalid = await app.inject({
    method: 'POST',
    url: '/v1/auth/register',
    remoteAddress: '127.0.0.23',
    payload: { email: 'not-an-email' },
  })
  t.equal(invalid.statusCode, 400, 'a malformed registration is a 400…')
  for (let i = 0; i < 3; i++) t.equal((await register(app, '127.0.0.23')).statusCode, 201, '…that spent nothing')
})
