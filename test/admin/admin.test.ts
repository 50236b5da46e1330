/**
 * The platform admin API (/v1/admin): its token, its own rate limit, provisioning, plan and
 * suspension, deletion, and the platform audit log a DBA reads in app_audit.platform_actions.
 */
import { Writable } from 'node:stream'
import type { FastifyInstance, InjectOptions } from 'fastify'
import t from 'tap'
import { addMember, buildTestApp, call, factoriesOf, PASSWORD, registerTenant, type Session } from '../helpers/app.ts'
import { connect, createTestDatabase } from '../helpers/db.ts'
import { invitationToken, queuedToken } from '../helpers/mail.ts'

const TOKEN = 'platform-admin-token-for-tests-0123456789'

const admin = (app: FastifyInstance, method: InjectOptions['method'], url: string, payload?: unknown, token = TOKEN) =>
  app.inject({
    method,
    url,
    headers: { authorization: `Bearer ${token}` },
    ...(payload === undefined ? {} : { payload: payload as InjectOptions['payload'] }),
  })

const login = (app: FastifyInstance, email: string, password = PASSWORD) =>
  app.inject({ method: 'POST', url: '/v1/auth/login', payload: { email, password } })

t.test('without PLATFORM_ADMIN_TOKEN the admin API does not exist: 404, exactly like an unknown route', async (t) => {
  const { app } = await buildTestApp(t)
  const unknown = await admin(app, 'GET', '/v1/no-such-route')
  for (const [method, url] of [
    ['GET', '/v1/admin/tenants'],
    ['POST', '/v1/admin/tenants'],
    ['GET', '/v1/admin/audit'],
  ] as const) {
    const res = await admin(app, method, url, method === 'POST' ? {} : undefined)
    t.equal(res.statusCode, 404, `${method} ${url}`)
    t.same(res.json(), {
      type: '/problems/not-found',
      title: 'Not found',
      status: 404,
      detail: `no route for ${method} ${url}`,
      instance: url,
    })
    t.equal(
      res.headers['ratelimit-limit'],
      unknown.headers['ratelimit-limit'],
      'the same rate-limit headers as an unknown route: nothing gives it away',
    )
  }
  t.notOk(
    app.routeCatalog.some((r) => r.url.startsWith('/v1/admin')),
    'and it is not registered (nor documented)',
  )
})

t.test('the platform admin token: wrong, missing or a member token get 401, logged without the token', async (t) => {
  const db = await createTestDatabase(t)
  const lines: string[] = []
  const stream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk))
      done()
    },
  })
  const { app } = await buildTestApp(t, { db, env: { PLATFORM_ADMIN_TOKEN: TOKEN }, logger: { level: 'info', stream } })
  const owner = await registerTenant(app)

  const attempts: [string, Record<string, string>][] = [
    ['no header', {}],
    ['a near miss', { authorization: `Bearer ${TOKEN.slice(0, -1)}x` }],
    ['a prefix', { authorization: `Bearer ${TOKEN.slice(0, 16)}` }],
    ['the token with extra bytes', { authorization: `Bearer ${TOKEN}${TOKEN}` }],
    ['basic scheme', { authorization: `Basic ${TOKEN}` }],
    ["a tenant owner's access token", { authorization: `Bearer ${owner.accessToken}` }],
  ]
  for (const [name, headers] of attempts) {
    const res = await app.inject({ method: 'GET', url: '/v1/admin/tenants', headers })
    t.equal(res.statusCode, 401, name)
    t.equal(res.json().type, '/problems/unauthorized', name)
  }
  t.equal((await admin(app, 'GET', '/v1/admin/tenants')).statusCode, 200, 'the token itself passes')
  const failures = lines.filter((line) => line.includes('platform admin authentication failed'))
  t.equal(failures.length, attempts.length, 'every failure is logged')
  t.ok(
    failures.every((line) => /"reason":"(wrong token|no bearer token)"/.test(line)),
    'with its reason',
  )
  t.notOk(
    lines.some((line) => line.includes(TOKEN.slice(0, 16)) || line.includes(owner.accessToken)),
    'and no log line holds the token or a guess',
  )
})

