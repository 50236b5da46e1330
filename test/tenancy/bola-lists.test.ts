/*
 * Two tenants, lists and bodies: no list shows B to A, no query or body field switches tenant.
 * Setup and closing checks: test/helpers/two-tenants.ts.
 */

import { randomUUID } from 'node:crypto'
import t from 'tap'
import { PASSWORD, type Session } from '../helpers/app.ts'
import { snapshot } from '../helpers/snapshot.ts'
import { bIsUntouched, type Json, leaves, type Method, ROLES_DOWN, twoTenants } from '../helpers/two-tenants.ts'

t.test('Two tenants, lists and bodies', async (t) => {
  const ctx = await twoTenants(t)
  const { app, f, send, A, B, aItems, bItems, bInvitations, bOnlyUsers, bActivityIds, invite, aApiKey, aWebhook } = ctx

  t.test("list endpoints as A never contain any of B's ids", async (t) => {
    const bValues = new Set<string | number>([
      B.owner.tenant.id,
      B.owner.tenant.slug,
      ...bItems,
      ...bInvitations.map((i) => i.id),
      'b-invitee@example.com',
      'b-second@example.com',
      ...bOnlyUsers.flatMap((u) => [u.id, u.email]),
      'b secret plans',
      'b roadmap',
      'hello B, confidential',
    ])
    for (const role of ROLES_DOWN) {
      for (const url of [
        '/v1/items?limit=100',
        '/v1/members?limit=100',
        '/v1/invitations?limit=100',
        '/v1/activities?limit=100',
        '/v1/activities?after=0&limit=100',
        '/v1/activities?type=BROADCAST_MESSAGE',
        '/v1/me',
        '/v1/tenant',
      ]) {
        const res = await send(A[role], 'GET', url)
        const expected = url.startsWith('/v1/invitations') && (role === 'member' || role === 'viewer') ? 403 : 200
        t.equal(res.statusCode, expected, `GET ${url} as A's ${role}: ${res.statusCode}`)
        const body = res.json()
        t.same(
          leaves(body).filter((value) => bValues.has(value)),
          [],
          `GET ${url} as A's ${role} mentions nothing of B`,
        )
        if (url.startsWith('/v1/activities') && expected === 200) {
          t.ok(body.data.length > 0, `A's ${role} sees A's activities`)
          t.same(
            body.data
              .filter((a: Json) => a.tenantId !== A.owner.tenant.id || bActivityIds.includes(a.id))
              .map((a: Json) => a.id),
            [],
            `no activity of B in A's log (as ${role})`,
          )
          t.ok(
            body.data.every((a: Json) => a.tenantId === A.owner.tenant.id),
            `every activity A's ${role} sees is A's`,
          )
        }
      }
    }
  })

  t.test('list endpoints refuse a tenant_id in the query string (400), they never switch tenant', async (t) => {
    for (const url of ['/v1/items', '/v1/members', '/v1/invitations', '/v1/activities']) {
      for (const key of ['tenant_id', 'tenantId']) {
        const res = await send(A.owner, 'GET', `${url}?${key}=${B.owner.tenant.id}`)
        t.equal(res.statusCode, 400, `GET ${url}?${key}=<B>`)
        t.equal(res.json().type, '/problems/validation-failed')
      }
    }
    // Routes without a query schema ignore the query string: a tenant_id there changes nothing.
    const created = await send(A.member, 'POST', `/v1/items?tenant_id=${B.owner.tenant.id}`, {
      name: 'query smuggling',
    })
    t.equal(created.statusCode, 201)
    t.equal((await send(A.member, 'GET', `/v1/items/${created.json().id}`)).statusCode, 200, 'the item is in A')
    t.equal((await send(B.owner, 'GET', `/v1/items/${created.json().id}`)).statusCode, 404, 'not in B')
  })

  t.test(
    'mass assignment: every route that takes a body refuses tenant_id, role, plan, created_by, id and unknown fields (400), with no side effect',
    async (t) => {
      const refresher = await f.signIn(A.member.user, A.owner.tenant)
      const pending = await invite(A.owner, 'mass-invitee@example.com')
      type BodyRoute = { route: string; caller: Session | null; url?: string; body: Record<string, unknown> }
      const bodyRoutes: BodyRoute[] = [
        {
          route: 'POST /v1/auth/register',
          caller: null,
          body: {
            email: 'mass-new@example.com',
            password: PASSWORD,
            name: 'Mass',
            tenant: { name: 'Mass', slug: 'mass-new' },
          },
        },
        {
          route: 'POST /v1/auth/login',
          caller: null,
          body: { email: A.member.user.email, password: PASSWORD, tenant: A.owner.tenant.slug },
        },
        { route: 'POST /v1/auth/refresh', caller: null, body: { refreshToken: refresher.refreshToken } },
        { route: 'POST /v1/auth/switch', caller: A.member, body: { tenant: A.owner.tenant.slug } },
        { route: 'PATCH /v1/tenant', caller: A.owner, body: { name: 'Renamed by mass assignment' } },
        { route: 'PUT /v1/tenant/plan', caller: A.owner, body: { plan: 'enterprise' } },
        { route: 'POST /v1/tenant/broadcasts', caller: A.owner, body: { message: 'mass' } },
        { route: 'POST /v1/tenants', caller: A.member, body: { name: 'Mass tenant', slug: 'mass-tenant' } },
        {
          route: 'PATCH /v1/members/:userId',
          caller: A.owner,
          url: `/v1/members/${A.member.user.id}`,
          body: { role: 'admin' },
        },
        { route: 'POST /v1/invitations', caller: A.owner, body: { email: 'mass-second@example.com', role: 'member' } },
        {
          route: 'POST /v1/invitations/accept',
          caller: null,
          body: { token: pending.token, name: 'Mass Invitee', password: PASSWORD },
        },
        { route: 'POST /v1/items', caller: A.member, body: { name: 'mass item', payload: { a: 1 } } },
        { route: 'POST /v1/api-keys', caller: A.owner, body: { name: 'mass key', role: 'viewer' } },
        {
          route: 'POST /v1/webhooks',
          caller: A.owner,
          body: { url: 'https://hooks.example.com/mass', events: ['ITEM_CREATED'] },
        },
        {
          route: 'PATCH /v1/webhooks/:id',
          caller: A.owner,
          url: `/v1/webhooks/${aWebhook.id}`,
          body: { events: ['ITEM_DELETED'] },
        },
        {
          route: 'PATCH /v1/api-keys/:id',
          caller: A.owner,
          url: `/v1/api-keys/${aApiKey.id}`,
          body: { name: 'mass key renamed', role: 'member' },
        },
        { route: 'POST /v1/auth/password/forgot', caller: null, body: { email: A.member.user.email } },
        { route: 'POST /v1/auth/password/reset', caller: null, body: { token: 'x'.repeat(43), password: PASSWORD } },
        { route: 'POST /v1/auth/email/confirm', caller: null, body: { token: 'x'.repeat(43) } },
        {
          route: 'PUT /v1/me/password',
          caller: A.member,
          body: { currentPassword: PASSWORD, password: 'another good passphrase' },
        },
        { route: 'PUT /v1/me/email', caller: A.member, body: { email: 'mass-moved@example.com', password: PASSWORD } },
        {
          route: 'PATCH /v1/items/:id',
          caller: A.member,
          url: `/v1/items/${aItems[0]}`,
          body: { name: 'mass renamed' },
        },
      ]
      const takesNoBody: Record<string, string> = {
        'POST /v1/auth/logout': "no body schema: it ends the caller's own session (see the logout test below)",
        'POST /v1/me/email/verification': "no body: it mails the caller's own address",
        'POST /v1/invitations/:id/resend': 'no body: the invitation is in the path (tenancy/bola-paths.test.ts)',
        'POST /v1/webhooks/:id/secret': 'no body: the endpoint is in the path (tenancy/bola-paths.test.ts)',
        'POST /v1/webhooks/:id/deliveries/:deliveryId/retry': 'no body: both ids are in the path (bola-paths)',
      }

      const withBody = app.routeCatalog
        .filter((r) => ['POST', 'PATCH', 'PUT'].includes(r.method) && r.url.startsWith('/v1/'))
        .map((r) => `${r.method} ${r.url}`)
      t.same(
        withBody.filter((route) => !bodyRoutes.some((b) => b.route === route) && !(route in takesNoBody)),
        [],
        'every POST/PATCH/PUT route is in this table',
      )

      const smuggled: [string, unknown][] = [
        ['tenant_id', B.owner.tenant.id],
        ['tenantId', B.owner.tenant.id],
        ['role', 'owner'],
        ['plan', 'enterprise'],
        ['created_by', B.owner.user.id],
        ['createdBy', B.owner.user.id],
        ['id', randomUUID()],
        ['isPlatformAdmin', true],
      ]
      const before = await snapshot(f.root)
      for (const { route, caller, url, body } of bodyRoutes) {
        const method = route.split(' ')[0] as Method
        const path = url ?? route.split(' ')[1]!
        const attempts: [string, Record<string, unknown>][] = smuggled
          .filter(([key]) => !(key in body))
          .map(([key, value]) => [key, { ...body, [key]: value }])
        if (route === 'POST /v1/auth/register') {
          for (const [key, value] of smuggled.filter(([key]) => key !== 'role')) {
            attempts.push([key, { ...body, tenant: { ...(body.tenant as object), [key]: value } }])
          }
        }
        for (const [key, attempt] of attempts) {
          const res = await send(caller, method, path, attempt)
          t.equal(res.statusCode, 400, `${route} with ${key}: 400`)
          t.equal(res.json().type, '/problems/validation-failed', `${route} with ${key}: /validation-failed`)
          const named = (res.json().errors ?? []).some((e: Json) => String(e.message).includes(`"${key}"`))
          t.ok(named, `${route} with ${key}: the problem names the field`)
        }
      }
      t.same(
        await snapshot(f.root),
        before,
        'no row anywhere changed: no user, tenant, session, item, invitation, activity or role',
      )
      // And the refused requests consumed nothing: the same refresh token and invitation still work.
      const refreshed = await send(null, 'POST', '/v1/auth/refresh', { refreshToken: refresher.refreshToken })
      t.equal(refreshed.statusCode, 200, 'the refresh token was not rotated by the refused requests')
      const accepted = await send(null, 'POST', '/v1/invitations/accept', {
        token: pending.token,
        name: 'Mass Invitee',
        password: PASSWORD,
      })
      t.equal(accepted.statusCode, 200, 'the invitation is still pending')
      t.match(
        accepted.json(),
        { role: 'member', tenant: { id: A.owner.tenant.id } },
        'and joins A with the invited role, not a smuggled one',
      )
    },
  )

  bIsUntouched(t, ctx, [
    'POST /v1/auth/register accessToken',
    'POST /v1/auth/refresh refreshToken',
    'POST /v1/invitations/accept accessToken',
  ])
})
