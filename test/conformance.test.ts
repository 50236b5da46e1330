/*
 * Route × role conformance. Every route of app.routeCatalog has a request in the tables below;
 * each one is sent, as a member of every role, to two apps on the same database:
 *
 *   the API   the normal app: it refuses early (403) when the member's role, read from the
 *             database, is below the route's declared access;
 *   the DB    the same app with that early check off (enforceRolesInApi: false), so only
 *             PostgreSQL (RLS policies, grants, triggers) decides.
 *
 * The API must answer exactly as the declared rule says (allowed iff role >= access; denied =
 * 403), and the database alone must agree: what the API allows the database allows; what the API
 * refuses the database refuses too, with 403 or 404, or by hiding the rows of a list (RLS filters
 * rather than raises). A route whose policy is weaker than its declared rule shows up here as
 * "API 403 | DB 200".
 */
import { randomBytes } from 'node:crypto'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import t from 'tap'
import { ROLES, type Role, roleAtLeast } from '../src/db/context.ts'
import { buildTestApp, call, PASSWORD, registerTenant, type Session } from './helpers/app.ts'
import { createTestDatabase } from './helpers/db.ts'
import { createFixtures, uniqueName } from './helpers/fixtures.ts'

type Method = 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE'
// biome-ignore lint/suspicious/noExplicitAny: response bodies, checked by shape below
type Json = any

type Request = {
  caller: Session | null
  url: string
  payload?: unknown
  /** Lists: is the row the fixture guarantees in the answer? RLS hides rows instead of refusing. */
  shows?: (body: Json) => boolean
}

type Case = {
  /** `METHOD url` exactly as in app.routeCatalog. */
  route: `${Method} /${string}`
  does: string
  /** The status of a successful request. */
  status: number
  /** Set when this fixture's row-level rule is stricter than the route's declared access. */
  rule?: { access: Role; because: string }
  /** Fresh fixtures for one request as a member of `role` (called once per app). */
  prepare: (role: Role) => Promise<Request>
}

type PublicCase = { route: `${Method} /${string}`; does: string; status: number; prepare: () => Promise<Request> }

type Outcome = { status: number; type?: string; hidden: boolean }

const methodOf = (route: string) => route.slice(0, route.indexOf(' ')) as Method

async function send(app: FastifyInstance, route: string, request: Request): Promise<Outcome> {
  const res: LightMyRequestResponse = await call(app, request.caller, methodOf(route), request.url, request.payload)
  const body: Json = res.headers['content-type']?.toString().includes('json') && res.body ? res.json() : null
  return {
    status: res.statusCode,
    type: typeof body?.type === 'string' ? body.type : undefined,
    hidden: res.statusCode === 200 && request.shows !== undefined && !request.shows(body),
  }
}

const label = (outcome: Outcome) => `${outcome.status}${outcome.hidden ? ' (row hidden)' : ''}`

