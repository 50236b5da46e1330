import pg from 'pg'

export type Identity = { userId: string; tenantId: string; sessionId: string; email: string; slug: string }

/**
 * Seeds `tenants` tenants, each with one owner (user, membership, session) and `itemsPerTenant`
 * items, as the superuser with set-based SQL. Returns the owners' identities (to mint tokens).
 *
 * - Tenants, users and memberships go through every trigger (member limit, USER_JOINED
 *   activity + NOTIFY): a thousand rows, cheap, and exactly what the app would write.
 * - Items skip triggers and FK checks (`session_replication_role = replica`): the rows are
 *   valid by construction, and a million ITEM_CREATED activities + NOTIFYs would only slow the
 *   seed. Timestamps are set explicitly instead of by the _100_timestamps trigger.
 * - Items are inserted round-robin across tenants (g outer, tenant inner), like a real table
 *   filled over time by everyone: one tenant's newest page is spread over many heap pages, not
 *   packed into one, so reads are not flattered by locality.
 * - Every owner gets the same real bcrypt hash of `password` (cost from the config), so any of
 *   them can log in.
 */
export async function seed(options: {
  rootUrl: string
  tenants: number
  itemsPerTenant: number
  passwordHash: string
  log: (message: string) => void
}): Promise<Identity[]> {
  const { tenants, itemsPerTenant } = options
  const root = new pg.Pool({ connectionString: options.rootUrl, max: 2 })
  root.on('error', () => {}) // an idle connection ended by the cluster stopping (Ctrl-C): the query in flight fails anyway
  try {
    const client = await root.connect()
    let identities: Identity[]
    try {
      await client.query('begin')
      await client.query(
        `insert into app_public.tenants (slug, name, plan)
         select format('bench-%s', g), format('Bench tenant %s', g), 'enterprise' from generate_series(1, $1::int) g`,
        [tenants],
      )
      await client.query(
        `insert into app_public.users (email, name)
         select format('owner-%s@bench.example', g), format('Owner %s', g) from generate_series(1, $1::int) g`,
        [tenants],
      )
      await client.query(
        `insert into app_private.user_secrets (user_id, password_hash)
         select id, $1 from app_public.users where email like 'owner-%@bench.example'`,
        [options.passwordHash],
      )
      await client.query(
        `insert into app_public.memberships (tenant_id, user_id, role)
         select t.id, u.id, 'owner'
         from app_public.tenants t
         join app_public.users u on u.email = format('owner-%s@bench.example', substr(t.slug, 7))
         where t.slug like 'bench-%'`,
      )
      const { rows } = await client.query<Identity>(
        `with opened as (
           insert into app_private.sessions (user_id, tenant_id)
           select m.user_id, m.tenant_id from app_public.memberships m
           join app_public.tenants t on t.id = m.tenant_id where t.slug like 'bench-%'
           returning id, user_id, tenant_id)
         select o.id as "sessionId", o.user_id as "userId", o.tenant_id as "tenantId", u.email, t.slug
         from opened o join app_public.users u on u.id = o.user_id join app_public.tenants t on t.id = o.tenant_id
         order by t.slug`,
      )
      identities = rows
      await client.query('commit')
    } finally {
      client.release()
    }
    if (identities.length !== tenants) throw new Error(`seeded ${identities.length} owners, expected ${tenants}`)

    // Items in chunks of `g`, two chunks at a time: one per core, each in its own transaction.
    const chunk = Math.max(1, Math.ceil(itemsPerTenant / 10))
    const ranges: [number, number][] = []
    for (let from = 1; from <= itemsPerTenant; from += chunk)
      ranges.push([from, Math.min(itemsPerTenant, from + chunk - 1)])
    const insertRange = async ([from, to]: [number, number]) => {
      const c = await root.connect()
      try {
        await c.query('begin')
        await c.query('set local session_replication_role = replica')
        await c.query('set local synchronous_commit = off')
        await c.query(
          `insert into app_public.items (tenant_id, id, name, payload, created_by, created_at, updated_at)
           select m.tenant_id, gen_random_uuid(), 'Item ' || g,
                  jsonb_build_object('n', g, 'colour', (array['red', 'green', 'blue'])[1 + g % 3], 'tags', jsonb_build_array('bench', 'seed')),
                  m.user_id, ts, ts
           from generate_series($1::int, $2::int) g
           cross join lateral (select now() - interval '30 days' + g * interval '1 second' as ts) t
           cross join (select m.tenant_id, m.user_id from app_public.memberships m
                       join app_public.tenants tn on tn.id = m.tenant_id where tn.slug like 'bench-%') m
           order by g`,
          [from, to],
        )
        await c.query('commit')
      } finally {
        c.release()
      }
    }
    const queue = [...ranges]
    const worker = async () => {
      for (let range = queue.shift(); range; range = queue.shift()) await insertRange(range)
    }
    let started = Date.now()
    await Promise.all([worker(), worker()])
    options.log(`items inserted in ${((Date.now() - started) / 1000).toFixed(1)} s`)

    // Fresh statistics and visibility map, and a checkpoint now rather than during a scenario.
    started = Date.now()
    const c = await root.connect()
    try {
      await c.query('vacuum (analyze)')
      await c.query('checkpoint')
    } finally {
      c.release()
    }
    options.log(`vacuum analyze + checkpoint in ${((Date.now() - started) / 1000).toFixed(1)} s`)
    return identities
  } finally {
    await root.end()
  }
}
