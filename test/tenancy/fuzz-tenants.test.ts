import fc from 'fast-check'
import type pg from 'pg'
import t from 'tap'
import { buildTestApp, type Session } from '../helpers/app.ts'
import { bodyText, loadOpenApi, queryText } from '../helpers/openapi.ts'

/**
 * Cross-tenant fuzzing: random sequences of operations from /docs/json by the users of two
 * tenants, every role, with path ids drawn from both tenants. The RESTler namespace rule: no
 * response to one tenant's user contains an id that only the other tenant's responses showed.
 * And every refused request leaves every table exactly as it was.
 */
const SEQUENCES = Number(process.env.FUZZ_SEQUENCES ?? 20)
const SEED = process.env.FUZZ_SEED
  ? Number(process.env.FUZZ_SEED)
  : process.env.CI === 'true'
    ? 20261201
    : Math.floor(Math.random() * 2 ** 31)
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g

/** One md5 per table in app_public and app_private, read as the superuser. */
async function checksums(root: pg.Pool): Promise<Record<string, string>> {
  const { rows: tables } = await root.query<{ query: string }>(
    `select string_agg(format('select %L as name, md5(coalesce(string_agg(t::text, E''\\n'' order by t::text), '''')) as sum from %I.%I t',
                              schemaname || '.' || tablename, schemaname, tablename), ' union all ') as query
     from pg_tables where schemaname in ('app_public', 'app_private')`,
  )
  const { rows } = await root.query<{ name: string; sum: string }>(tables[0]!.query)
  return Object.fromEntries(rows.map((row) => [row.name, row.sum]))
}

/** Every uuid in a body, except the `instance` of a problem (it echoes the caller's own path). */
function uuidsIn(body: string): string[] {
  if (!body) return []
  const value = JSON.parse(body)
  if (value && typeof value === 'object' && 'instance' in value) delete value.instance
  return JSON.stringify(value).match(UUID) ?? []
}

t.test(
  'random cross-tenant sequences never show one tenant the other’s ids, and refusals change nothing',
  async (t) => {
    const { app, factories } = await buildTestApp(t, {
      env: { RATE_LIMIT_PER_IP: '1000000', RATE_LIMIT_AUTH_PER_IP: '1000000' },
    })
    const { doc, operations } = await loadOpenApi(app)
    // Session management (logout, refresh, switch) is fuzzed in fuzz-openapi; here every caller
    // stays signed in, and a refused refresh may revoke a family by design.
    const ops = operations.filter((op) => op.secured && !op.path.startsWith('/v1/auth/'))
    t.ok(ops.length >= 10, `${ops.length} tenant operations`)

    let requests = 0
    let refused = 0
    let sequences = 0
    const step = fc.record({
      actor: fc.nat({ max: 7 }),
      op: fc.constantFrom(...ops),
      pick: fc.array(fc.nat(), { minLength: 2, maxLength: 2 }),
      seed: fc.nat(),
    })
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 10, maxLength: 25 }), async (steps) => {
        sequences++
        const crews: Session[][] = []
        for (let i = 0; i < 2; i++) {
          const owner = await factories.tenant({ plan: 'enterprise' })
          const others = await Promise.all(
            (['admin', 'member', 'viewer'] as const).map((role) => factories.member(owner.tenant, role)),
          )
          crews.push([owner, ...others])
        }
        // ids each tenant's users have been shown (their own tenant, users, and whatever they created)
        const seen: Set<string>[] = crews.map(
          (crew) => new Set([crew[0]!.tenant.id, ...crew.map((session) => session.user.id)]),
        )
        for (const { actor, op, pick, seed } of steps) {
          const side = actor < 4 ? 0 : 1
          const session = crews[side]![actor % 4]!
          const pool = [...seen[0]!, ...seen[1]!]
          let path = op.path
          op.pathParams.forEach((name, index) => {
            path = path.replace(`{${name}}`, pool[pick[index]! % pool.length]!)
          })
          const [query] = fc.sample(queryText(op, doc), { seed, numRuns: 1 })
          const [body] = op.body ? fc.sample(bodyText(op.body, doc), { seed, numRuns: 1 }) : [undefined]
          const before = await checksums(factories.root)
          const res = await app.inject({
            method: op.method as 'GET',
            url: path + (query ?? ''),
            headers: {
              authorization: `Bearer ${session.accessToken}`,
              ...(body === undefined ? {} : { 'content-type': 'application/json' }),
            },
            ...(body === undefined ? {} : { payload: body }),
          })
          requests++
          const where = `${op.method} ${path} by tenant ${side ? 'B' : 'A'}'s ${session.role} → ${res.statusCode} ${res.body.slice(0, 300)}`
          if (res.statusCode >= 500) throw new Error(`a 5xx: ${where}`)
          const ids = res.statusCode === 204 ? [] : uuidsIn(res.body)
          const foreign = ids.filter((id) => seen[1 - side]!.has(id) && !seen[side]!.has(id))
          if (foreign.length > 0) throw new Error(`the other tenant's id ${foreign[0]} in: ${where}`)
          for (const id of ids) seen[side]!.add(id)
          if (res.statusCode >= 400) {
            refused++
            const after = await checksums(factories.root)
            const changed = Object.keys(before).filter((table) => before[table] !== after[table])
            if (changed.length > 0) throw new Error(`a refused request changed ${changed.join(', ')}: ${where}`)
          }
        }
      }),
      { numRuns: SEQUENCES, seed: SEED },
    )
    t.comment(
      `${sequences} sequences, ${requests} requests (${refused} refused, each with unchanged checksums of every table); seed ${SEED}`,
    )
    t.ok(requests >= SEQUENCES * 10, 'every sequence ran')
    t.ok(refused > 0 && refused < requests, 'both refused and accepted requests were exercised')
  },
)
