import t from 'tap'
import { addMember, buildTestApp, call, registerTenant, type Session } from '../helpers/app.ts'
import { connect } from '../helpers/db.ts'
import { type Activity, connectSocket, type LiveSocket, listen, untilLive } from '../helpers/realtime.ts'

/*
 * Issue 17, seen 7: activity ids and positions counted every tenant's writes. A client may see
 * only its own tenant's numbers, and every position the server hands out must work when handed
 * back (as lastEventId, as after=).
 */

/** The `lastEventId` of the socket's most recent `live` event. */
const liveId = (socket: LiveSocket): number | null => {
  const live = socket.received.filter((r) => r.event === 'live').at(-1)
  if (!live) throw new Error('no live event yet')
  return (live.data as { lastEventId: number | null }).lastEventId
}

/** Connects, waits for `live`, returns the socket and the position `live` carried. */
async function liveSocket(
  t: Parameters<typeof connectSocket>[0],
  base: string,
  session: Session,
  lastEventId?: number | null,
) {
  const socket = connectSocket(t, base, session.accessToken, { lastEventId: lastEventId ?? null, reconnection: false })
  await untilLive(socket)
  return { socket, position: liveId(socket) }
}

const eventsAfterConnect = (socket: LiveSocket) =>
  socket.received.filter((r) => !['connect', 'live'].includes(r.event)).map((r) => r.event)

/** Everything a REST client of the tenant sees of ids and cursors. */
async function restView(app: Parameters<typeof call>[0], session: Session) {
  const get = async (url: string) => {
    const response = await call(app, session, 'GET', url)
    return { status: response.statusCode, body: response.json() }
  }
  return {
    newest: await get('/v1/activities?limit=2'),
    gapFill: await get('/v1/activities?after=0&limit=2'),
    broadcasts: await get('/v1/activities?type=BROADCAST_MESSAGE&limit=1'),
    items: await get('/v1/items?limit=1'),
    members: await get('/v1/members?limit=1'),
  }
}

t.test('a silent socket and a REST client see no change while another tenant writes 1,000 events', async (t) => {
  const { app, db } = await buildTestApp(t)
  const base = await listen(app)
  const a = await registerTenant(app)
  const b = await registerTenant(app)
  // A probe of A is live before A writes: once it has A's last event, A's room is past every
  // one of them, so the silent socket below joins after them (not while the bridge still
  // delivers them, which would hand them to it live).
  const probe = await liveSocket(t, base, a)
  for (const message of ['a1', 'a2', 'a3']) await call(app, a, 'POST', '/v1/tenant/broadcasts', { message })
  await call(app, a, 'POST', '/v1/items', { name: 'a item', payload: {} })
  const aLast = (await call(app, a, 'GET', '/v1/activities?limit=1')).json().data[0] as Activity
  await probe.socket.waitFor((r) => (r.data as Activity)?.id === aLast.id)

  const silent = await liveSocket(t, base, a)
  probe.socket.close()
  const restBefore = await restView(app, a)
  const bSocket = await liveSocket(t, base, b)

  // Action: B writes 1,000 events — 10 through the API, 990 through the same trigger path in SQL.
  const bIds: number[] = []
  for (let i = 0; i < 10; i++) {
    const response = await call(app, b, 'POST', '/v1/tenant/broadcasts', { message: `b${i}` })
    bIds.push((response.json() as Activity).id)
  }
  const root = await connect(t, db.rootUrl)
  for (let batch = 0; batch < 9; batch++) {
    await root.query(
      `select app_private.log_activity($1, 'BROADCAST_MESSAGE', null, pg_catalog.jsonb_build_object('message', 'b' || g), null)
       from pg_catalog.generate_series(1, 110) g`,
      [b.tenant.id],
    )
  }
  const bLast = Number(
    (await root.query('select max(id) as id from app_public.activities where tenant_id = $1', [b.tenant.id])).rows[0]
      .id,
  )
  // The bridge has handed all of them out: B's own socket got the last one.
  await bSocket.socket.waitFor((r) => (r.data as Activity)?.id === bLast, 20_000)
  t.equal(bSocket.socket.activities().length, 1000, "B's socket received B's 1,000 events")

  // Assertions: nothing A sees moved.
  t.same(eventsAfterConnect(silent.socket), [], 'the silent socket received nothing')
  // With no socket of A left on the instance, the next one starts A's room afresh, at the
  // instance's position: after B's writes.
  silent.socket.close()
  while (app.realtime.hub.connectedSockets > 1) await new Promise((resolve) => setTimeout(resolve, 5))
  const again = await liveSocket(t, base, a)
  t.equal(again.position, silent.position, `a fresh socket's live position is still ${silent.position}`)
  const resumed = await liveSocket(t, base, a, silent.position)
  t.same(eventsAfterConnect(resumed.socket), [], 'resuming from it replays nothing')
  t.equal(resumed.position, silent.position, 'and live reports the same position')
  t.same(await restView(app, a), restBefore, 'every id and cursor A reads over REST is unchanged')

  const next = (await call(app, a, 'POST', '/v1/tenant/broadcasts', { message: 'a4' })).json() as Activity
  t.equal(next.id, aLast.id + 1, `A's next activity id is ${aLast.id + 1}, not counting B's writes`)
  const c = await registerTenant(app)
  const cIds = ((await call(app, c, 'GET', '/v1/activities')).json().data as Activity[]).map((x) => x.id)
  t.same(cIds, [1], "a new tenant's first event is id 1")
  t.comment(
    `A: last id ${aLast.id} then ${next.id}; live ${silent.position} before B's 1,000, ${again.position} after; C's first id ${cIds[0]}`,
  )
})

