import t from 'tap'
import { addMember, buildTestApp, call, registerTenant, type Session } from '../helpers/app.ts'

type Page = { data: Record<string, unknown>[]; nextCursor: string | null }

/** Walks every page of `url`, running `between` after each page; returns the ids in order. */
async function walk(
  app: Parameters<typeof call>[0],
  session: Session,
  url: string,
  key: string,
  between: () => Promise<unknown>,
) {
  const ids: string[] = []
  let cursor: string | null = null
  for (let pages = 0; pages < 50; pages++) {
    const sep = url.includes('?') ? '&' : '?'
    const res = await call(app, session, 'GET', `${url}${cursor ? `${sep}cursor=${cursor}` : ''}`)
    if (res.statusCode !== 200) throw new Error(`${url}: ${res.statusCode} ${res.body}`)
    const page = res.json() as Page
    ids.push(...page.data.map((row) => String(row[key])))
    cursor = page.nextCursor
    if (!cursor) return ids
    await between()
  }
  throw new Error('too many pages')
}

t.test('keyset pagination: no duplicates and no gaps while rows are inserted between pages', async (t) => {
  const { app, factories } = await buildTestApp(t)
  const owner = await registerTenant(app)
  await call(app, owner, 'PUT', '/v1/tenant/plan', { plan: 'enterprise' })
  // Rows written in one statement share created_at (now() is the transaction's start), so only
  // the id breaks the tie between them: the keyset must carry it, or pages skip or repeat rows.
  const tied = async (table: string, insert: string) => {
    await factories.root.query(insert, [owner.tenant.id, owner.user.id])
    const { rows } = await factories.root.query(
      `select count(*)::int as rows, count(distinct created_at)::int as times from app_public.${table} where tenant_id = $1`,
      [owner.tenant.id],
    )
    return rows[0] as { rows: number; times: number }
  }

  t.test('items, newest first', async (t) => {
    const shape = await tied(
      'items',
      `insert into app_public.items (tenant_id, name, created_by)
       select $1, 'tied ' || g, $2 from generate_series(1, 23) g`,
    )
    t.same(shape, { rows: 23, times: 1 }, '23 items that all share one created_at')
    const before = await walk(app, owner, '/v1/items?limit=100', 'id', async () => {})
    let inserted = 0
    const during = await walk(app, owner, '/v1/items?limit=5', 'id', () =>
      call(app, owner, 'POST', '/v1/items', { name: `during ${inserted++}` }),
    )
    t.same(during, before, 'exactly the rows that existed, in the same order: new rows land before the first page')
    t.equal(new Set(during).size, during.length, 'no duplicates')
    t.equal(inserted, 4)
  })

  t.test('members, oldest first', async (t) => {
    const shape = await tied(
      'memberships',
      `with joined as (
         insert into app_public.users (email, name)
         select 'tied-' || g || '-' || $2::text || '@example.com', 'Tied ' || g from generate_series(1, 6) g
         returning id)
       insert into app_public.memberships (tenant_id, user_id, role) select $1::uuid, id, 'viewer' from joined`,
    )
    t.same(shape, { rows: 7, times: 2 }, 'the owner, then 6 members who joined in one statement')
    const before = await walk(app, owner, '/v1/members?limit=100', 'userId', async () => {})
    const during = await walk(app, owner, '/v1/members?limit=2', 'userId', () => addMember(app, owner, 'viewer'))
    t.same(during.slice(0, before.length), before, 'every existing member, once, in order')
    t.equal(new Set(during).size, during.length, 'no duplicates (new members may follow at the end)')
  })

  t.test('activities, newest first', async (t) => {
    const before = await walk(app, owner, '/v1/activities?limit=100', 'id', async () => {})
    const during = await walk(app, owner, '/v1/activities?limit=7', 'id', () =>
      call(app, owner, 'POST', '/v1/tenant/broadcasts', { message: 'tick' }),
    )
    t.same(during, before)
  })

  t.test('invitations, newest first', async (t) => {
    const shape = await tied(
      'invitations',
      `insert into app_public.invitations (tenant_id, email, role, invited_by)
       select $1, 'tied-' || g || '@example.com', 'member', $2
       from generate_series(1, 7) g`,
    )
    t.same(shape, { rows: 7, times: 1 }, '7 invitations that all share one created_at')
    const before = await walk(app, owner, '/v1/invitations?limit=100', 'id', async () => {})
    let n = 0
    const during = await walk(app, owner, '/v1/invitations?limit=3', 'id', () =>
      call(app, owner, 'POST', '/v1/invitations', { email: `q${n++}@example.com`, role: 'member' }),
    )
    t.same(during, before)
  })

  t.test('limits are bounded and cursors are opaque but checked', async (t) => {
    for (const query of [
      'limit=0',
      'limit=101',
      'limit=abc',
      'cursor=bm9wZQ',
      `cursor=${Buffer.from('["x","y"]').toString('base64url')}`,
      'unknown=1',
    ]) {
      const res = await call(app, owner, 'GET', `/v1/items?${query}`)
      t.equal(res.statusCode, 400, query)
      t.equal(res.json().type, '/problems/validation-failed', query)
    }
    const page = (await call(app, owner, 'GET', '/v1/items')).json() as Page
    t.equal(page.data.length, 20, 'default limit 20')
  })
})
