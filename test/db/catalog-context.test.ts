/**
 * Without a request context the API role sees nothing: with no, empty or garbage settings,
 * tenantry_app reads no row of any app_public table (and gets no error), while a real context
 * reads its own tenant's rows (the control that keeps the check honest).
 */
import { createHash, randomBytes } from 'node:crypto'
import t from 'tap'
import { API_ROLE, rows, type TableSecurity } from '../helpers/catalog.ts'
import { connect, createTestDatabase, withApiRole } from '../helpers/db.ts'

t.test(
  'with no, empty or garbage settings, tenantry_app reads no row of any app_public table, and gets no error',
  async (t) => {
    const db = await createTestDatabase(t)
    const owner = await connect(t, db.ownerUrl)
    const app = await connect(t, db.appUrl)

    // Seed two tenants through the app's own flow (register, open_session, begin_request), so every
    // app_public table holds rows of both: users, tenants, memberships and activities by register;
    // items, invitations, an API key and a broadcast by the owner of each tenant.
    const tenants: { tenantId: string; userId: string; sessionId: string }[] = []
    for (const name of ['catalog-a', 'catalog-b']) {
      const [registered] = await rows<{ user_id: string; tenant_id: string }>(
        app,
        'select * from app_private.register($1, $2, $3, $4, $5)',
        [
          `${name}@example.com`,
          `Owner of ${name}`,
          '$2b$10$notarealhashnotarealhashnotarealhashnotarealhashnot',
          name,
          name,
        ],
      )
      const refreshTokenHash = createHash('sha256').update(randomBytes(32)).digest()
      const [session] = await rows<{ session_id: string }>(
        app,
        `select * from app_private.open_session($1, $2, $3, '1 day')`,
        [registered!.user_id, name, refreshTokenHash],
      )
      const ids = { tenantId: registered!.tenant_id, userId: registered!.user_id, sessionId: session!.session_id }
      await withApiRole(
        app,
        ids,
        async () => {
          await app.query(`insert into app_public.items (name, payload) values ($1, '{"secret": true}')`, [
            `${name} item`,
          ])
          await app.query(`insert into app_public.invitations (email, role) values ($1, 'member')`, [
            `invitee-${name}@example.com`,
          ])
          await app.query(`insert into app_public.api_keys (name, role, prefix) values ($1, 'viewer', 'abcd1234')`, [
            `${name} key`,
          ])
          await app.query(
            `insert into app_public.webhook_endpoints (url, events) values ('https://hooks.example.com/x', '{ITEM_CREATED}')`,
          )
          await app.query(
            `insert into app_public.activities (type, payload) values ('BROADCAST_MESSAGE', '{"message": "hello"}')`,
          )
        },
        { commit: true },
      )
      // The delivery log is written by the worker (the owner role) only.
      await owner.query(
        `insert into app_public.webhook_deliveries (tenant_id, endpoint_id, activity_id, event_type)
         select tenant_id, id, 1, 'ITEM_CREATED' from app_public.webhook_endpoints where tenant_id = $1`,
        [ids.tenantId],
      )
      tenants.push(ids)
    }
    const tenantIds = tenants.map((tenant) => tenant.tenantId)

    const tables = await rows<TableSecurity & { has_tenant_id: boolean; update_column: string | null }>(
      owner,
      `select s.*,
            exists (select from pg_attribute a where a.attrelid = format('app_public.%I', s.table_name)::regclass
                    and a.attname = 'tenant_id' and not a.attisdropped) as has_tenant_id,
            (select a.attname from pg_attribute a where a.attrelid = format('app_public.%I', s.table_name)::regclass
             and a.attnum > 0 and not a.attisdropped
             and has_column_privilege($1, a.attrelid, a.attnum, 'UPDATE') order by a.attnum limit 1) as update_column
     from app_audit.table_security s where s.schema_name = 'app_public' order by s.table_name`,
      [API_ROLE],
    )
    t.ok(tables.length >= 7, `app_public has ${tables.length} tables`)

    t.test(
      'the seed puts rows of both tenants in every app_public table (as the owner, who bypasses RLS)',
      async (t) => {
        for (const table of tables) {
          if (table.has_tenant_id) {
            const [seeded] = await rows<{ n: number }>(
              owner,
              `select count(distinct tenant_id)::int as n from app_public.${table.table_name} where tenant_id = any ($1::uuid[])`,
              [tenantIds],
            )
            t.equal(
              seeded!.n,
              2,
              `${table.table_name} has rows of both tenants (extend the seed above for a new table)`,
            )
          } else {
            const [seeded] = await rows<{ n: number }>(
              owner,
              `select count(*)::int as n from app_public.${table.table_name}`,
            )
            t.ok(seeded!.n >= 2, `${table.table_name} has rows (extend the seed above for a new table)`)
          }
        }
      },
    )

    t.test("with a real request context, tenantry_app does read its own tenant's rows (the control)", async (t) => {
      const a = tenants[0]!
      await withApiRole(app, a, async () => {
        for (const table of tables.filter((table) => table.select_granted)) {
          const [visible] = await rows<{ n: number }>(
            app,
            `select count(*)::int as n from app_public.${table.table_name}`,
          )
          t.ok(visible!.n > 0, `${table.table_name}: ${visible!.n} row(s) visible`)
        }
      })
    })

    const variants: [string, Record<string, string>][] = [
      ['no settings', {}],
      ['empty settings', { 'app.tenant_id': '', 'app.user_id': '', 'app.role': '' }],
      ['garbage settings', { 'app.tenant_id': 'not-a-uuid', 'app.user_id': 'not-a-uuid', 'app.role': 'superadmin' }],
    ]
    for (const [variant, settings] of variants) {
      t.test(`${variant}: no row read, updated or deleted in any app_public table`, async (t) => {
        // A fresh connection: nothing set on it before, by this test or any other.
        const fresh = await connect(t, db.appUrl)
        await fresh.query('begin')
        try {
          for (const [key, value] of Object.entries(settings))
            await fresh.query('select set_config($1, $2, true)', [key, value])
          for (const table of tables) {
            // plans needs only a user id, which none of these variants gives: it reads 0 rows too.
            const name = `app_public.${table.table_name}`
            if (table.select_granted) {
              const [read] = await rows<{ n: number }>(fresh, `select count(*)::int as n from ${name}`)
              t.equal(read!.n, 0, `${variant}: select from ${name}`)
            } else {
              await t.rejects(
                fresh.query(`select count(*) from ${name}`),
                { code: '42501' },
                `${variant}: select from ${name} is denied by grants`,
              )
            }
            if (table.update_column) {
              const column = table.update_column
              const updated = await fresh.query(`update ${name} set "${column}" = "${column}"`)
              t.equal(updated.rowCount, 0, `${variant}: update ${name}`)
            }
            if (table.delete_granted) {
              const deleted = await fresh.query(`delete from ${name}`)
              t.equal(deleted.rowCount, 0, `${variant}: delete from ${name}`)
            }
          }
        } finally {
          await fresh.query('rollback')
        }
      })
    }
  },
)