t.test("live's position, handed back, replays nothing and answers after= with 200 []", async (t) => {
  const { app } = await buildTestApp(t)
  const base = await listen(app)
  const other = await registerTenant(app)
  await call(app, other, 'POST', '/v1/tenant/broadcasts', { message: 'elsewhere' })
  const owner = await registerTenant(app)
  const member = await addMember(app, owner, 'member')
  await call(app, owner, 'POST', '/v1/tenant/broadcasts', { message: 'hello' })
  // The newest event is one a member may not read.
  await call(app, owner, 'POST', '/v1/invitations', { email: 'invitee@example.com', role: 'viewer' })
  // A socket that received events live, not only at connect.
  const watching = await liveSocket(t, base, owner)
  await call(app, owner, 'POST', '/v1/tenant/broadcasts', { message: 'while watching' })
  await watching.socket.waitFor((r) => r.event === 'BROADCAST_MESSAGE')
  watching.socket.close()
  const watched = watching.socket.lastEventId()
  // Another tenant writes after every position below was taken.
  await call(app, other, 'POST', '/v1/tenant/broadcasts', { message: 'elsewhere again' })

  const cases: [string, Session, number | null][] = []
  for (const [label, session] of [
    ['owner', owner],
    ['member (newest event unreadable)', member],
  ] as const) {
    const fresh = await liveSocket(t, base, session)
    fresh.socket.close()
    cases.push([`${label}, fresh socket`, session, fresh.position])
  }
  cases.push(['owner, after live events', owner, watched])
  for (const [label, session, position] of cases) {
    t.type(position, 'number', `${label}: live carries a position (${position})`)
    const resumed = await liveSocket(t, base, session, position)
    t.same(eventsAfterConnect(resumed.socket), [], `${label}: handed back as lastEventId, nothing replayed, no resync`)
    t.equal(resumed.position, position, `${label}: live reports the same position again`)
    resumed.socket.close()
    const rest = await call(app, session, 'GET', `/v1/activities?after=${position}`)
    t.same({ status: rest.statusCode, data: rest.json().data }, { status: 200, data: [] }, `${label}: after= → 200 []`)
  }
})

/*
 * Ids are numbered under the tenant-row lock, so they are gap-free per tenant whatever the
 * concurrency. `after=` (and sockets) deliver in position order (the inserting transaction's
 * xid8), which may differ from id order; a client only hands back the last id it received.
 */
t.test("parallel writers of two tenants: each tenant's ids are gap-free and each is delivered once", async (t) => {
  const { app } = await buildTestApp(t)
  const tenants = [await registerTenant(app), await registerTenant(app)]
  const before = await Promise.all(
    tenants.map(async (s) => ((await call(app, s, 'GET', '/v1/activities?limit=1')).json().data[0] as Activity).id),
  )
  // Action: 40 broadcasts and 20 item creates per tenant, all at once. A refused one (429 from
  // the tenant's pool share) writes nothing; a rolled-back one gives its number back.
  const responses = await Promise.all(
    tenants.map((s) =>
      Promise.all([
        ...Array.from({ length: 40 }, (_, i) => call(app, s, 'POST', '/v1/tenant/broadcasts', { message: `m${i}` })),
        ...Array.from({ length: 20 }, (_, i) => call(app, s, 'POST', '/v1/items', { name: `i${i}`, payload: {} })),
      ]),
    ),
  )
  for (const [index, s] of tenants.entries()) {
    const statuses: Record<number, number> = {}
    for (const r of responses[index]!) statuses[r.statusCode] = (statuses[r.statusCode] ?? 0) + 1
    const written = statuses[201] ?? 0
    t.ok(written >= 10, `tenant ${index + 1}: ${JSON.stringify(statuses)}`)
    const ids: number[] = []
    let cursor: string | null = null
    do {
      const page: { data: Activity[]; nextCursor: string | null } = (
        await call(app, s, 'GET', `/v1/activities?after=${before[index]}&limit=100${cursor ? `&cursor=${cursor}` : ''}`)
      ).json()
      ids.push(...page.data.map((x) => x.id))
      cursor = page.nextCursor
    } while (cursor)
    const first = before[index]! + 1
    t.equal(ids.length, written, `tenant ${index + 1}: after= delivers its ${written} events`)
    t.same(
      [...ids].sort((x, y) => x - y),
      Array.from({ length: written }, (_, i) => first + i),
      `tenant ${index + 1}: ids ${first}–${first + written - 1}, each once, no gap`,
    )
  }
})
