/*
 * Broken object-level authorization, two tenants. Tenant A and tenant B each have an owner, an
 * admin, a member and a viewer, plus items, pending invitations and activities. Everything
 * here is tried from tenant A against tenant B's ids, and tenant B is then re-read to prove
 * nothing moved. Every response the app sends in this file is also scanned for secrets.
 */
import { randomUUID } from 'node:crypto'
import t from 'tap'
import type { Role } from '../src/db/context.ts'
import { buildTestApp, call, PASSWORD, registerTenant, type Session } from './helpers/app.ts'
import { createFixtures } from './helpers/fixtures.ts'
import { decodeJwt } from './helpers/jwt.ts'
import { snapshot } from './helpers/snapshot.ts'

type Method = 'GET' | 'HEAD' | 'POST' | 'PATCH' | 'PUT' | 'DELETE'
// biome-ignore lint/suspicious/noExplicitAny: response bodies, checked by shape
type Json = any
type Crew = Record<Role, Session>

const ROLES_DOWN: Role[] = ['owner', 'admin', 'member', 'viewer']
const SECRET_NAMES = ['password_hash', 'token_hash', 'passwordHash', 'tokenHash']
/** Where the contract puts tokens: the invitation token once, token pairs from auth and accept. */
const TOKEN_KEYS: Record<string, string[]> = {
  token: ['POST /v1/invitations'],
  accessToken: [
    'POST /v1/auth/register',
    'POST /v1/auth/login',
    'POST /v1/auth/refresh',
    'POST /v1/auth/switch',
    'POST /v1/invitations/accept',
  ],
  refreshToken: [
    'POST /v1/auth/register',
    'POST /v1/auth/login',
    'POST /v1/auth/refresh',
    'POST /v1/auth/switch',
    'POST /v1/invitations/accept',
  ],
}

/** A problem without `instance`, which echoes the path (and so the id) back. */
const problem = (body: Json) => {
  const { instance: _instance, ...rest } = body ?? {}
  return rest
}

/** Every string and number anywhere in a JSON value. */
function leaves(value: unknown, into: (string | number)[] = []): (string | number)[] {
  if (typeof value === 'string' || typeof value === 'number') into.push(value)
  else if (Array.isArray(value)) for (const entry of value) leaves(entry, into)
  else if (value && typeof value === 'object') for (const entry of Object.values(value)) leaves(entry, into)
  return into
}

/** Every key anywhere in a JSON value, with its path. */
function keyPaths(value: unknown, path = '$', into: { key: string; path: string }[] = []) {
  if (Array.isArray(value)) {
    for (const [i, entry] of value.entries()) keyPaths(entry, `${path}[${i}]`, into)
  } else if (value && typeof value === 'object') {
    for (const [key, entry] of Object.entries(value)) {
      into.push({ key, path: `${path}.${key}` })
      keyPaths(entry, `${path}.${key}`, into)
    }
  }
  return into
}

