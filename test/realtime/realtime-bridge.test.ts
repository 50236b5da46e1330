import t from 'tap'
import { addMember, buildTestApp, call, registerTenant } from '../helpers/app.ts'
import { connect, whoOf } from '../helpers/db.ts'

/*
 * The realtime bridge functions, read as tenantry_app reads them: positions without a sentinel
 * row, and one rule (app_private.session_standing) for "may this session still be here", so
 * the hub's periodic check and begin_request never disagree.
 */

t.test('realtime_committed_after returns positions only: no NULL row when nothing is new', async (t) => {
  const { app, db } = await buildTestApp(t)
  const owner = await registerTenant(app)
  t.equal((await call(app, owner, 'POST', '/v1/items', { name: 'one' })).statusCode, 201)
  const api = await connect(t, db.appUrl)
  const all = await api.query(`select * from app_private.realtime_committed_after('0'::xid8, 0, 10000)`)
  t.ok(all.rows.length > 0, 'the activities so far')
  t.same(
    all.fields.map((f) => f.name),
    ['tenant_id', 'tx', 'seq'],
    'tenant and position, nothing unread',
  )
  t.ok(
    all.rows.every((row) => row.tenant_id && row.tx && row.seq !== null),
    'no column is NULL',
  )
  const last = all.rows.at(-1)!
  const none = await api.query(`select * from app_private.realtime_committed_after($1::xid8, $2, 10000)`, [
    last.tx,
    last.seq,
  ])
  t.equal(none.rowCount, 0, 'nothing after the last position: no rows at all')
})

t.test('begin_request and the hub check give the same verdict for every session state', async (t) => {
  const { app, db } = await buildTestApp(t)
  const owner = await registerTenant(app)
  const live = await addMember(app, owner, 'member')
  const loggedOut = await addMember(app, owner, 'member')
  // The free plan allows three members: the removed one is in a tenant of its own.
  const other = await registerTenant(app)
  const removed = await addMember(app, other, 'viewer')
  const suspended = await registerTenant(app)
  t.equal((await call(app, loggedOut, 'POST', '/v1/auth/logout')).statusCode, 204)
  t.equal((await call(app, other, 'DELETE', `/v1/members/${removed.user.id}`)).statusCode, 204)
  const root = await connect(t, db.rootUrl)
  await root.query('update app_public.tenants set suspended_at = now() where id = $1', [suspended.tenant.id])

  const api = await connect(t, db.appUrl)
  const sessions = { owner, live, loggedOut, removed, suspended }
  const verdicts: Record<string, unknown> = {}
  for (const [name, session] of Object.entries(sessions)) {
    const who = whoOf(session)
    let request: { refusal: string | null; message: string | null; role: string | null }
    try {
      await api.query('begin')
      const { rows } = await api.query('select app_private.begin_request($1, $2, $3) as role', [
        who.tenantId,
        who.userId,
        who.sessionId,
      ])
      request = { refusal: null, message: null, role: rows[0].role }
    } catch (error) {
      const { code, message } = error as { code: string; message: string }
      request = { refusal: code, message, role: null }
    } finally {
      await api.query('rollback')
    }
    const { rows } = await api.query(
      'select role, refusal, message from app_private.realtime_check_sessions(array[$1]::uuid[])',
      [who.sessionId],
    )
    t.same(rows[0], request, `${name}: the hub's check says what begin_request does`)
    verdicts[name] = request.refusal ?? request.role
  }
  t.same(verdicts, { owner: 'owner', live: 'member', loggedOut: 'TN401', removed: 'TN401', suspended: 'TNSUS' })
})
