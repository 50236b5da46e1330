/**
 * Typed activity payloads (issue 22, item 3): every activity type's payload, exactly as its
 * trigger writes it, matches that type's schema — a closed object, so a key a trigger adds or
 * drops without its schema fails here — over REST (the list, `?after=` gap fill, one activity)
 * and over Socket.IO, which send the same objects.
 */
import t from 'tap'
import { ACTIVITY_TYPES, Activity } from '../../src/activities/schemas.ts'
import { addMember, buildTestApp, call, registerTenant } from '../helpers/app.ts'
import { connectSocket, listen, untilLive } from '../helpers/realtime.ts'

t.test('every activity type, as PostgreSQL writes it, matches its payload schema', async (t) => {
  const { app, factories } = await buildTestApp(t)
  const owner = await registerTenant(app)
  const ok = async (res: Promise<{ statusCode: number; body: string }>, what: string) => {
    const done = await res
    if (done.statusCode >= 300) throw new Error(`${what}: ${done.statusCode} ${done.body}`)
    return JSON.parse(done.body || 'null')
  }
  // One of each, people and keys acting.
  await ok(call(app, owner, 'PUT', '/v1/tenant/plan', { plan: 'pro' }), 'upgrade')
  const member = await addMember(app, owner, 'member')
  await ok(call(app, owner, 'PATCH', `/v1/members/${member.user.id}`, { role: 'viewer' }), 'role')
  await ok(call(app, member, 'DELETE', `/v1/members/${member.user.id}`), 'leave')
  await ok(call(app, owner, 'PATCH', '/v1/tenant', { name: 'Typed' }), 'rename')
  await ok(call(app, owner, 'POST', '/v1/tenant/broadcasts', { message: 'typed' }), 'broadcast')
  const invitation = await ok(
    call(app, owner, 'POST', '/v1/invitations', { email: 'p@example.com', role: 'viewer' }),
    'invite',
  )
  await ok(call(app, owner, 'DELETE', `/v1/invitations/${invitation.id}`), 'revoke invitation')
  const key = await ok(
    call(app, owner, 'POST', '/v1/api-keys', { name: 'typed', role: 'admin', expiresAt: '2099-01-01T00:00:00Z' }),
    'key',
  )
  const item = await ok(call(app, { accessToken: key.key }, 'POST', '/v1/items', { name: 'one' }), 'item')
  await ok(call(app, { accessToken: key.key }, 'PATCH', `/v1/items/${item.id}`, { name: 'two' }), 'item update')
  await ok(call(app, { accessToken: key.key }, 'DELETE', `/v1/items/${item.id}`), 'item delete')
  await ok(call(app, owner, 'PATCH', `/v1/api-keys/${key.id}`, { name: 'typed 2', role: 'viewer' }), 'key update')
  await ok(call(app, owner, 'DELETE', `/v1/api-keys/${key.id}`), 'key revoke')
  await factories.root.query('update app_public.tenants set suspended_at = now() where id = $1', [owner.tenant.id])
  await factories.root.query('update app_public.tenants set suspended_at = null where id = $1', [owner.tenant.id])
  await ok(call(app, owner, 'PUT', '/v1/tenant/plan', { plan: 'free' }), 'downgrade')
  // The worker gives up on an endpoint (no worker runs here: its definer function, as the worker calls it).
  const hook = await ok(
    call(app, owner, 'POST', '/v1/webhooks', { url: 'https://hooks.example.com/typed', events: ['ITEM_CREATED'] }),
    'webhook',
  )
  await factories.root.query(`select app_private.disable_webhook($1, $2, '11 attempts failed; the last: HTTP 500')`, [
    owner.tenant.id,
    hook.id,
  ])

  const listed = (await ok(call(app, owner, 'GET', '/v1/activities?limit=100'), 'list')).data as unknown[]
  const gapFill = (await ok(call(app, owner, 'GET', '/v1/activities?after=0&limit=100'), 'after')).data as unknown[]
  const seen = new Set<string>()
  for (const [how, rows] of [
    ['GET /v1/activities', listed],
    ['GET /v1/activities?after=0', gapFill],
  ] as const) {
    const failures = rows.flatMap((row) => {
      const parsed = Activity.safeParse(row)
      if (parsed.success) seen.add(parsed.data.type)
      return parsed.success ? [] : [`${JSON.stringify(row)}: ${parsed.error.message}`]
    })
    t.same(failures, [], `${how}: all ${rows.length} activities parse, each with its type's schema`)
  }
  t.same([...seen].sort(), [...ACTIVITY_TYPES].sort(), `all ${ACTIVITY_TYPES.length} types were written and checked`)
  const one = await ok(call(app, owner, 'GET', `/v1/activities/${(listed[0] as { id: number }).id}`), 'one')
  t.ok(Activity.safeParse(one).success, 'GET /v1/activities/:id too')

  // Replayed from the first activity (the owner joining): every later one comes over the socket.
  const first = Math.min(...listed.map((row) => (row as { id: number }).id))
  const socket = connectSocket(t, await listen(app), owner.accessToken, { lastEventId: first })
  await untilLive(socket)
  const events = socket.activities()
  t.equal(events.length, listed.length - 1, 'the socket replayed the whole log after the first')
  t.same(
    events.filter((event) => !Activity.safeParse(event).success),
    [],
    'Socket.IO events parse with the same schemas',
  )

  // Webhooks send every type to endpoints that ask for it, because an admin may read every type:
  // a policy that hid one from admins would have to hide it from webhooks too.
  const admin = await addMember(app, owner, 'admin')
  const asAdmin = (await ok(call(app, admin, 'GET', '/v1/activities?limit=100'), 'as admin')).data as { type: string }[]
  t.same(
    [...new Set(asAdmin.map((a) => a.type))].sort(),
    [...ACTIVITY_TYPES].sort(),
    'an admin (not an owner) reads every activity type: what webhooks may deliver',
  )
  // The check can fail: a payload with one key more, or one less, is refused.
  const item0 = listed.find((row) => (row as { type: string }).type === 'ITEM_CREATED') as { payload: object }
  t.notOk(Activity.safeParse({ ...item0, payload: { ...item0.payload, extra: 1 } }).success, 'an extra key fails')
  t.notOk(Activity.safeParse({ ...item0, payload: {} }).success, 'a missing key fails')
})
