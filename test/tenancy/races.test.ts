import { createHash, randomBytes } from 'node:crypto'
import pg from 'pg'
import t from 'tap'
import { buildTestApp, call, PASSWORD, registerTenant } from '../helpers/app.ts'
import { connect, createTestDatabase, withApiRole } from '../helpers/db.ts'
import { invitationToken } from '../helpers/mail.ts'

const sha256 = (text: string) => createHash('sha256').update(text).digest()
const ROUNDS = 10

/** Outcome of each promise: 'ok' or the SQLSTATE it failed with. */
const outcomes = async (promises: Promise<unknown>[]) =>
  (await Promise.allSettled(promises)).map((r) =>
    r.status === 'fulfilled' ? 'ok' : ((r.reason as { code?: string }).code ?? String(r.reason)),
  )

const tally = (values: string[]) =>
  values.reduce<Record<string, number>>((acc, v) => {
    acc[v] = (acc[v] ?? 0) + 1
    return acc
  }, {})

t.test('concurrency: the database keeps its invariants under parallel requests', async (t) => {
  const db = await createTestDatabase(t)
  const owner = await connect(t, db.ownerUrl)
  // 60 connections as the API role, so every racer really runs at the same time.
  const api = new pg.Pool({ connectionString: db.appUrl, max: 60 })
  t.teardown(() => api.end())
  await Promise.all(Array.from({ length: 60 }, async () => (await api.connect()).release()))

  /** A tenant with an owner, `members - 1` more members and `pending` invitations, on `plan`. */
  async function tenantWith(members: number, pending: number, plan: string) {
    const slug = `race-${randomBytes(4).toString('hex')}`
    const { rows } = await owner.query(`select * from app_private.register($1, 'Owner', 'hash', $2, $2)`, [
      `${slug}@example.com`,
      slug,
    ])
    const tenantId: string = rows[0].tenant_id
    await owner.query(`update app_public.tenants set plan = 'enterprise' where id = $1`, [tenantId])
    const tokens = Array.from({ length: members - 1 + pending }, (_, i) => `${slug}-token-${i}`)
    await owner.query(
      `with x as (select t, $2 || '-' || i || '@example.com' as email from unnest($3::bytea[]) with ordinality as x(t, i)),
       inv as (
         insert into app_public.invitations (tenant_id, email, role) select $1, x.email, 'member' from x
         returning id, email, expires_at
       )
       insert into app_private.email_tokens (token_hash, purpose, email, tenant_id, invitation_id, expires_at)
       select x.t, 'invitation', inv.email, $1, inv.id, inv.expires_at from inv join x on x.email = inv.email`,
      [tenantId, slug, tokens.map(sha256)],
    )
    for (const token of tokens.slice(0, members - 1)) await accept(token)
    await owner.query(`update app_public.tenants set plan = $2 where id = $1`, [tenantId, plan])
    return { tenantId, pending: tokens.slice(members - 1) }
  }

  const accept = (token: string) =>
    api.query(`select * from app_private.accept_invitation($1, null, 'Racer', 'hash', $2, '1 day')`, [
      sha256(token),
      randomBytes(32),
    ])

  const memberCount = async (tenantId: string) =>
    (await owner.query('select count(*)::int as n from app_public.memberships where tenant_id = $1', [tenantId]))
      .rows[0].n as number

  t.test('50 parallel accepts into a free tenant with 2 members leave exactly 3 members, every time', async (t) => {
    for (let round = 0; round < ROUNDS; round++) {
      const { tenantId, pending } = await tenantWith(2, 50, 'free')
      const results = await outcomes(pending.map(accept))
      t.same(tally(results), { ok: 1, TNPLM: 49 }, `round ${round}`)
      t.equal(await memberCount(tenantId), 3, `round ${round}: members`)
    }
  })

  t.test('a plan downgrade racing accepts never leaves more members than the plan allows', async (t) => {
    const seen: Record<string, number> = {}
    for (let round = 0; round < ROUNDS * 2; round++) {
      const { tenantId, pending } = await tenantWith(3, 5, 'pro')
      // The downgrade goes through the owner's connection: the trigger race is what matters here
      // (the API path of PUT /v1/tenant/plan is covered by the HTTP tests).
      const results = await outcomes([
        owner.query(`update app_public.tenants set plan = 'free' where id = $1`, [tenantId]),
        ...pending.map(accept),
      ])
      const { rows } = await owner.query(
        `select t.plan, p.member_limit, (select count(*)::int from app_public.memberships m where m.tenant_id = t.id) as members
         from app_public.tenants t join app_public.plans p on p.id = t.plan where t.id = $1`,
        [tenantId],
      )
      const { plan, member_limit: limit, members } = rows[0]
      t.ok(
        limit === null || members <= limit,
        `round ${round}: ${members} members on ${plan} (limit ${limit}); ${results.join(',')}`,
      )
      const key = `${plan}:${members}`
      seen[key] = (seen[key] ?? 0) + 1
    }
    t.comment(`final states over ${ROUNDS * 2} rounds: ${JSON.stringify(seen)}`)
  })

  t.test('two owners demoting each other at once: exactly one succeeds, one owner remains', async (t) => {
    for (let round = 0; round < ROUNDS * 2; round++) {
      const { tenantId } = await tenantWith(2, 0, 'free')
      await owner.query(`update app_public.memberships set role = 'owner' where tenant_id = $1`, [tenantId])
      const { rows: owners } = await owner.query('select user_id from app_public.memberships where tenant_id = $1', [
        tenantId,
      ])
      const sessions = await Promise.all(
        owners.map(async ({ user_id }) => {
          const { rows } = await owner.query(`select * from app_private.open_session($1, null, $2, '1 day')`, [
            user_id,
            randomBytes(32),
          ])
          return { userId: user_id as string, sessionId: rows[0].session_id as string }
        }),
      )
      const demote = async (actor: { userId: string; sessionId: string }, target: string) => {
        const client = await api.connect()
        try {
          const res = await withApiRole(
            client,
            { tenantId, ...actor },
            () =>
              client.query(`update app_public.memberships set role = 'admin' where tenant_id = $1 and user_id = $2`, [
                tenantId,
                target,
              ]),
            { commit: true },
          )
          // RLS filters the update when the actor was demoted first and is no longer an owner.
          if (res.rowCount === 0) throw Object.assign(new Error('filtered by RLS'), { code: 'RLS' })
          return res.rowCount
        } finally {
          client.release()
        }
      }
      const results = await outcomes([
        demote(sessions[0]!, sessions[1]!.userId),
        demote(sessions[1]!, sessions[0]!.userId),
      ])
      // Either both ran at once and the trigger refused the second (TNLOW), or the first one
      // committed before the second began and RLS hid the owner from the now-admin actor.
      t.ok(['TNLOW,ok', 'RLS,ok'].includes(results.sort().join(',')), `round ${round}: ${results}`)
      const { rows } = await owner.query(
        `select count(*)::int as n from app_public.memberships where tenant_id = $1 and role = 'owner'`,
        [tenantId],
      )
      t.equal(rows[0].n, 1, `round ${round}: one owner left`)
    }
  })
})

