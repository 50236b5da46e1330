import type pg from 'pg'
import { sql } from 'slonik'
import t from 'tap'
import { z } from 'zod'
import { withTenantContext } from '../../src/db/context.ts'
import { createDatabasePool } from '../../src/db/pool.ts'
import { addMember, buildTestApp, call, registerTenant } from '../helpers/app.ts'
import { connect, whoOf, withApiRole } from '../helpers/db.ts'

const TENANT_TABLES = ['tenants', 'memberships', 'users', 'invitations', 'activities', 'items'] as const

/** As tenantry_app, inside an open transaction: everything tenant A's context can do to tenant B. */
async function leaksTowards(
  client: pg.Client,
  b: { tenantId: string; itemId: string; userId: string },
): Promise<string[]> {
  const leaks: string[] = []
  const count = async (what: string, text: string, values: unknown[] = []) => {
    await client.query('savepoint probe')
    try {
      const res = await client.query(text, values)
      if ((res.rowCount ?? 0) > 0) leaks.push(`${what}: ${res.rowCount} row(s)`)
      await client.query('release savepoint probe')
    } catch (error) {
      // A refusal (no privilege, RLS WITH CHECK) is not a leak.
      await client.query('rollback to savepoint probe')
      if (!['42501'].includes((error as { code?: string }).code ?? ''))
        leaks.push(`${what}: unexpected ${(error as Error).message}`)
    }
  }
  await count('select B tenant', 'select id from app_public.tenants where id = $1', [b.tenantId])
  await count('select B items', 'select id from app_public.items where tenant_id = $1', [b.tenantId])
  await count('select B memberships', 'select user_id from app_public.memberships where tenant_id = $1', [b.tenantId])
  await count('select B user', 'select id from app_public.users where id = $1', [b.userId])
  await count('select B invitations', 'select id from app_public.invitations where tenant_id = $1', [b.tenantId])
  await count('select B activities', 'select id from app_public.activities where tenant_id = $1', [b.tenantId])
  // No predicate at all, as a query that forgot its WHERE would run: only A's rows may come back.
  const unfiltered = await client.query<{ tenant_id: string }>('select tenant_id from app_public.items')
  const foreign = unfiltered.rows.filter((row) => row.tenant_id === b.tenantId).length
  if (foreign > 0) leaks.push(`select items without a filter: ${foreign} row(s) of B among them`)
  await count('update B item', `update app_public.items set name = 'pwned' where id = $1 returning id`, [b.itemId])
  await count('delete B item', 'delete from app_public.items where id = $1 returning id', [b.itemId])
  await count('update B tenant', `update app_public.tenants set name = 'pwned' where id = $1 returning id`, [
    b.tenantId,
  ])
  await count(
    'update B membership',
    `update app_public.memberships set role = 'viewer' where tenant_id = $1 returning user_id`,
    [b.tenantId],
  )
  await count('delete B membership', 'delete from app_public.memberships where tenant_id = $1 returning user_id', [
    b.tenantId,
  ])
  await count('update B user', `update app_public.users set name = 'pwned' where id = $1 returning id`, [b.userId])
  await count('insert item into B', `insert into app_public.items (tenant_id, name) values ($1, 'x') returning id`, [
    b.tenantId,
  ])
  await count(
    'insert broadcast into B',
    `insert into app_public.activities (tenant_id, type, payload) values ($1, 'BROADCAST_MESSAGE', '{}') returning id`,
    [b.tenantId],
  )
  return leaks
}