t.test('route × role conformance: the API and the database alone agree with every declared rule', async (t) => {
  const db = await createTestDatabase(t)
  // One signing key for both apps, so a token works on either.
  const env = { JWT_SECRET: randomBytes(32).toString('base64url') }
  const api = (await buildTestApp(t, { db, env })).app
  const dbOnly = (await buildTestApp(t, { db, env, enforceRolesInApi: false })).app
  const f = await createFixtures(t, api, db)

  // The shared tenant: enterprise, so every request can bring its own fresh caller and target.
  const owner = await registerTenant(api, uniqueName('conformance'))
  const tenant = owner.tenant
  const upgraded = await call(api, owner, 'PUT', '/v1/tenant/plan', { plan: 'enterprise' })
  t.equal(upgraded.statusCode, 200, 'the owner moves the shared tenant to the enterprise plan')

  const caller = (role: Role) => f.member(tenant, role)
  const item = async (): Promise<{ id: string }> => {
    const res = await call(api, owner, 'POST', '/v1/items', { name: uniqueName('item'), payload: { fixture: true } })
    if (res.statusCode !== 201) throw new Error(`item fixture: ${res.statusCode} ${res.body}`)
    return res.json()
  }
  const invitation = async (): Promise<{ id: string; token: string }> => {
    const res = await call(api, owner, 'POST', '/v1/invitations', {
      email: `${uniqueName('invitee')}@example.com`,
      role: 'member',
    })
    if (res.statusCode !== 201) throw new Error(`invitation fixture: ${res.statusCode} ${res.body}`)
    return res.json()
  }

  const cases: Case[] = [
    {
      route: 'POST /v1/auth/logout',
      does: 'end own session',
      status: 204,
      prepare: async (role) => ({ caller: await caller(role), url: '/v1/auth/logout' }),
    },
    {
      route: 'POST /v1/auth/switch',
      does: 'new session in own tenant',
      status: 200,
      prepare: async (role) => ({
        caller: await caller(role),
        url: '/v1/auth/switch',
        payload: { tenant: tenant.slug },
      }),
    },
    {
      route: 'GET /v1/me',
      does: 'read own profile',
      status: 200,
      prepare: async (role) => ({ caller: await caller(role), url: '/v1/me' }),
    },
    {
      route: 'GET /v1/tenant',
      does: 'read the tenant',
      status: 200,
      prepare: async (role) => ({ caller: await caller(role), url: '/v1/tenant' }),
    },
    {
      route: 'PATCH /v1/tenant',
      does: 'rename the tenant',
      status: 200,
      prepare: async (role) => ({
        caller: await caller(role),
        url: '/v1/tenant',
        payload: { name: uniqueName('Renamed') },
      }),
    },
    {
      // A tenant of its own each time, so every request is a real change (free → pro).
      route: 'PUT /v1/tenant/plan',
      does: 'upgrade free to pro',
      status: 200,
      prepare: async (role) => {
        const own = await f.tenant({ plan: 'free' })
        return {
          caller: role === 'owner' ? own : await f.member(own.tenant, role),
          url: '/v1/tenant/plan',
          payload: { plan: 'pro' },
        }
      },
    },
    {
      route: 'POST /v1/tenant/broadcasts',
      does: 'broadcast a message',
      status: 201,
      prepare: async (role) => ({
        caller: await caller(role),
        url: '/v1/tenant/broadcasts',
        payload: { message: 'hello everyone' },
      }),
    },
    {
      route: 'GET /v1/members',
      does: 'list members',
      status: 200,
      prepare: async (role) => ({
        caller: await caller(role),
        url: '/v1/members?limit=100',
        shows: (body) => body.data.some((m: Json) => m.userId === owner.user.id),
      }),
    },
    {
      route: 'PATCH /v1/members/:userId',
      does: 'demote a plain member to viewer',
      status: 200,
      prepare: async (role) => {
        const target = await f.member(tenant, 'member')
        return { caller: await caller(role), url: `/v1/members/${target.user.id}`, payload: { role: 'viewer' } }
      },
    },
    {
      route: 'PATCH /v1/members/:userId',
      does: 'promote a plain member to owner',
      status: 200,
      rule: { access: 'owner', because: 'only an owner grants owner (policy update_admin on memberships, WITH CHECK)' },
      prepare: async (role) => {
        const target = await f.member(tenant, 'member')
        return { caller: await caller(role), url: `/v1/members/${target.user.id}`, payload: { role: 'owner' } }
      },
    },
    {
      route: 'PATCH /v1/members/:userId',
      does: 'demote another owner to admin',
      status: 200,
      rule: { access: 'owner', because: 'only an owner takes owner away (policy update_admin on memberships, USING)' },
      prepare: async (role) => {
        const target = await f.member(tenant, 'owner')
        return { caller: await caller(role), url: `/v1/members/${target.user.id}`, payload: { role: 'admin' } }
      },
    },
    {
      route: 'DELETE /v1/members/:userId',
      does: 'leave (own membership)',
      status: 204,
      prepare: async (role) => {
        const me = await caller(role)
        return { caller: me, url: `/v1/members/${me.user.id}` }
      },
    },
    {
      route: 'DELETE /v1/members/:userId',
      does: 'remove a plain member',
      status: 204,
      rule: {
        access: 'admin',
        because:
          'declared viewer so anyone can leave; removing someone else takes an admin (policy delete_admin_or_self)',
      },
      prepare: async (role) => {
        const target = await f.member(tenant, 'member')
        return { caller: await caller(role), url: `/v1/members/${target.user.id}` }
      },
    },
    {
      route: 'DELETE /v1/members/:userId',
      does: 'remove another owner',
      status: 204,
      rule: { access: 'owner', because: 'only owners remove owners (policy delete_admin_or_self)' },
      prepare: async (role) => {
        const target = await f.member(tenant, 'owner')
        return { caller: await caller(role), url: `/v1/members/${target.user.id}` }
      },
    },
    {
      route: 'POST /v1/invitations',
      does: 'invite an owner',
      status: 201,
      rule: { access: 'owner', because: 'only an owner invites an owner (policy insert_admin on invitations)' },
      prepare: async (role) => ({
        caller: await caller(role),
        url: '/v1/invitations',
        payload: { email: `${uniqueName('invitee')}@example.com`, role: 'owner' },
      }),
    },
    {
      route: 'POST /v1/invitations',
      does: 'invite a new email',
      status: 201,
      prepare: async (role) => ({
        caller: await caller(role),
        url: '/v1/invitations',
        payload: { email: `${uniqueName('invitee')}@example.com`, role: 'member' },
      }),
    },
    {
      route: 'GET /v1/invitations',
      does: 'list pending invitations',
      status: 200,
      prepare: async (role) => {
        const pending = await invitation()
        return {
          caller: await caller(role),
          url: '/v1/invitations?limit=100',
          shows: (body) => body.data.some((i: Json) => i.id === pending.id),
        }
      },
    },
    {
      route: 'DELETE /v1/invitations/:id',
      does: 'revoke a pending invitation',
      status: 204,
      prepare: async (role) => ({ caller: await caller(role), url: `/v1/invitations/${(await invitation()).id}` }),
    },
    {
      route: 'GET /v1/activities',
      does: 'read the activity log',
      status: 200,
      prepare: async (role) => {
        const me = await caller(role)
        const created = await item()
        return {
          caller: me,
          url: '/v1/activities?type=ITEM_CREATED&limit=100',
          shows: (body) => body.data.some((a: Json) => a.target === created.id),
        }
      },
    },
    {
      route: 'GET /v1/items',
      does: 'list items',
      status: 200,
      prepare: async (role) => {
        const me = await caller(role)
        const created = await item()
        return {
          caller: me,
          url: '/v1/items?limit=100',
          shows: (body) => body.data.some((i: Json) => i.id === created.id),
        }
      },
    },
    {
      route: 'POST /v1/items',
      does: 'create an item',
      status: 201,
      prepare: async (role) => ({
        caller: await caller(role),
        url: '/v1/items',
        payload: { name: uniqueName('new'), payload: { a: 1 } },
      }),
    },
    {
      route: 'GET /v1/items/:id',
      does: 'read an item',
      status: 200,
      prepare: async (role) => ({ caller: await caller(role), url: `/v1/items/${(await item()).id}` }),
    },
    {
      route: 'PATCH /v1/items/:id',
      does: 'change an item',
      status: 200,
      prepare: async (role) => ({
        caller: await caller(role),
        url: `/v1/items/${(await item()).id}`,
        payload: { name: 'changed', payload: { b: 2 } },
      }),
    },
    {
      route: 'DELETE /v1/items/:id',
      does: 'delete an item',
      status: 204,
      prepare: async (role) => ({ caller: await caller(role), url: `/v1/items/${(await item()).id}` }),
    },
  ]

  // Anyone, without a token. Exercised once on each app.
  const anonymous = (url: string, payload?: unknown) => async (): Promise<Request> => ({
    caller: null,
    url,
    ...(payload ? { payload } : {}),
  })
  const publicCases: PublicCase[] = [
    { route: 'GET /health', does: 'liveness', status: 200, prepare: anonymous('/health') },
    { route: 'GET /ready', does: 'readiness', status: 200, prepare: anonymous('/ready') },
    { route: 'GET /dashboard', does: 'dashboard page', status: 200, prepare: anonymous('/dashboard') },
    { route: 'GET /dashboard/app.js', does: 'dashboard script', status: 200, prepare: anonymous('/dashboard/app.js') },
    {
      route: 'GET /dashboard/style.css',
      does: 'dashboard styles',
      status: 200,
      prepare: anonymous('/dashboard/style.css'),
    },
    {
      route: 'GET /dashboard/socket.io.min.js',
      does: 'Socket.IO browser client',
      status: 200,
      prepare: anonymous('/dashboard/socket.io.min.js'),
    },
    { route: 'GET /docs', does: 'Swagger UI page', status: 200, prepare: anonymous('/docs') },
    {
      route: 'GET /docs/static/index.html',
      does: 'Swagger UI (redirects to /docs)',
      status: 302,
      prepare: anonymous('/docs/static/index.html'),
    },
    {
      route: 'GET /docs/static/swagger-initializer.js',
      does: 'Swagger UI config',
      status: 200,
      prepare: anonymous('/docs/static/swagger-initializer.js'),
    },
    {
      route: 'GET /docs/static/*',
      does: 'Swagger UI assets',
      status: 200,
      prepare: anonymous('/docs/static/swagger-ui.css'),
    },
    { route: 'GET /docs/json', does: 'OpenAPI document', status: 200, prepare: anonymous('/docs/json') },
    { route: 'GET /docs/yaml', does: 'OpenAPI document', status: 200, prepare: anonymous('/docs/yaml') },
    {
      route: 'POST /v1/auth/register',
      does: 'create an account and tenant',
      status: 201,
      prepare: async () => {
        const name = uniqueName('reg')
        return {
          caller: null,
          url: '/v1/auth/register',
          payload: { email: `${name}@example.com`, password: PASSWORD, name, tenant: { name, slug: name } },
        }
      },
    },
    {
      route: 'POST /v1/auth/login',
      does: 'sign in',
      status: 200,
      prepare: async () => {
        const user = (await f.member(tenant, 'viewer')).user
        return {
          caller: null,
          url: '/v1/auth/login',
          payload: { email: user.email, password: PASSWORD, tenant: tenant.slug },
        }
      },
    },
    {
      route: 'POST /v1/auth/refresh',
      does: 'rotate a refresh token',
      status: 200,
      prepare: async () => ({
        caller: null,
        url: '/v1/auth/refresh',
        payload: { refreshToken: (await f.member(tenant, 'viewer')).refreshToken },
      }),
    },
    {
      route: 'POST /v1/invitations/accept',
      does: 'accept an invitation as a new user',
      status: 200,
      prepare: async () => ({
        caller: null,
        url: '/v1/invitations/accept',
        payload: { token: (await invitation()).token, name: 'Invitee', password: PASSWORD },
      }),
    },
  ]

  const catalog = api.routeCatalog.map((route) => ({ ...route, key: `${route.method} ${route.url}` }))
  const declared = new Map(catalog.map((route) => [route.key, route.access]))

  t.test('every route in app.routeCatalog has a request fixture here (no route without a declared rule)', async (t) => {
    t.same(dbOnly.routeCatalog, api.routeCatalog, 'both apps serve the same routes')
    const covered = new Set<string>([...cases, ...publicCases].map((c) => c.route))
    const missing = catalog.filter((route) => !covered.has(route.key)).map((route) => `${route.key} (${route.access})`)
    t.same(missing, [], 'routes without a request in the conformance table: add one')
    t.same(
      [...covered].filter((route) => !declared.has(route)),
      [],
      'no request for a route that does not exist',
    )
    for (const route of catalog) {
      if (route.url.startsWith('/v1/'))
        t.ok(['public', ...ROLES].includes(route.access), `${route.key} declares a known access rule: ${route.access}`)
      if (route.access === 'public') {
        t.ok(
          publicCases.some((c) => c.route === route.key),
          `${route.key} is public and exercised without a token`,
        )
        t.notOk(
          cases.some((c) => c.route === route.key),
          `${route.key} is public, so it is not in the role matrix`,
        )
      } else {
        t.ok(
          cases.some((c) => c.route === route.key && !c.rule),
          `${route.key} has a request that checks its declared rule (${route.access})`,
        )
        t.notOk(
          publicCases.some((c) => c.route === route.key),
          `${route.key} requires a role, so it is not in the public list`,
        )
      }
    }
  })

  t.test('public routes answer anyone, without a token, on both apps', async (t) => {
    const apps = [
      ['API', api],
      ['DB', dbOnly],
    ] as const
    const results = await Promise.all(
      publicCases.map((c) => Promise.all(apps.map(async ([, app]) => send(app, c.route, await c.prepare())))),
    )
    for (const [caseIndex, c] of publicCases.entries()) {
      if (declared.get(c.route) !== 'public') continue // reported by the catalog test
      for (const [appIndex, [name]] of apps.entries()) {
        const outcome = results[caseIndex]![appIndex]!
        t.equal(outcome.status, c.status, `${c.route} (${c.does}) without a token, ${name}: ${outcome.status}`)
      }
    }
  })

  t.test(
    'every role-gated route, as every role: the API follows the declared rule and the database alone agrees',
    async (t) => {
      const rows: string[][] = []
      const disagreements: string[] = []
      for (const c of cases) {
        const access = c.rule?.access ?? declared.get(c.route)
        if (access === undefined || access === 'public') continue // reported by the catalog test
        const row = [`${c.route}  ${c.does}`, c.rule ? `${access}*` : access]
        // The four roles and both apps at once: every request has its own caller and target.
        const outcomes = await Promise.all(
          ROLES.map((role) =>
            Promise.all([
              c.prepare(role).then((request) => send(api, c.route, request)),
              c.prepare(role).then((request) => send(dbOnly, c.route, request)),
            ]),
          ),
        )
        for (const [index, role] of ROLES.entries()) {
          const allowed = roleAtLeast(role, access as Role)
          const [viaApi, viaDb] = outcomes[index]!
          const cell = `${label(viaApi)}|${label(viaDb)}`
          row.push(cell)
          const where = `${c.route} (${c.does}) as ${role}: API|DB = ${cell}; declared ${access}, so ${allowed ? `allowed (${c.status})` : 'denied'}`
          const success = (o: Outcome) => o.status === c.status && !o.hidden
          const apiOk = allowed ? success(viaApi) : viaApi.status === 403 && viaApi.type === '/problems/forbidden'
          const dbOk = allowed ? success(viaDb) : [403, 404].includes(viaDb.status) || viaDb.hidden
          t.ok(apiOk, `the API: ${where}`)
          t.ok(dbOk, `the database alone: ${where}`)
          if (!apiOk || !dbOk) disagreements.push(where)
        }
        rows.push(row)
      }
      const header = ['route', 'rule', ...ROLES]
      const widths = header.map((_, i) => Math.max(...[header, ...rows].map((r) => r[i]!.length)))
      const matrix = [header, ...rows]
        .map((r) =>
          r
            .map((cell, i) => cell.padEnd(widths[i]!))
            .join('  ')
            .trimEnd(),
        )
        .join('\n')
      const notes = cases.filter((c) => c.rule).map((c) => `* ${c.route} ${c.does}: ${c.rule!.because}`)
      const legend =
        'cells: status from the API | from the database alone; "row hidden": a 200 list without the row the fixture guarantees'
      t.comment(`conformance matrix\n${legend}\n${matrix}\n${notes.join('\n')}`)
      t.same(disagreements, [], 'every cell of the conformance matrix agrees with its declared rule', {
        matrix: `${matrix}\n${notes.join('\n')}`,
      })
    },
  )
})
