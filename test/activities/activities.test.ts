import type pg from 'pg'
import t from 'tap'
import { addMember, buildTestApp, call, PASSWORD, registerTenant, type Session } from '../helpers/app.ts'
import { connect, whoOf, withApiRole } from '../helpers/db.ts'
import { invitationToken } from '../helpers/mail.ts'

type Notification = { tenantId: string; id: number; type: string }

/** LISTENs on the activity channel and collects payloads. */
async function listen(t: Parameters<typeof connect>[0], url: string) {
  const client = await connect(t, url)
  const received: { payload: Notification; bytes: number }[] = []
  client.on('notification', (message) => {
    if (message.channel === 'tenantry_activity' && message.payload) {
      received.push({ payload: JSON.parse(message.payload), bytes: Buffer.byteLength(message.payload) })
    }
  })
  await client.query('listen tenantry_activity')
  const until = async (count: number) => {
    for (let i = 0; i < 100 && received.length < count; i++) await new Promise((r) => setTimeout(r, 20))
    return received
  }
  /** Waits (up to 2 s) for a notification matching `match`; true when it came. */
  const heard = async (match: (n: Notification) => boolean) => {
    for (let i = 0; i < 100; i++) {
      if (received.some((n) => match(n.payload))) return true
      await new Promise((r) => setTimeout(r, 20))
    }
    return false
  }
  return { received, until, heard }
}