t.test('the admin API has its own rate limit, failures included, and it limits nothing else', async (t) => {
  const { app } = await buildTestApp(t, { env: { PLATFORM_ADMIN_TOKEN: TOKEN, PLATFORM_ADMIN_RATE_LIMIT: '5' } })
  const results = []
  for (let i = 0; i < 3; i++) results.push(await admin(app, 'GET', '/v1/admin/tenants', undefined, 'x'.repeat(40)))
  for (let i = 0; i < 2; i++) results.push(await admin(app, 'GET', '/v1/admin/audit'))
  t.same(
    results.map((r) => r.statusCode),
    [401, 401, 401, 200, 200],
  )
  t.equal(results[4]!.headers['ratelimit-limit'], '5')
  t.equal(results[4]!.headers['ratelimit-remaining'], '0')
  const limited = await admin(app, 'GET', '/v1/admin/tenants')
  t.equal(limited.statusCode, 429, 'the sixth request in the minute, even with the right token')
  t.equal(limited.json().type, '/problems/rate-limited')
  t.ok(Number(limited.headers['retry-after']) > 0, 'with retry-after')
  t.equal((await app.inject({ method: 'GET', url: '/health' })).statusCode, 200, 'other routes are not limited by it')
  const owner = await registerTenant(app)
  t.equal((await call(app, owner, 'GET', '/v1/me')).statusCode, 200)
})

