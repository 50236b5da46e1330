/**
 * Reads in one statement (issue 20; DESIGN.md, "Performance: one round trip per read"): each
 * read route calls one app_api function that sets the request context and returns the body. These
 * are the properties that make it safe without BEGIN/COMMIT around it.
 */
import { sql } from 'slonik'
import t from 'tap'
import { z } from 'zod'
import { addMember, buildTestApp, call, registerTenant } from '../helpers/app.ts'
import { connect, whoOf } from '../helpers/db.ts'

const settings = `select current_setting('app.tenant_id', true) as tenant,
  current_setting('app.user_id', true) as "user", current_setting('app.role', true) as role`
const settingsQuery = sql.unsafe`select current_setting('app.tenant_id', true) as tenant,
  current_setting('app.user_id', true) as "user", current_setting('app.role', true) as role`
const list = `select body from app_api.list_items($1::uuid, $2::uuid, $3::uuid, 'viewer', 20, null, null, 1048576)`

t.test('one-statement reads', async (t) => {
  // One pooled connection: every request and the probe below share it.
  const { app, db } = await buildTestApp(t, { env: { DATABASE_POOL_SIZE: '1' } })
  const owner = await registerTenant(app)
  for (const name of ['one', 'two', 'three']) {
    t.equal((await call(app, owner, 'POST', '/v1/items', { name })).statusCode, 201)
  }

  t.test('a connection reused right after a read carries no app.* setting', async (t) => {
    const read = await call(app, owner, 'GET', '/v1/items')
    t.equal(read.statusCode, 200)
    t.equal(read.json().data.length, 3)
    const Settings = z.object({
      tenant: z.string().nullable(),
      user: z.string().nullable(),
      role: z.string().nullable(),
    })
    const left = Settings.parse(await app.db.one(settingsQuery))
    // After a transaction-local set_config ends, the placeholder reads '' (or null if never set).
    t.same(
      Object.values(left).map((value) => value ?? ''),
      ['', '', ''],
      `the pool's only connection, next in line: ${JSON.stringify(left)}`,
    )
  })

  t.test('the same on a bare connection, call by call', async (t) => {
    const api = await connect(t, db.appUrl)
    const who = whoOf(owner)
    const { rows } = await api.query(list, [who.tenantId, who.userId, who.sessionId])
    t.equal(JSON.parse(rows[0].body).data.length, 3, 'the call read the tenant under its context')
    const after = (await api.query(settings)).rows[0]
    t.same([after.tenant ?? '', after.user ?? '', after.role ?? ''], ['', '', ''], 'and left nothing behind')
    t.same((await api.query('select count(*)::int as n from app_public.items')).rows[0].n, 0, 'so RLS shows nothing')
  })

  t.test('a revoked session gets its 401 with 0 rows', async (t) => {
    const other = await registerTenant(app)
    await call(app, other, 'POST', '/v1/items', { name: 'secret' })
    t.equal((await call(app, other, 'POST', '/v1/auth/logout')).statusCode, 204)
    const res = await call(app, other, 'GET', '/v1/items')
    t.equal(res.statusCode, 401)
    t.notMatch(res.body, /secret/, 'no item in the answer')
    const api = await connect(t, db.appUrl)
    const who = whoOf(other)
    const error = await api.query(list, [who.tenantId, who.userId, who.sessionId]).then(
      (result) => ({ code: 'none', rows: result.rowCount }),
      (caught: { code?: string }) => ({ code: caught.code, rows: 0 }),
    )
    t.same(error, { code: 'TN401', rows: 0 }, 'begin_request raised before any row was read')
    const role = await call(app, other, 'GET', '/v1/tenant')
    t.equal(role.statusCode, 401, 'the tenant read as well')
  })

  t.test('RLS still decides: a dropped policy turns the read path red', async (t) => {
    const root = await connect(t, db.rootUrl)
    const who = whoOf(owner)
    const read = async (ddl: string) => {
      await root.query('begin')
      try {
        await root.query(ddl)
        await root.query('set local role tenantry_app')
        const { rows } = await root.query(list, [who.tenantId, who.userId, who.sessionId])
        return JSON.parse(rows[0].body).data.map((item: { name: string }) => item.name)
      } finally {
        await root.query('rollback')
      }
    }
    t.same(await read('select'), ['three', 'two', 'one'], 'with the policies as migrated')
    t.same(
      await read('drop policy select_viewer on app_public.items'),
      [],
      'without the select policy, the function shows nothing: it reads with the caller’s rights',
    )
    const res = await call(app, owner, 'GET', '/v1/items')
    t.equal(res.json().data.length, 3, 'and after the rollback the API reads as before')
  })

  t.test('an API key reads through the same statement, and leaves nothing behind', async (t) => {
    const created = await call(app, owner, 'POST', '/v1/api-keys', { name: 'reader', role: 'viewer' })
    t.equal(created.statusCode, 201)
    const key = created.json() as { id: string; key: string }
    const read = await app.inject({ method: 'GET', url: '/v1/items', headers: { authorization: `Bearer ${key.key}` } })
    t.equal(read.statusCode, 200)
    t.equal(read.json().data.length, 3, 'the key read its tenant')
    const left = await app.db.one(
      sql.unsafe`select current_setting('app.tenant_id', true) as tenant, current_setting('app.api_key_id', true) as key,
        current_setting('app.role', true) as role`,
    )
    t.same(
      Object.values(left as Record<string, string | null>).map((value) => value ?? ''),
      ['', '', ''],
      `the pool's only connection, next in line: ${JSON.stringify(left)}`,
    )
    const api = await connect(t, db.appUrl)
    const asKey = (keyId: string) =>
      api.query(list, [owner.tenant.id, null, keyId]).then(
        (result) => `read ${JSON.parse(result.rows[0].body).data.length}`,
        (error: { code?: string }) => `${error.code}`,
      )
    t.equal(await asKey(key.id), 'read 3', 'no user and the key in the session’s place: begin_key_request')
    const after = (await api.query(`${settings}, current_setting('app.api_key_id', true) as key`)).rows[0]
    t.same([after.tenant ?? '', after.user ?? '', after.role ?? '', after.key ?? ''], ['', '', '', ''], 'nothing left')
    t.equal(await asKey(whoOf(owner).sessionId), 'TN401', 'a session id is no key')
    t.equal((await call(app, owner, 'DELETE', `/v1/api-keys/${key.id}`)).statusCode, 204)
    t.equal(await asKey(key.id), 'TN401', 'a revoked key: refused before any row is read')
  })

  t.test('a role below the route’s minimum is refused before the query', async (t) => {
    const viewer = await addMember(app, owner, 'viewer')
    const api = await connect(t, db.appUrl)
    const who = whoOf(viewer)
    const asViewer = (minimum: string) =>
      api
        .query(
          `select body from app_api.list_items($1::uuid, $2::uuid, $3::uuid, $4::app_public.membership_role, 20, null, null, 1048576)`,
          [who.tenantId, who.userId, who.sessionId, minimum],
        )
        .then(
          (result) => `read ${JSON.parse(result.rows[0].body).data.length}`,
          (error: { code?: string; message: string }) => `${error.code}: ${error.message}`,
        )
    t.equal(await asViewer('viewer'), 'read 3', 'a viewer reads what viewers may')
    t.equal(
      await asViewer('member'),
      'TN403: this requires the member role or higher; you are a viewer',
      'and is refused, with the API’s message, where the route wants a member',
    )
  })
})

t.test('the suite checks what the database builds against OpenAPI, and can fail', async (t) => {
  const mismatches: string[] = []
  const { app, db } = await buildTestApp(t, { openApiMismatch: (message) => mismatches.push(message) })
  const owner = await registerTenant(app)
  const created = await call(app, owner, 'POST', '/v1/items', { name: 'checked' })
  t.same(mismatches, [], 'as migrated, every body matches')
  const root = await connect(t, db.rootUrl)
  // A builder that drifts from the contract: `name` renamed.
  await root.query(`create or replace function app_api.item_json(p_item app_public.items) returns json
    language sql stable set search_path = pg_catalog as $$
      select row_to_json(r) from (select (p_item).id, (p_item).name as title, (p_item).payload,
        app_api.iso((p_item).created_at) as "createdAt", app_api.iso((p_item).updated_at) as "updatedAt",
        (p_item).created_by as "createdBy") r $$`)
  const read = await call(app, owner, 'GET', `/v1/items/${created.json().id}`)
  t.equal(read.statusCode, 200)
  t.match(mismatches, [/GET \/v1\/items\/:id 200: the body does not match OpenAPI: .*name/], String(mismatches))
})