t.test('two tenants: nothing of tenant B can be reached from tenant A', async (t) => {
  const { app, db } = await buildTestApp(t)

  // Every response this app sends, for the secrets scan at the end.
  const responses: { route: string; status: number; contentType: string; body: string }[] = []
  app.addHook('onSend', async (request, reply, payload) => {
    responses.push({
      route: `${request.method} ${request.routeOptions.url ?? request.url}`,
      status: reply.statusCode,
      contentType: String(reply.getHeader('content-type') ?? ''),
      body: typeof payload === 'string' ? payload : Buffer.isBuffer(payload) ? payload.toString('utf8') : '',
    })
    return payload
  })
  const send = (session: Pick<Session, 'accessToken'> | null, method: Method, url: string, payload?: unknown) =>
    call(app, session, method, url, payload)

  const f = await createFixtures(t, app, db)
  const crew = async (slug: string): Promise<Crew> => {
    const owner = await registerTenant(app, slug)
    const plan = await send(owner, 'PUT', '/v1/tenant/plan', { plan: 'pro' })
    if (plan.statusCode !== 200) throw new Error(`plan: ${plan.statusCode} ${plan.body}`)
    const [admin, member, viewer] = await Promise.all([
      f.member(owner.tenant, 'admin', `${slug}-admin`),
      f.member(owner.tenant, 'member', `${slug}-member`),
      f.member(owner.tenant, 'viewer', `${slug}-viewer`),
    ])
    return { owner, admin: admin!, member: member!, viewer: viewer! }
  }
  const [A, B] = await Promise.all([crew('bola-a'), crew('bola-b')])

  // Rows in every resource, created through the API by the roles that may.
  const createItem = async (as: Session, name: string, payload: Record<string, unknown>): Promise<string> => {
    const res = await send(as, 'POST', '/v1/items', { name, payload })
    if (res.statusCode !== 201) throw new Error(`item: ${res.statusCode} ${res.body}`)
    return res.json().id
  }
  const invite = async (as: Session, email: string, role: Role = 'member'): Promise<{ id: string; token: string }> => {
    const res = await send(as, 'POST', '/v1/invitations', { email, role })
    if (res.statusCode !== 201) throw new Error(`invitation: ${res.statusCode} ${res.body}`)
    return res.json()
  }
  const aItems = [
    await createItem(A.member, 'a first', { owner: 'a' }),
    await createItem(A.member, 'a second', { owner: 'a' }),
  ]
  const bItems = [
    await createItem(B.member, 'b secret plans', { secret: 'b1' }),
    await createItem(B.member, 'b roadmap', { secret: 'b2' }),
  ]
  const aInvitation = await invite(A.admin, 'a-invitee@example.com')
  const bInvitations = [
    await invite(B.admin, 'b-invitee@example.com'),
    await invite(B.admin, 'b-second@example.com', 'viewer'),
  ]
  await send(A.admin, 'POST', '/v1/tenant/broadcasts', { message: 'hello A' })
  await send(B.admin, 'POST', '/v1/tenant/broadcasts', { message: 'hello B, confidential' })

  // Someone in both tenants: a member of A who is also a member of B.
  const both = await f.member(A.owner.tenant, 'member', 'bola-both')
  await f.join(both.user, B.owner.tenant, 'member')
  const bothInB = await f.signIn(both.user, B.owner.tenant)

  const bOnlyUsers = ROLES_DOWN.map((role) => B[role].user)
  const bActivityIds = (await send(B.owner, 'GET', '/v1/activities?limit=100'))
    .json()
    .data.map((a: Json) => a.id as number)
  /** Tenant B as its owner sees it through the API. */
  // B's own reads count against B's request rate: that part of its usage moves by design.
  const tenantOf = async () => {
    const { usage, ...tenant } = (await send(B.owner, 'GET', '/v1/tenant')).json()
    const { requestsPerMinute: _ownReads, ...quotas } = usage
    return { ...tenant, usage: quotas }
  }
  const viewOfB = async () => ({
    tenant: await tenantOf(),
    items: await Promise.all(bItems.map(async (id) => (await send(B.owner, 'GET', `/v1/items/${id}`)).json())),
    members: (await send(B.owner, 'GET', '/v1/members?limit=100')).json().data,
    invitations: (await send(B.owner, 'GET', '/v1/invitations?limit=100')).json().data,
    activities: (await send(B.owner, 'GET', '/v1/activities?limit=100')).json().data,
  })
  const bBefore = await viewOfB()
  const bRowsBefore = await snapshot(f.root, B.owner.tenant.id)
  t.equal(bBefore.items.length, 2, "tenant B's owner reads B's items")
  t.equal(bBefore.invitations.length, 2, "tenant B's owner sees B's two pending invitations")
  t.equal(bBefore.members.length, 5, "tenant B's owner sees B's five members")

  type Probe = {
    promise: string
    method: Method
    route: string
    url: (id: string) => string
    body?: unknown
    ids: string[]
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
      promise: "tenant A cannot revoke tenant B's invitations",
      method: 'DELETE',
      route: '/v1/invitations/:id',
      url: (id) => `/v1/invitations/${id}`,
      ids: bInvitations.map((i) => i.id),
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
              nobodys: await send(A[role], probe.method, probe.url(randomUUID()), probe.body),
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
            body.data.filter((a: Json) => bActivityIds.includes(a.id)).map((a: Json) => a.id),
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

  t.test("HEAD, which Fastify adds to every GET route, answers like GET: B's item does not exist for A", async (t) => {
    t.equal((await send(A.owner, 'HEAD', `/v1/items/${bItems[0]}`)).statusCode, 404, "B's item: 404")
    t.equal((await send(A.owner, 'HEAD', `/v1/items/${randomUUID()}`)).statusCode, 404, 'a random id: 404')
    t.equal((await send(A.owner, 'HEAD', `/v1/items/${aItems[0]}`)).statusCode, 200, "A's own item: 200")
    t.equal((await send(null, 'HEAD', `/v1/items/${bItems[0]}`)).statusCode, 401, 'without a token: 401')
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
        {
          route: 'PATCH /v1/items/:id',
          caller: A.member,
          url: `/v1/items/${aItems[0]}`,
          body: { name: 'mass renamed' },
        },
      ]
      const takesNoBody: Record<string, string> = {
        'POST /v1/auth/logout': "no body schema: it ends the caller's own session (see the logout test below)",
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

  t.test('switching to tenant B as a non-member: 401 like a tenant that does not exist, and no session', async (t) => {
    const sessions = async () =>
      (await f.root.query('select count(*)::int as n from app_private.sessions')).rows[0].n as number
    const before = await sessions()
    for (const role of ROLES_DOWN) {
      const toB = await send(A[role], 'POST', '/v1/auth/switch', { tenant: B.owner.tenant.slug })
      const toNowhere = await send(A[role], 'POST', '/v1/auth/switch', { tenant: 'no-such-tenant' })
      t.equal(toB.statusCode, 401, `A's ${role} switching to B: 401`)
      t.equal(toB.json().type, '/problems/unauthorized')
      t.same(
        problem(toB.json()),
        problem(toNowhere.json()),
        `A's ${role}: the same answer as for a slug that does not exist`,
      )
      t.notOk('accessToken' in toB.json(), 'no token pair')
    }
    t.equal(await sessions(), before, 'no session was opened')
  })

  t.test("even a correctly signed token naming B's tenant is refused: A's session is bound to A", async (t) => {
    // Forging needs the secret; this is what a bug that signed the wrong tenant would produce.
    const claims = decodeJwt(A.owner.accessToken)
    const token = app.jwt.sign({
      sub: A.owner.user.id,
      tenant_id: B.owner.tenant.id,
      role: 'owner',
      sid: claims.sid as string,
    })
    for (const url of ['/v1/me', '/v1/items', `/v1/items/${bItems[0]}`]) {
      const res = await send({ accessToken: token }, 'GET', url)
      t.equal(res.statusCode, 401, `GET ${url}: 401`)
      t.equal(res.json().type, '/problems/unauthorized')
    }
    // B's owner's own session, presented with A's tenant: the same.
    const bClaims = decodeJwt(B.owner.accessToken)
    const crossed = app.jwt.sign({
      sub: B.owner.user.id,
      tenant_id: A.owner.tenant.id,
      role: 'owner',
      sid: bClaims.sid as string,
    })
    t.equal(
      (await send({ accessToken: crossed }, 'GET', '/v1/items')).statusCode,
      401,
      "B's owner's session cannot read A",
    )
  })

  t.test("logout takes no body: one naming tenant B's ids is refused and ends nothing", async (t) => {
    const leaving = await f.signIn(A.viewer.user, A.owner.tenant)
    const bClaims = decodeJwt(B.owner.accessToken)
    const res = await send(leaving, 'POST', '/v1/auth/logout', {
      tenant_id: B.owner.tenant.id,
      sid: bClaims.sid,
      userId: B.owner.user.id,
    })
    t.equal(res.statusCode, 400)
    t.equal(res.json().type, '/problems/validation-failed')
    t.equal((await send(leaving, 'GET', '/v1/me')).statusCode, 200, "the caller's session is untouched")
    t.equal((await send(B.owner, 'GET', '/v1/me')).statusCode, 200, "B's owner is still signed in")
    t.equal((await send(leaving, 'POST', '/v1/auth/logout')).statusCode, 204, 'without a body, logout works')
    t.equal((await send(leaving, 'GET', '/v1/me')).statusCode, 401, "and ends only the caller's session")
    t.equal((await send(A.viewer, 'GET', '/v1/me')).statusCode, 200, "the caller's other session is untouched")
  })

  t.test("after every attempt in this file, tenant B's data is unchanged", async (t) => {
    const bAfter = await viewOfB()
    t.same(bAfter.items, bBefore.items, "B's items keep their name, payload and updatedAt")
    t.same(bAfter.members, bBefore.members, "B's members keep their roles, and none is missing")
    t.same(bAfter.invitations, bBefore.invitations, "B's invitations are still pending")
    t.same(bAfter.activities, bBefore.activities, 'no new activity in B')
    t.same(bAfter.tenant, bBefore.tenant, "B's tenant is unchanged")
    t.same(
      await snapshot(f.root, B.owner.tenant.id),
      bRowsBefore,
      'every row of tenant B, read as the superuser, is unchanged',
    )
  })

  t.test(
    'no response in this file carries a password or token hash; tokens appear only where the contract puts them',
    async (t) => {
      t.ok(responses.length > 200, `${responses.length} responses scanned`)
      const leaks: string[] = []
      const seen = new Set<string>()
      for (const { route, status, contentType, body } of responses) {
        for (const name of SECRET_NAMES) if (body.includes(name)) leaks.push(`${route} ${status}: mentions ${name}`)
        if (/\$2[aby]\$\d\d\$/.test(body)) leaks.push(`${route} ${status}: carries a bcrypt hash`)
        if (!contentType.includes('json') || body === '') continue
        for (const { key, path } of keyPaths(JSON.parse(body))) {
          const allowed = TOKEN_KEYS[key]
          if (!allowed) continue
          if (allowed.includes(route) && path === `$.${key}`) seen.add(`${route} ${key}`)
          else leaks.push(`${route} ${status}: ${path}`)
        }
      }
      t.same(leaks, [], 'no secret and no misplaced token in any response')
      for (const expected of [
        'POST /v1/invitations token',
        'POST /v1/auth/register accessToken',
        'POST /v1/auth/refresh refreshToken',
        'POST /v1/invitations/accept accessToken',
      ]) {
        t.ok(seen.has(expected), `the scan saw ${expected} (where it belongs)`)
      }
    },
  )
})