t.test('SQL-level isolation as the API role', async (t) => {
  const { app, db } = await buildTestApp(t)
  const a = await registerTenant(app, 'iso-a')
  const b = await registerTenant(app, 'iso-b')
  const bItem = (await call(app, b, 'POST', '/v1/items', { name: 'b secret', payload: { secret: true } })).json()
  await call(app, a, 'POST', '/v1/items', { name: 'a item' })
  await call(app, b, 'POST', '/v1/invitations', { email: 'invitee-b@example.com', role: 'member' })
  const target = { tenantId: b.tenant.id, itemId: bItem.id, userId: b.user.id }

  const apiRole = await connect(t, db.appUrl)
  const asA = <T>(fn: () => Promise<T>) => withApiRole(apiRole, whoOf(a), fn)

  t.test("with tenant A's settings, nothing of tenant B can be read, changed, deleted or created", async (t) => {
    const leaks = await asA(() => leaksTowards(apiRole, target))
    t.same(leaks, [])
    const own = await asA(() => apiRole.query('select name from app_public.items'))
    t.same(own.rows, [{ name: 'a item' }], 'an unfiltered select returns only A rows')
  })

  t.test('the API role cannot choose tenant_id, created_by or actor_id (no column privilege)', async (t) => {
    for (const statement of [
      `insert into app_public.items (tenant_id, name) values ('${a.tenant.id}', 'x')`,
      `insert into app_public.items (name, created_by) values ('x', '${b.user.id}')`,
      `insert into app_public.activities (type, actor_id) values ('BROADCAST_MESSAGE', '${b.user.id}')`,
      `update app_public.items set tenant_id = '${b.tenant.id}'`,
      `select * from app_private.email_tokens`,
      `select * from app_private.user_secrets`,
      `select * from app_private.refresh_tokens`,
    ]) {
      await t.rejects(
        asA(() => apiRole.query(statement)),
        { code: '42501' },
        statement,
      )
    }
  })

  t.test('settings unset, empty or garbage: no rows, and no error', async (t) => {
    const variants: [string, Record<string, string>][] = [
      ['unset', {}],
      ['empty', { 'app.tenant_id': '', 'app.user_id': '', 'app.role': '' }],
      ['garbage', { 'app.tenant_id': 'not-a-uuid', 'app.user_id': "'; drop table x; --", 'app.role': 'superadmin' }],
      ['role only', { 'app.role': 'owner' }],
    ]
    for (const [name, settings] of variants) {
      await apiRole.query('begin')
      try {
        for (const [key, value] of Object.entries(settings)) {
          await apiRole.query('select set_config($1, $2, true)', [key, value])
        }
        for (const table of [...TENANT_TABLES, 'plans']) {
          const res = await apiRole.query(`select count(*)::int as n from app_public.${table}`)
          t.equal(res.rows[0].n, 0, `${name}: ${table}`)
        }
        const update = await apiRole.query(`update app_public.items set name = 'x'`)
        t.equal(update.rowCount, 0, `${name}: update touches nothing`)
      } finally {
        await apiRole.query('rollback')
      }
    }
  })

  t.test('a pooled connection reused after a request carries no settings', async (t) => {
    const pool = await createDatabasePool(db.appUrl, { maxPoolSize: 1 })
    t.teardown(() => pool.end())
    const Setting = z.object({
      tenant: z.string().nullable(),
      user: z.string().nullable(),
      role: z.string().nullable(),
      items: z.number(),
    })
    const inside = await withTenantContext(pool, whoOf(a), null, (tx) =>
      tx.one(sql.type(Setting)`
        select current_setting('app.tenant_id', true) as tenant, current_setting('app.user_id', true) as user,
               current_setting('app.role', true) as role, (select count(*)::int from app_public.items) as items`),
    )
    t.match(inside, { tenant: a.tenant.id, user: a.user.id, role: 'owner', items: 1 })
    // The same (only) connection, next transaction:
    const after = await pool.transaction((tx) =>
      tx.one(sql.type(Setting)`
        select nullif(current_setting('app.tenant_id', true), '') as tenant, nullif(current_setting('app.user_id', true), '') as user,
               nullif(current_setting('app.role', true), '') as role, (select count(*)::int from app_public.items) as items`),
    )
    t.same(after, { tenant: null, user: null, role: null, items: 0 })
    // A failed handler rolls back, and leaves nothing behind either.
    await t.rejects(
      withTenantContext(pool, whoOf(a), null, async (tx) => {
        await tx.query(sql.unsafe`insert into app_public.items (name) values ('rolled back')`)
        throw new Error('handler failed')
      }),
    )
    const count = await withTenantContext(pool, whoOf(a), null, (tx) =>
      tx.oneFirst(
        sql.type(
          z.object({ n: z.number() }),
        )`select count(*)::int as n from app_public.items where name = 'rolled back'`,
      ),
    )
    t.equal(count, 0)
  })

  t.test('a weakened or dropped policy turns this suite red', async (t) => {
    const root = await connect(t, db.rootUrl)
    // As the superuser, in a transaction that is rolled back: change the policy, become the API
    // role, and run the same probes.
    const withPolicyChange = (ddl: string, probe: () => Promise<unknown>) =>
      withApiRole(root, whoOf(a), probe, { asSuperuser: true, before: ddl })
    const weakened = await withPolicyChange(
      `drop policy select_viewer on app_public.items;
       create policy select_viewer on app_public.items for select to tenantry_app using (app_public.current_member_role() is not null)`,
      () => leaksTowards(root, target),
    )
    t.ok(
      (weakened as string[]).some((leak) => leak.startsWith('select B items')),
      `forgetting the tenant predicate leaks: ${weakened}`,
    )
    const dropped = await withPolicyChange('drop policy select_viewer on app_public.items', () =>
      root.query('select name from app_public.items'),
    )
    t.same(
      (dropped as pg.QueryResult).rows,
      [],
      'without its select policy, members no longer see their own items (so the API tests fail)',
    )
    const disabled = await withPolicyChange('alter table app_public.activities disable row level security', () =>
      leaksTowards(root, target),
    )
    t.ok(
      (disabled as string[]).some((leak) => leak.startsWith('select B activities')),
      'disabling RLS leaks',
    )
    // The insert probes above stop at the column grant (tenant_id is not insertable). Here the
    // column is granted, so only the insert policy stands between A's context and B's tenant.
    const insertIntoB = () =>
      root.query(`insert into app_public.items (tenant_id, name) values ($1, 'x')`, [b.tenant.id]).then(
        () => 'inserted',
        (error: Error) => error.message,
      )
    const grantTenantColumn = 'grant insert (tenant_id) on app_public.items to tenantry_app;'
    t.match(
      await withPolicyChange(grantTenantColumn, insertIntoB),
      /row-level security/,
      'with tenant_id insertable, the insert policy alone refuses a row for B',
    )
    t.equal(
      await withPolicyChange(
        `${grantTenantColumn}
         drop policy insert_member on app_public.items;
         create policy insert_member on app_public.items for insert to tenantry_app with check (true)`,
        insertIntoB,
      ),
      'inserted',
      'and with that policy weakened, the row goes in (so the check above can fail)',
    )
    t.same(await asA(() => leaksTowards(apiRole, target)), [], 'and after the rollback, nothing leaks again')
  })

  t.test('a viewer of A changing roles or leaving cannot reach B either', async (t) => {
    const viewer = await addMember(app, a, 'viewer')
    const res = await call(app, viewer, 'PATCH', `/v1/members/${b.user.id}`, { role: 'viewer' })
    t.equal(res.statusCode, 403, 'early refusal: viewers cannot change roles')
    const del = await call(app, viewer, 'DELETE', `/v1/members/${b.user.id}`)
    t.equal(del.statusCode, 404, "B's owner is not a member visible from A")
    const bMembers = await call(app, b, 'GET', '/v1/members')
    t.equal(bMembers.json().data[0].role, 'owner')
  })
})