t.test('over HTTP: an invitation is single-use under 20 parallel accepts', async (t) => {
  const { app } = await buildTestApp(t, { env: { DATABASE_POOL_SIZE: '20' } })
  for (let round = 0; round < 3; round++) {
    const owner = await registerTenant(app)
    const invite = await call(app, owner, 'POST', '/v1/invitations', {
      email: `single-${round}@example.com`,
      role: 'member',
    })
    const token = await invitationToken(app, invite.json().id)
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        app.inject({
          method: 'POST',
          url: '/v1/invitations/accept',
          payload: { token, name: `Racer ${i}`, password: PASSWORD },
        }),
      ),
    )
    t.same(tally(results.map((r) => String(r.statusCode))), { 200: 1, 404: 19 }, `round ${round}`)
    const members = await call(app, owner, 'GET', '/v1/members')
    t.equal(members.json().data.length, 2, `round ${round}: one new member`)
  }
})

t.test('over HTTP: parallel invitations cannot exceed members + pending ≤ plan limit', async (t) => {
  const { app } = await buildTestApp(t, { env: { DATABASE_POOL_SIZE: '20' } })
  for (let round = 0; round < 3; round++) {
    const owner = await registerTenant(app)
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        call(app, owner, 'POST', '/v1/invitations', { email: `limit-${round}-${i}@example.com`, role: 'member' }),
      ),
    )
    t.same(
      tally(results.map((r) => String(r.statusCode))),
      { 201: 2, 403: 18 },
      `round ${round}: a free tenant with 1 member takes 2 invitations`,
    )
    t.ok(results.filter((r) => r.statusCode === 403).every((r) => r.json().type === '/problems/plan-limit-exceeded'))
    const pending = await call(app, owner, 'GET', '/v1/invitations')
    t.equal(pending.json().data.length, 2)
  }
})
