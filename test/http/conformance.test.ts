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
import { ROLES, type Role, roleAtLeast } from '../../src/roles.ts'
import { buildTestApp, call, factoriesOf, registerTenant, uniqueName } from '../helpers/app.ts'
import { conformanceCases, type Json, type Method, type Request } from '../helpers/conformance-cases.ts'
import { createTestDatabase } from '../helpers/db.ts'
import { invitationToken } from '../helpers/mail.ts'

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
  const f = factoriesOf(api)

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
    const { id } = res.json()
    return { id, token: await invitationToken(api, id) }
  }

  const { cases, publicCases } = conformanceCases({ api, f, owner, tenant, caller, item, invitation })

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
        t.ok(
          ['public', 'user', ...ROLES].includes(route.access),
          `${route.key} declares a known access rule: ${route.access}`,
        )
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

  t.test('every tenant route, as an API key of each role: allowed exactly as a member of that role', async (t) => {
    // Routes a key may not use whatever its role: a person's (access `user`) and key management.
    const keyRefused = (route: string) => declared.get(route) === 'user' || route.includes(' /v1/api-keys')
    // Cases about the caller's own membership (a key has none), or whose fixture is a tenant of its
    // own (a key acts in the shared tenant, which has more members than pro allows).
    const aboutTheCaller = new Set(['leave (own membership)', 'upgrade free to pro'])
    const keys = new Map<string, string>()
    for (const role of ['viewer', 'member', 'admin'] as const) {
      const res = await call(api, owner, 'POST', '/v1/api-keys', { name: `conformance ${role}`, role })
      keys.set(role, res.json().key)
    }
    const mismatches: string[] = []
    let checked = 0
    for (const c of cases) {
      const access = c.rule?.access ?? declared.get(c.route)
      if (access === undefined || access === 'public' || aboutTheCaller.has(c.does)) continue
      for (const role of ['viewer', 'member', 'admin'] as const) {
        const request = { ...(await c.prepare(role)), caller: { accessToken: keys.get(role)! } }
        const outcome = await send(api, c.route, request)
        const allowed = !keyRefused(c.route) && roleAtLeast(role, access as Role)
        const ok = allowed
          ? outcome.status === c.status && !outcome.hidden
          : outcome.status === 403 && outcome.type === '/problems/forbidden'
        checked++
        if (!ok)
          mismatches.push(
            `${c.route} (${c.does}) as a ${role} key: ${label(outcome)}, expected ${allowed ? c.status : 403}`,
          )
      }
    }
    t.same(
      mismatches,
      [],
      `${checked} requests with keys: each allowed or refused as its role (key management and a person's routes: 403)`,
    )
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
          // `user`: any signed-in user, so every role.
          const allowed = access === 'user' || roleAtLeast(role, access as Role)
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