t.test('every change writes its activity in the same transaction and NOTIFYs it', async (t) => {
  const { app, db } = await buildTestApp(t)
  const owner = await registerTenant(app, 'act')
  const other = await registerTenant(app, 'act-other')
  const listener = await listen(t, db.appUrl)
  const actions: [string, () => Promise<unknown>][] = []
  let admin: Session | undefined
  let itemId = ''
  let invitationId = ''

  const step = async (expected: string, action: () => Promise<{ statusCode: number }>) => {
    const res = await action()
    t.ok(res.statusCode < 300, `${expected}: ${res.statusCode}`)
    actions.push([expected, action])
    return res
  }
  await step('PLAN_UPGRADED', () => call(app, owner, 'PUT', '/v1/tenant/plan', { plan: 'pro' }))
  const adminInvite = await step('INVITATION_CREATED', () =>
    call(app, owner, 'POST', '/v1/invitations', { email: 'act-admin@example.com', role: 'admin' }),
  )
  const adminToken = await invitationToken(app, (adminInvite as unknown as { json: () => { id: string } }).json().id)
  const accepted = await step('USER_JOINED', () =>
    app.inject({
      method: 'POST',
      url: '/v1/invitations/accept',
      payload: { token: adminToken, name: 'Ada', password: PASSWORD },
    }),
  )
  admin = (accepted as unknown as { json: () => Session }).json()
  await step('ROLE_CHANGED', () => call(app, owner, 'PATCH', `/v1/members/${admin!.user.id}`, { role: 'member' }))
  await step('TENANT_UPDATED', () => call(app, owner, 'PATCH', '/v1/tenant', { name: 'Renamed' }))
  await step('BROADCAST_MESSAGE', () =>
    call(app, owner, 'POST', '/v1/tenant/broadcasts', { message: 'hello everyone' }),
  )
  const invite = await step('INVITATION_CREATED', () =>
    call(app, owner, 'POST', '/v1/invitations', { email: 'later@example.com', role: 'viewer' }),
  )
  invitationId = (invite as unknown as { json: () => { id: string } }).json().id
  await step('INVITATION_REVOKED', () => call(app, owner, 'DELETE', `/v1/invitations/${invitationId}`))
  const item = await step('ITEM_CREATED', () =>
    // Larger than a NOTIFY payload may be (8000 bytes), within the plan's 16 KiB item cap.
    call(app, admin!, 'POST', '/v1/items', { name: 'thing', payload: { big: 'x'.repeat(15_000) } }),
  )
  itemId = (item as unknown as { json: () => { id: string } }).json().id
  await step('ITEM_UPDATED', () => call(app, admin!, 'PATCH', `/v1/items/${itemId}`, { name: 'thing 2' }))
  await step('ITEM_DELETED', () => call(app, owner, 'DELETE', `/v1/items/${itemId}`))
  await step('USER_REMOVED', () => call(app, owner, 'DELETE', `/v1/members/${admin!.user.id}`))
  await step('PLAN_DOWNGRADED', () => call(app, owner, 'PUT', '/v1/tenant/plan', { plan: 'free' }))
  await call(app, other, 'POST', '/v1/items', { name: 'elsewhere' })

  const expectedTypes = actions.map(([type]) => type)
  const log = (await call(app, owner, 'GET', '/v1/activities?limit=100')).json().data as {
    id: number
    type: string
    actor: string | null
    target: string | null
    tenantId: string
    payload: Record<string, unknown>
  }[]
  const mine = log
    .slice()
    .reverse()
    .filter((a) => a.type !== 'USER_JOINED' || a.target !== owner.user.id)
  t.same(
    mine.map((a) => a.type),
    expectedTypes,
    'one activity per change, in order',
  )
  t.ok(
    log.every((a) => a.tenantId === owner.tenant.id),
    "only this tenant's activities",
  )

  const byType = (type: string) => mine.filter((a) => a.type === type)
  t.match(byType('ROLE_CHANGED')[0], {
    actor: owner.user.id,
    target: admin.user.id,
    payload: { from: 'admin', to: 'member' },
  })
  t.match(byType('USER_JOINED')[0], { actor: admin.user.id, target: admin.user.id, payload: { role: 'admin' } })
  t.match(byType('ITEM_CREATED')[0], { actor: admin.user.id, target: itemId, payload: { name: 'thing' } })
  t.match(byType('ITEM_DELETED')[0], { actor: owner.user.id, target: itemId })
  t.match(byType('BROADCAST_MESSAGE')[0], { actor: owner.user.id, payload: { message: 'hello everyone' } })
  t.match(byType('PLAN_UPGRADED')[0], { payload: { from: 'free', to: 'pro' } })
  t.match(byType('USER_REMOVED')[0], { actor: owner.user.id, target: admin.user.id, payload: { left: false } })
  t.match(byType('INVITATION_REVOKED')[0], { target: invitationId })

  // The listener started after registration: every activity since then was notified once.
  const notes = await listener.until(mine.length + 1)
  const forOwner = notes.filter((n) => n.payload.tenantId === owner.tenant.id)
  t.same(
    forOwner.map((n) => n.payload.id).sort((x, y) => x - y),
    mine.map((a) => a.id).sort((x, y) => x - y),
    'one NOTIFY per activity row',
  )
  t.ok(
    forOwner.every((n) => log.find((a) => a.id === n.payload.id)?.type === n.payload.type),
    'NOTIFY carries the type',
  )
  t.ok(
    notes.every((n) => n.bytes < 200),
    `payloads carry ids only (max ${Math.max(...notes.map((n) => n.bytes))} bytes), whatever the row holds`,
  )
  t.ok(
    notes.some((n) => n.payload.tenantId === other.tenant.id),
    "the other tenant's activity is notified with its own tenant id",
  )
})

