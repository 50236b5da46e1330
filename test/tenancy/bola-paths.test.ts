/*
 * Two tenants, ids in paths: every route that takes an id answers B's ids from A exactly like ids that do not exist.
 * Setup and closing checks: test/helpers/two-tenants.ts.
 */

import { randomUUID } from 'node:crypto'
import t from 'tap'
import { bIsUntouched, type Json, type Method, problem, ROLES_DOWN, twoTenants } from '../helpers/two-tenants.ts'

t.test('Two tenants, ids in paths', async (t) => {
  const ctx = await twoTenants(t)
  const {
    app,
    send,
    A,
    B,
    aItems,
    bItems,
    aInvitation,
    bInvitations,
    bApiKeys,
    bWebhooks,
    bDeliveries,
    both,
    bothInB,
    bOnlyUsers,
    bActivityIds,
  } = ctx

  type Probe = {
    promise: string
    method: Method
    route: string
    url: (id: string) => string
    body?: unknown
    ids: string[]
    /** An id of the same kind that exists nowhere (default: a random uuid). */
    unknownId?: () => string
  }
  const probes: Probe[] = [
    {
      promise: "tenant A cannot read tenant B's items",
      method: 'GET',
      route: '/v1/items/:id',
      url: (id) => `/v1/items/${id}`,
      ids: bItems,
    },
    {
      promise: "tenant A cannot change tenant B's items",
      method: 'PATCH',
      route: '/v1/items/:id',
      url: (id) => `/v1/items/${id}`,
      body: { name: 'changed by A', payload: { pwned: true } },
      ids: bItems,
    },
    {
      promise: "tenant A cannot delete tenant B's items",
      method: 'DELETE',
      route: '/v1/items/:id',
      url: (id) => `/v1/items/${id}`,
      ids: bItems,
    },
    {
      promise: "tenant A cannot change the role of tenant B's members",
      method: 'PATCH',
      route: '/v1/members/:userId',
      url: (id) => `/v1/members/${id}`,
      body: { role: 'viewer' },
      ids: bOnlyUsers.map((u) => u.id),
    },
    {
      promise: "tenant A cannot make tenant B's members owners",
      method: 'PATCH',
      route: '/v1/members/:userId',
      url: (id) => `/v1/members/${id}`,
      body: { role: 'owner' },
      ids: [B.member.user.id, B.viewer.user.id],
    },
    {
      promise: "tenant A cannot remove tenant B's members",
      method: 'DELETE',
      route: '/v1/members/:userId',
      url: (id) => `/v1/members/${id}`,
      ids: bOnlyUsers.map((u) => u.id),
    },
    {
      promise: "tenant A cannot read tenant B's invitations",
      method: 'GET',
      route: '/v1/invitations/:id',
      url: (id) => `/v1/invitations/${id}`,
      ids: bInvitations.map((i) => i.id),
    },
    {
      promise: "tenant A cannot read tenant B's activities",
      method: 'GET',
      route: '/v1/activities/:id',
      url: (id) => `/v1/activities/${id}`,
      ids: bActivityIds.map(String),
      unknownId: () => String(2 ** 40 + Math.floor(Math.random() * 2 ** 20)),
    },
    {
      promise: "tenant A cannot resend tenant B's invitations (nor learn they exist)",
      method: 'POST',
      route: '/v1/invitations/:id/resend',
      url: (id) => `/v1/invitations/${id}/resend`,
      ids: bInvitations.map((i) => i.id),
    },
    {
      promise: "tenant A cannot revoke tenant B's invitations",
      method: 'DELETE',
      route: '/v1/invitations/:id',
      url: (id) => `/v1/invitations/${id}`,
      ids: bInvitations.map((i) => i.id),
    },
    {
      promise: "tenant A cannot read tenant B's API keys",
      method: 'GET',
      route: '/v1/api-keys/:id',
      url: (id) => `/v1/api-keys/${id}`,
      ids: bApiKeys.map((k) => k.id),
    },
    {
      promise: "tenant A cannot change tenant B's API keys",
      method: 'PATCH',
      route: '/v1/api-keys/:id',
      url: (id) => `/v1/api-keys/${id}`,
      body: { role: 'viewer' },
      ids: bApiKeys.map((k) => k.id),
    },
    {
      promise: "tenant A cannot read tenant B's webhook endpoints",
      method: 'GET',
      route: '/v1/webhooks/:id',
      url: (id) => `/v1/webhooks/${id}`,
      ids: bWebhooks.map((w) => w.id),
    },
    {
      promise: "tenant A cannot redirect tenant B's webhooks",
      method: 'PATCH',
      route: '/v1/webhooks/:id',
      url: (id) => `/v1/webhooks/${id}`,
      body: { url: 'https://attacker.example.com/' },
      ids: bWebhooks.map((w) => w.id),
    },
    {
      promise: "tenant A cannot delete tenant B's webhooks",
      method: 'DELETE',
      route: '/v1/webhooks/:id',
      url: (id) => `/v1/webhooks/${id}`,
      ids: bWebhooks.map((w) => w.id),
    },
    {
      promise: "tenant A cannot rotate (and so learn) tenant B's webhook secrets",
      method: 'POST',
      route: '/v1/webhooks/:id/secret',
      url: (id) => `/v1/webhooks/${id}/secret`,
      ids: bWebhooks.map((w) => w.id),
    },
    {
      promise: "tenant A cannot read tenant B's delivery log",
      method: 'GET',
      route: '/v1/webhooks/:id/deliveries',
      url: (id) => `/v1/webhooks/${id}/deliveries`,
      ids: bWebhooks.map((w) => w.id),
    },
    {
      promise: "tenant A cannot replay tenant B's deliveries",
      method: 'POST',
      route: '/v1/webhooks/:id/deliveries/:deliveryId/retry',
      url: (id) => `/v1/webhooks/${bWebhooks[0]!.id}/deliveries/${id}/retry`,
      ids: bDeliveries.map((d) => d.id),
    },
    {
      promise: "tenant A cannot revoke tenant B's API keys",
      method: 'DELETE',
      route: '/v1/api-keys/:id',
      url: (id) => `/v1/api-keys/${id}`,
      ids: bApiKeys.map((k) => k.id),
    },
  ]

  t.test('every route that takes an id in its path is probed below', async (t) => {
    const idRoutes = app.routeCatalog
      .filter((r) => r.url.startsWith('/v1/') && r.url.includes('/:'))
      .map((r) => `${r.method} ${r.url}`)
    t.ok(idRoutes.length >= 6, `${idRoutes.length} routes take an id`)
    t.same(
      idRoutes.filter((route) => !probes.some((p) => `${p.method} ${p.route}` === route)),
      [],
      'routes with an id and no probe: add one',
    )
  })

  for (const probe of probes) {
    t.test(
      `${probe.promise}: B's ids answer exactly like ids that do not exist (404 for A's owner and admin)`,
      async (t) => {
        // All at once: none of these may change anything, so their order cannot matter.
        const attempts = await Promise.all(
          ROLES_DOWN.flatMap((role) =>
            probe.ids.map(async (id) => ({
              role,
              theirs: await send(A[role], probe.method, probe.url(id), probe.body),
              nobodys: await send(A[role], probe.method, probe.url((probe.unknownId ?? randomUUID)()), probe.body),
            })),
          ),
        )
        for (const { role, theirs, nobodys } of attempts) {
          const what = `${probe.method} ${probe.url('<B id>')} as A's ${role}`
          t.equal(theirs.statusCode, nobodys.statusCode, `${what}: ${theirs.statusCode}, like a random id`)
          t.same(problem(theirs.json()), problem(nobodys.json()), `${what}: the same problem as for a random id`)
          if (role === 'owner' || role === 'admin')
            t.match(theirs.json(), { status: 404, type: '/problems/not-found' }, `${what}: 404`)
        }
      },
    )
  }

  t.test('a user in both tenants: changing or removing them in A leaves their membership in B alone', async (t) => {
    const promoted = await send(A.owner, 'PATCH', `/v1/members/${both.user.id}`, { role: 'admin' })
    t.equal(promoted.statusCode, 200)
    t.equal(promoted.json().role, 'admin', 'they are an admin of A now')
    const inB = () =>
      send(B.owner, 'GET', '/v1/members?limit=100').then((res) =>
        res.json().data.find((m: Json) => m.userId === both.user.id),
      )
    t.equal((await inB())?.role, 'member', 'and still a plain member of B')
    const removed = await send(A.owner, 'DELETE', `/v1/members/${both.user.id}`)
    t.equal(removed.statusCode, 204)
    t.equal((await inB())?.role, 'member', 'removed from A, still a member of B')
    const me = await send(bothInB, 'GET', '/v1/me')
    t.equal(me.statusCode, 200, 'their session in B still works')
    t.same(
      me.json().memberships.map((m: Json) => m.tenant.id),
      [B.owner.tenant.id],
      'B is their only tenant now',
    )
  })

  t.test(
    "the same routes work on A's own ids (the 404s above come from tenancy, not from a broken route)",
    async (t) => {
      t.equal((await send(A.owner, 'GET', `/v1/items/${aItems[0]}`)).statusCode, 200, 'read')
      t.equal((await send(A.owner, 'PATCH', `/v1/items/${aItems[0]}`, { name: 'a renamed' })).statusCode, 200, 'change')
      t.equal(
        (await send(A.owner, 'PATCH', `/v1/members/${A.viewer.user.id}`, { role: 'member' })).statusCode,
        200,
        'change a role',
      )
      t.equal(
        (await send(A.owner, 'PATCH', `/v1/members/${A.viewer.user.id}`, { role: 'viewer' })).statusCode,
        200,
        'and back',
      )
      t.equal((await send(A.owner, 'DELETE', `/v1/invitations/${aInvitation.id}`)).statusCode, 204, 'revoke')
      t.equal((await send(A.owner, 'DELETE', `/v1/items/${aItems[1]}`)).statusCode, 204, 'delete')
    },
  )

  t.test("HEAD, which Fastify adds to every GET route, answers like GET: B's item does not exist for A", async (t) => {
    t.equal((await send(A.owner, 'HEAD', `/v1/items/${bItems[0]}`)).statusCode, 404, "B's item: 404")
    t.equal((await send(A.owner, 'HEAD', `/v1/items/${randomUUID()}`)).statusCode, 404, 'a random id: 404')
    t.equal((await send(A.owner, 'HEAD', `/v1/items/${aItems[0]}`)).statusCode, 200, "A's own item: 200")
    t.equal((await send(null, 'HEAD', `/v1/items/${bItems[0]}`)).statusCode, 401, 'without a token: 401')
  })

  bIsUntouched(t, ctx, ['POST /v1/auth/register accessToken'])
})