t.test('platform admin', async (t) => {
  const { app, db } = await buildTestApp(t, {
    env: { PLATFORM_ADMIN_TOKEN: TOKEN, PLATFORM_ADMIN_RATE_LIMIT: '100000' },
  })
  const root = await connect(t, db.rootUrl)
  let counter = 0
  const slug = (prefix: string) => `${prefix}-${process.pid}-${++counter}`
  const provision = async (payload: Record<string, unknown>) => {
    const res = await admin(app, 'POST', '/v1/admin/tenants', payload)
    if (res.statusCode !== 201) throw new Error(`provision failed: ${res.statusCode} ${res.body}`)
    return res.json()
  }
  const audit = async () => (await admin(app, 'GET', '/v1/admin/audit?limit=100')).json().data

  t.test('provisioning with a password creates the owner account, who signs in', async (t) => {
    const s = slug('prov')
    const created = await provision({
      name: 'Provisioned',
      slug: s,
      plan: 'pro',
      owner: { email: `${s}@Example.com`, name: 'Pat Owner', password: PASSWORD },
    })
    t.match(created, {
      tenant: { slug: s, name: 'Provisioned', plan: 'pro', memberCount: 1, itemCount: 0, suspendedAt: null },
      owner: { id: String, email: `${s}@example.com` },
    })
    t.notOk('invitation' in created, 'no invitation when a password is given')
    const signedIn = await login(app, `${s}@example.com`)
    t.equal(signedIn.statusCode, 200)
    t.match(signedIn.json(), { tenant: { slug: s }, role: 'owner', user: { id: created.owner.id } })
    const users = (await admin(app, 'GET', `/v1/admin/users?email=${s}`)).json().data
    t.match(users, [{ email: `${s}@example.com`, createdVia: 'platform', tenantCount: 1 }])
  })

  t.test('provisioning without a password returns an owner invitation, for a new or an existing account', async (t) => {
    const s = slug('invite')
    const created = await provision({ name: 'Invited', slug: s, owner: { email: `${s}@example.com`, name: 'New' } })
    t.match(created, {
      tenant: { slug: s, plan: 'free', memberCount: 0 },
      owner: { id: null, email: `${s}@example.com` },
      invitation: { token: String, expiresAt: String },
    })
    const mailed = await factoriesOf(app).root.query(
      `select payload->>'kind' as kind, key from graphile_worker._private_jobs where payload->>'to' = $1`,
      [`${s}@example.com`],
    )
    t.match(mailed.rows, [{ kind: 'invitation', key: /^invitation:/ }], 'the owner invitation is mailed to the owner')
    t.equal(
      await queuedToken(app, mailed.rows[0].key),
      created.invitation.token,
      'the mail carries the token the platform admin sees',
    )
    const accepted = await app.inject({
      method: 'POST',
      url: '/v1/invitations/accept',
      payload: { token: created.invitation.token, name: 'New Owner', password: PASSWORD },
    })
    t.equal(accepted.statusCode, 200)
    t.match(accepted.json(), { tenant: { slug: s }, role: 'owner' })

    const existing = await registerTenant(app)
    const s2 = slug('existing')
    const second = await provision({ name: 'Second', slug: s2, owner: { email: existing.user.email, name: 'Ignored' } })
    t.equal(second.owner.id, existing.user.id, 'an existing account is named by id')
    const joined = await app.inject({
      method: 'POST',
      url: '/v1/invitations/accept',
      payload: { token: second.invitation.token, password: PASSWORD },
    })
    t.match(joined.json(), { tenant: { slug: s2 }, role: 'owner' }, 'and accepts with its own password')

    const refused = await admin(app, 'POST', '/v1/admin/tenants', {
      name: 'No',
      slug: slug('no'),
      owner: { email: existing.user.email, name: 'X', password: 'another password' },
    })
    t.equal(refused.statusCode, 409, 'never a new password for an existing account')
    const taken = await admin(app, 'POST', '/v1/admin/tenants', {
      name: 'Taken',
      slug: s,
      owner: { email: 'someone@example.com', name: 'X' },
    })
    t.equal(taken.statusCode, 409, 'a taken slug')
    const bad = await admin(app, 'POST', '/v1/admin/tenants', { name: 'Bad', slug: 'Bad Slug', owner: {} })
    t.equal(bad.statusCode, 400)
    t.equal(bad.json().type, '/problems/validation-failed')
  })

  t.test('10 parallel provisions of one slug: exactly one tenant, every time', async (t) => {
    for (let round = 0; round < 5; round++) {
      const s = slug('race')
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          admin(app, 'POST', '/v1/admin/tenants', {
            name: s,
            slug: s,
            owner: { email: `${s}-${i}@example.com`, name: 'R' },
          }),
        ),
      )
      t.same(results.map((r) => r.statusCode).sort(), [201, ...Array(9).fill(409)], `round ${round}: one 201, nine 409`)
      const { rows } = await root.query<{ tenants: number; actions: number; invitations: number }>(
        `select (select count(*)::int from app_public.tenants where slug = $1) as tenants,
                (select count(*)::int from app_audit.platform_actions where detail->>'slug' = $1) as actions,
                (select count(*)::int from app_public.invitations i join app_public.tenants t on t.id = i.tenant_id
                  where t.slug = $1) as invitations`,
        [s],
      )
      t.same(
        rows[0],
        { tenants: 1, actions: 1, invitations: 1 },
        `round ${round}: one tenant, one audit row, one invitation`,
      )
    }
  })

  t.test('listing: by slug prefix, keyset-paginated, with member and item counts', async (t) => {
    const prefix = slug('list')
    const owners: Session[] = []
    for (const n of ['c', 'a', 'b']) owners.push(await registerTenant(app, `${prefix}-${n}`))
    await addMember(app, owners[1]!, 'member')
    for (let i = 0; i < 2; i++) await call(app, owners[1]!, 'POST', '/v1/items', { name: `item ${i}`, payload: {} })
    const first = await admin(app, 'GET', `/v1/admin/tenants?slug=${prefix}&limit=2`)
    t.equal(first.statusCode, 200)
    t.same(
      first.json().data.map((r: { slug: string }) => r.slug),
      [`${prefix}-a`, `${prefix}-b`],
    )
    t.match(first.json().data[0], { memberCount: 2, itemCount: 2, plan: 'free', suspendedAt: null })
    const second = await admin(app, 'GET', `/v1/admin/tenants?slug=${prefix}&limit=2&cursor=${first.json().nextCursor}`)
    t.same(
      second.json().data.map((r: { slug: string }) => r.slug),
      [`${prefix}-c`],
    )
    t.equal(second.json().nextCursor, null)
    t.equal((await admin(app, 'GET', '/v1/admin/tenants?slug=NOPE')).statusCode, 400)
    t.equal((await admin(app, 'GET', '/v1/admin/tenants?cursor=garbage')).statusCode, 400)
  })

  t.test("suspension takes effect on members' next request; resuming restores it; both are audited", async (t) => {
    const owner = await registerTenant(app)
    const member = await addMember(app, owner, 'member')
    const suspended = await admin(app, 'PATCH', `/v1/admin/tenants/${owner.tenant.id}`, { suspended: true })
    t.equal(suspended.statusCode, 200)
    t.type(suspended.json().suspendedAt, 'string')
    for (const session of [owner, member]) {
      const res = await call(app, session, 'GET', '/v1/items')
      t.equal(res.statusCode, 403)
      t.equal(res.json().type, '/problems/tenant-suspended')
    }
    t.equal((await login(app, member.user.email)).json().type, '/problems/tenant-suspended')
    const again = await admin(app, 'PATCH', `/v1/admin/tenants/${owner.tenant.id}`, { suspended: true })
    t.equal(again.json().suspendedAt, suspended.json().suspendedAt, 'suspending twice keeps the first time')
    const resumed = await admin(app, 'PATCH', `/v1/admin/tenants/${owner.tenant.id}`, { suspended: false })
    t.equal(resumed.json().suspendedAt, null)
    t.equal((await call(app, member, 'GET', '/v1/items')).statusCode, 200)
    const actions = (await audit()).filter((a: { tenantId: string }) => a.tenantId === owner.tenant.id)
    t.same(
      actions.map((a: { action: string }) => a.action),
      ['tenant.resumed', 'tenant.suspended'],
      'one row per change, newest first (the repeated suspension changed nothing)',
    )
    t.match(actions[0], { actor: 'platform', requestId: String, createdAt: String })
  })

  t.test('plan changes: up, and never below the member count (nothing changes then)', async (t) => {
    const owner = await registerTenant(app)
    const up = await admin(app, 'PATCH', `/v1/admin/tenants/${owner.tenant.id}`, { plan: 'pro' })
    t.equal(up.statusCode, 200)
    t.equal(up.json().plan, 'pro')
    const { rows } = await root.query(
      `select type, actor_id from app_public.activities where tenant_id = $1 and type like 'PLAN_%'`,
      [owner.tenant.id],
    )
    t.same(rows, [{ type: 'PLAN_UPGRADED', actor_id: null }], 'the tenant sees the platform (no actor) upgrade it')
    for (let i = 0; i < 3; i++) await addMember(app, owner, 'member')
    const down = await admin(app, 'PATCH', `/v1/admin/tenants/${owner.tenant.id}`, { plan: 'free', suspended: true })
    t.equal(down.statusCode, 403)
    t.equal(down.json().type, '/problems/plan-limit-exceeded')
    const listed = (await admin(app, 'GET', `/v1/admin/tenants?slug=${owner.tenant.slug}`)).json().data[0]
    t.match(listed, { plan: 'pro', suspendedAt: null }, 'the whole PATCH rolled back, suspension included')
    const actions = (await audit()).filter((a: { tenantId: string }) => a.tenantId === owner.tenant.id)
    t.same(
      actions.map((a: { action: string; detail: unknown }) => [a.action, a.detail]),
      [['tenant.plan_changed', { from: 'free', to: 'pro' }]],
    )
  })

  t.test('unknown, foreign or malformed ids', async (t) => {
    const missing = '00000000-0000-4000-8000-000000000000'
    t.equal((await admin(app, 'PATCH', `/v1/admin/tenants/${missing}`, { plan: 'pro' })).statusCode, 404)
    t.equal((await admin(app, 'PATCH', `/v1/admin/tenants/${missing}`, {})).statusCode, 404)
    t.equal((await admin(app, 'DELETE', `/v1/admin/tenants/${missing}`)).statusCode, 404)
    t.equal((await admin(app, 'DELETE', '/v1/admin/tenants/not-a-uuid')).statusCode, 400)
    const owner = await registerTenant(app)
    const smuggled = await admin(app, 'PATCH', `/v1/admin/tenants/${owner.tenant.id}`, { name: 'x' })
    t.equal(smuggled.statusCode, 400, 'unknown fields are refused')
  })

  t.test('deletion removes the tenant and all its data in one go; its members keep their accounts', async (t) => {
    const owner = await registerTenant(app)
    await admin(app, 'PATCH', `/v1/admin/tenants/${owner.tenant.id}`, { plan: 'pro' })
    const member = await addMember(app, owner, 'admin')
    const elsewhere = await registerTenant(app)
    const both = await addMember(app, owner, 'member')
    const inOther = await (async () => {
      const invite = await call(app, elsewhere, 'POST', '/v1/invitations', { email: both.user.email })
      return (
        await app.inject({
          method: 'POST',
          url: '/v1/invitations/accept',
          payload: { token: await invitationToken(app, invite.json().id), password: PASSWORD },
        })
      ).json() as Session
    })()
    await call(app, owner, 'POST', '/v1/items', { name: 'doomed', payload: { a: 1 } })
    await call(app, member, 'POST', '/v1/invitations', { email: 'never@example.com' })

    t.equal((await admin(app, 'DELETE', `/v1/admin/tenants/${owner.tenant.id}`)).statusCode, 204)
    const { rows } = await root.query<{ left: number }>(
      `select (select count(*) from app_public.tenants where id = $1)
            + (select count(*) from app_public.memberships where tenant_id = $1)
            + (select count(*) from app_public.items where tenant_id = $1)
            + (select count(*) from app_public.invitations where tenant_id = $1)
            + (select count(*) from app_public.activities where tenant_id = $1)
            + (select count(*) from app_private.sessions where tenant_id = $1) as left`,
      [owner.tenant.id],
    )
    t.equal(Number(rows[0]!.left), 0, 'no row of the tenant is left anywhere')
    t.equal((await call(app, member, 'GET', '/v1/me')).statusCode, 401, "its members' sessions for it ended")
    t.equal((await admin(app, 'DELETE', `/v1/admin/tenants/${owner.tenant.id}`)).statusCode, 404, 'gone')

    const alone = await login(app, member.user.email)
    t.equal(alone.statusCode, 200, 'a member who belongs nowhere else keeps the account and signs in')
    t.equal(alone.json().tenant, null, 'tenantless')
    t.equal((await call(app, inOther, 'GET', '/v1/me')).statusCode, 200, 'sessions in other tenants live on')
    t.equal((await login(app, both.user.email)).json().tenant.id, elsewhere.tenant.id)

    const [deleted] = (await audit()).filter((a: { tenantId: string }) => a.tenantId === owner.tenant.id)
    t.match(deleted, {
      action: 'tenant.deleted',
      detail: { slug: owner.tenant.slug, name: owner.tenant.name, members: 3 },
    })
  })

  t.test('the audit log: newest first, paginated, and what a DBA reads in app_audit.platform_actions', async (t) => {
    for (let i = 0; i < 3; i++) {
      const s = slug('audit')
      await provision({ name: s, slug: s, owner: { email: `${s}@example.com`, name: 'X', password: PASSWORD } })
    }
    const page1 = (await admin(app, 'GET', '/v1/admin/audit?limit=2')).json()
    const page2 = (await admin(app, 'GET', `/v1/admin/audit?limit=2&cursor=${page1.nextCursor}`)).json()
    const ids = [...page1.data, ...page2.data].map((a: { id: number }) => a.id)
    t.same(
      ids,
      [...ids].sort((a, b) => b - a),
      'newest first across pages',
    )
    t.equal(new Set(ids).size, ids.length, 'no row twice')
    const dba = await connect(t, db.ownerUrl)
    const { rows } = await dba.query('select id, action from app_audit.platform_actions order by id desc limit 2')
    t.same(
      rows.map((r) => [Number(r.id), r.action]),
      page1.data.map((a: { id: number; action: string }) => [a.id, a.action]),
    )
    const api = await connect(t, db.appUrl)
    await t.rejects(api.query('select * from app_audit.platform_actions'), { code: '42501' }, 'tenantry_app cannot')
  })

  t.test('accounts created by accepting an invitation are marked as such for the platform admin', async (t) => {
    const owner = await registerTenant(app)
    // Through the real invitation flow: that is what marks the account.
    const invitation = (
      await call(app, owner, 'POST', '/v1/invitations', { email: 'invited-acct@example.com', role: 'member' })
    ).json()
    const accepted = await app.inject({
      method: 'POST',
      url: '/v1/invitations/accept',
      payload: { token: await invitationToken(app, invitation.id), name: 'Invited', password: PASSWORD },
    })
    t.equal(accepted.statusCode, 200)
    const invited: Session = accepted.json()
    const users = (await admin(app, 'GET', `/v1/admin/users?email=${invited.user.email}`)).json().data
    t.match(users, [{ id: invited.user.id, createdVia: 'invitation', tenantCount: 1 }])
    const registered = (await admin(app, 'GET', `/v1/admin/users?email=${owner.user.email.toUpperCase()}`)).json().data
    t.match(registered, [{ id: owner.user.id, createdVia: 'registration' }])
  })
})