t.test('activities are gone with a rolled-back change, and no NOTIFY escapes', async (t) => {
  const { app, db } = await buildTestApp(t)
  const owner = await registerTenant(app)
  const listener = await listen(t, db.appUrl)
  const api = await connect(t, db.appUrl)
  const countItemActivities = () =>
    api.query(`select count(*)::int as n from app_public.activities where type = 'ITEM_CREATED'`)
  const inside = await withApiRole(api, whoOf(owner), async () => {
    await api.query(`insert into app_public.items (name) values ('doomed')`)
    return countItemActivities()
  })
  t.equal(inside.rows[0].n, 1, 'written in the same transaction')
  const after = await withApiRole(api, whoOf(owner), countItemActivities)
  t.equal(after.rows[0].n, 0, 'gone with the rollback')
  // A failed request (plan downgrade that does not fit) leaves no activity either.
  await addMember(app, owner, 'member')
  await addMember(app, owner, 'member')
  await call(app, owner, 'PUT', '/v1/tenant/plan', { plan: 'pro' })
  await addMember(app, owner, 'member')
  const refused = await call(app, owner, 'PUT', '/v1/tenant/plan', { plan: 'free' })
  t.equal(refused.statusCode, 403)
  t.equal(refused.json().type, '/problems/plan-limit-exceeded')
  const log = (await call(app, owner, 'GET', '/v1/activities?type=PLAN_DOWNGRADED')).json()
  t.same(log.data, [])
  // Positive control: the same listener hears a change that commits. Notifications arrive in
  // commit order, so once this one is here, any from the refused and rolled-back changes above
  // would have arrived before it; and a dead listener turns this test red instead of green.
  const control = await call(app, owner, 'POST', '/v1/tenant/broadcasts', { message: 'control' })
  t.equal(control.statusCode, 201)
  t.ok(
    await listener.heard((n) => n.type === 'BROADCAST_MESSAGE' && n.id === control.json().id),
    'the listener is live: the committed broadcast is notified',
  )
  t.notOk(
    listener.received.some((n) => n.payload.type === 'PLAN_DOWNGRADED'),
    'no NOTIFY for the refused downgrade',
  )
  t.notOk(
    listener.received.some((n) => n.payload.type === 'ITEM_CREATED'),
    'no NOTIFY for the rolled-back insert',
  )
})

t.test('the activity log is append-only for the API role', async (t) => {
  const { app, db } = await buildTestApp(t)
  const owner = await registerTenant(app)
  const api: pg.Client = await connect(t, db.appUrl)
  for (const statement of [
    `update app_public.activities set payload = '{}'`,
    'delete from app_public.activities',
    'truncate app_public.activities',
    `insert into app_public.activities (type, payload) values ('USER_JOINED', '{}')`,
  ]) {
    await t.rejects(
      withApiRole(api, whoOf(owner), () => api.query(statement)),
      { code: '42501' },
      statement,
    )
  }
  const member = await addMember(app, owner, 'member')
  const res = await call(app, member, 'POST', '/v1/tenant/broadcasts', { message: 'not allowed' })
  t.equal(res.statusCode, 403, 'members cannot broadcast')
})

t.test('GET /v1/activities: newest first, ?type= filter, ?after= gap fill oldest first', async (t) => {
  const { app } = await buildTestApp(t)
  const owner = await registerTenant(app)
  for (let i = 0; i < 5; i++) await call(app, owner, 'POST', '/v1/items', { name: `item ${i}` })
  const all = (await call(app, owner, 'GET', '/v1/activities')).json().data as { id: number; type: string }[]
  t.same(
    all.map((a) => a.id),
    all.map((a) => a.id).sort((x, y) => y - x),
    'newest first',
  )
  const items = (await call(app, owner, 'GET', '/v1/activities?type=ITEM_CREATED')).json().data as { type: string }[]
  t.equal(items.length, 5)
  t.ok(items.every((a) => a.type === 'ITEM_CREATED'))
  const oldest = all.at(-1)!.id
  const gap = (await call(app, owner, 'GET', `/v1/activities?after=${oldest}&limit=2`)).json()
  t.same(
    gap.data.map((a: { id: number }) => a.id),
    all
      .slice(-3, -1)
      .reverse()
      .map((a) => a.id),
    'the two events after it, oldest first',
  )
  const rest = (await call(app, owner, 'GET', `/v1/activities?after=${oldest}&cursor=${gap.nextCursor}`)).json()
  t.same(
    rest.data.map((a: { id: number }) => a.id),
    all
      .slice(0, -3)
      .reverse()
      .map((a) => a.id),
    'and the rest, continuing from the cursor',
  )
  t.equal(rest.nextCursor, null)
  t.equal((await call(app, owner, 'GET', '/v1/activities?type=NOPE')).statusCode, 400)
})
