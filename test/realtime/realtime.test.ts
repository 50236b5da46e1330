import t from 'tap'
import { addMember, buildTestApp, call, registerTenant } from '../helpers/app.ts'
import { connect } from '../helpers/db.ts'
import { forgeJwt } from '../helpers/jwt.ts'
import { type Activity, connectSocket, listen, sleep, untilLive } from '../helpers/realtime.ts'

t.test(
  'the handshake refuses a missing, forged, expired or revoked token and a non-member, with a problem',
  async (t) => {
    const { app, config } = await buildTestApp(t)
    const base = await listen(app)
    const owner = await registerTenant(app)
    const member = await addMember(app, owner, 'member')

    const refused = async (token: string) => {
      const socket = connectSocket(t, base, token, { reconnection: false })
      const error = await socket.waitFor((r) => r.event === 'connect_error')
      socket.close()
      return error.data as { type: string; status: number; detail: string }
    }
    t.match(await refused(''), { type: '/problems/unauthorized', status: 401 }, 'no token')
    t.match(await refused('not-a-jwt'), { type: '/problems/invalid-token', status: 401 }, 'garbage')
    const claims = {
      sub: owner.user.id,
      tenant_id: owner.tenant.id,
      sid: '00000000-0000-4000-8000-000000000000',
      role: 'owner',
      iss: config.JWT_ISSUER,
      aud: config.JWT_AUDIENCE,
      iat: Math.floor(Date.now() / 1000),
      exp: Math.floor(Date.now() / 1000) + 60,
    }
    t.match(await refused(forgeJwt(claims)), { type: '/problems/invalid-token' }, 'signed with another key')
    t.match(
      await refused(forgeJwt(claims, { secret: config.JWT_SECRET })),
      { type: '/problems/unauthorized' },
      'a session that does not exist',
    )
    t.match(
      await refused(forgeJwt({ ...claims, exp: claims.iat - 10 }, { secret: config.JWT_SECRET })),
      { type: '/problems/invalid-token', detail: /expired/ },
      'expired',
    )
    t.match(
      await refused(forgeJwt(claims, { secret: config.JWT_SECRET, alg: 'none' })),
      { type: '/problems/invalid-token' },
      'alg none',
    )

    t.equal((await call(app, member, 'POST', '/v1/auth/logout')).statusCode, 204)
    t.match(await refused(member.accessToken), { type: '/problems/unauthorized', status: 401 }, 'logged-out session')
  },
)

t.test(
  'each socket receives its tenant events, as REST returns them; INVITATION_* only for admins and owners',
  async (t) => {
    const { app } = await buildTestApp(t)
    const base = await listen(app)
    const owner = await registerTenant(app)
    const viewer = await addMember(app, owner, 'viewer')
    const other = await registerTenant(app)
    const ownerSocket = connectSocket(t, base, owner.accessToken)
    const viewerSocket = connectSocket(t, base, viewer.accessToken)
    const otherSocket = connectSocket(t, base, other.accessToken)
    await Promise.all([untilLive(ownerSocket), untilLive(viewerSocket), untilLive(otherSocket)])

    const item = (await call(app, owner, 'POST', '/v1/items', { name: 'live one' })).json()
    const invite = (
      await call(app, owner, 'POST', '/v1/invitations', { email: 'x@example.com', role: 'member' })
    ).json()
    await call(app, owner, 'POST', '/v1/tenant/broadcasts', { message: 'done' })
    await ownerSocket.waitFor((r) => r.event === 'BROADCAST_MESSAGE')
    await viewerSocket.waitFor((r) => r.event === 'BROADCAST_MESSAGE')

    const rest = (await call(app, owner, 'GET', '/v1/activities?after=0&limit=100')).json().data as Activity[]
    const pushed = ownerSocket.activities()
    t.same(pushed, rest.slice(-3), 'the owner receives each activity exactly as GET /v1/activities returns it')
    t.same(
      pushed.map((a) => a.type),
      ['ITEM_CREATED', 'INVITATION_CREATED', 'BROADCAST_MESSAGE'],
    )
    t.equal(pushed[0]!.target, item.id)
    t.equal(pushed[1]!.target, invite.id)
    t.same(
      viewerSocket.activities().map((a) => a.type),
      ['ITEM_CREATED', 'BROADCAST_MESSAGE'],
      'the viewer does not receive INVITATION_CREATED (it carries the email)',
    )
    const viewerRest = await call(app, viewer, 'GET', '/v1/activities?type=INVITATION_CREATED')
    t.same(viewerRest.json().data, [], 'and GET /v1/activities gives the viewer no INVITATION_* either')
    const viewerAfter = (await call(app, viewer, 'GET', '/v1/activities?after=0&limit=100')).json().data as Activity[]
    t.notOk(
      viewerAfter.some((a) => a.type.startsWith('INVITATION_')),
      'nor the gap fill',
    )
    await sleep(200)
    t.same(otherSocket.activities(), [], 'another tenant receives nothing')
  },
)

t.test('lastEventId replays what was missed in commit order, with no duplicate at the seam', async (t) => {
  const { app } = await buildTestApp(t)
  const base = await listen(app)
  const owner = await registerTenant(app)
  const first = connectSocket(t, base, owner.accessToken)
  await untilLive(first)
  await call(app, owner, 'POST', '/v1/items', { name: 'before' })
  const seen = await first.waitFor((r) => r.event === 'ITEM_CREATED')
  first.close()
  // A socket that stays proves this instance has passed the missed events before the
  // reconnect; otherwise some would (correctly) arrive live instead of as replay.
  const watcher = connectSocket(t, base, owner.accessToken)
  await untilLive(watcher)

  for (let i = 0; i < 5; i++) await call(app, owner, 'POST', '/v1/items', { name: `missed ${i}` })
  await watcher.waitFor((r) => (r.data as Activity)?.payload?.name === 'missed 4')
  const second = connectSocket(t, base, owner.accessToken, { lastEventId: (seen.data as Activity).id })
  await untilLive(second)
  await call(app, owner, 'POST', '/v1/items', { name: 'after' })
  await second.waitFor((r) => (r.data as Activity)?.payload?.name === 'after')
  t.same(
    second.activities().map((a) => a.payload.name),
    ['missed 0', 'missed 1', 'missed 2', 'missed 3', 'missed 4', 'after'],
    'the missed events, then live ones, each once',
  )
  const live = second.received.findIndex((r) => r.event === 'live')
  t.equal(
    second.received.slice(0, live).filter((r) => r.event === 'ITEM_CREATED').length,
    5,
    'the replay comes before the live event',
  )
})

t.test('a client too far behind gets one resync_required, never a silent truncation', async (t) => {
  const { app } = await buildTestApp(t, { env: { REALTIME_REPLAY_LIMIT: '3' } })
  const base = await listen(app)
  const owner = await registerTenant(app)
  // A live socket of the same tenant proves this instance has passed the burst before the
  // late one connects; otherwise part of the burst would (correctly) arrive live instead.
  const watcher = connectSocket(t, base, owner.accessToken)
  await untilLive(watcher)
  const anchor = (await call(app, owner, 'POST', '/v1/tenant/broadcasts', { message: 'anchor' })).json()
  for (let i = 0; i < 10; i++) await call(app, owner, 'POST', '/v1/items', { name: `n${i}` })
  await watcher.waitFor((r) => (r.data as Activity)?.payload?.name === 'n9')
  const behind = connectSocket(t, base, owner.accessToken, { lastEventId: anchor.id })
  await untilLive(behind)
  t.same(
    behind.received.filter((r) => r.event !== 'connect').map((r) => r.event),
    ['resync_required', 'live'],
    'one resync_required instead of a partial replay',
  )
  await call(app, owner, 'POST', '/v1/items', { name: 'next' })
  await behind.waitFor((r) => r.event === 'ITEM_CREATED')
  t.equal(behind.activities().length, 1, 'then live events')

  const unknown = connectSocket(t, base, owner.accessToken, { lastEventId: 987_654_321 })
  await untilLive(unknown)
  t.ok(
    unknown.received.some((r) => r.event === 'resync_required'),
    'an unknown lastEventId (or another tenant’s) is a resync too',
  )
})

t.test('GET /v1/activities?after= pages in commit order; an unknown after is a 404', async (t) => {
  const { app } = await buildTestApp(t)
  const owner = await registerTenant(app)
  for (let i = 0; i < 7; i++) await call(app, owner, 'POST', '/v1/items', { name: `p${i}` })
  const all = (await call(app, owner, 'GET', '/v1/activities?after=0&limit=100')).json().data as Activity[]
  const names: unknown[] = []
  let url = `/v1/activities?after=${all[0]!.id}&limit=3`
  for (;;) {
    const page = (await call(app, owner, 'GET', url)).json()
    names.push(...page.data.map((a: Activity) => a.payload.name))
    if (!page.nextCursor) break
    url = `/v1/activities?after=${all[0]!.id}&limit=3&cursor=${page.nextCursor}`
  }
  t.same(names, ['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6'], 'every event after the first, once, in order')
  const missing = await call(app, owner, 'GET', '/v1/activities?after=999999')
  t.equal(missing.statusCode, 404)
  t.equal(missing.json().type, '/problems/not-found')
  const bad = await call(app, owner, 'GET', '/v1/activities?after=1&cursor=WzEsMl0')
  t.equal(bad.statusCode, 400, 'a cursor of the wrong shape is a 400')
})

t.test('a token that expires disconnects the socket unless a fresh one was sent with auth', async (t) => {
  // Expiry is in whole seconds: the fresh token is minted 2 s later, so it outlives the first by
  // at least 2 s, and the auth message has about 4 s to arrive before the first expires.
  const { app } = await buildTestApp(t, { env: { ACCESS_TOKEN_TTL: '6' } })
  const base = await listen(app)
  const owner = await registerTenant(app)
  const stale = connectSocket(t, base, owner.accessToken, { reconnection: false })
  const fresh = connectSocket(t, base, owner.accessToken, { reconnection: false })
  await Promise.all([untilLive(stale), untilLive(fresh)])
  await sleep(2100)
  const refreshed = (await call(app, null, 'POST', '/v1/auth/refresh', { refreshToken: owner.refreshToken })).json()
  const ack = await fresh.socket.timeout(5000).emitWithAck('auth', { token: refreshed.accessToken })
  t.match(ack, { ok: true, role: 'owner' }, 'the fresh token is accepted')
  const wrong = await fresh.socket.timeout(5000).emitWithAck('auth', { token: 'nope' })
  t.match(wrong, { ok: false, problem: { type: '/problems/invalid-token' } }, 'a bad one is refused, the old one stays')

  const revoked = await stale.waitFor((r) => r.event === 'revoked', 10_000)
  t.match(revoked.data, { type: '/problems/invalid-token', detail: /expired/ })
  await stale.waitFor((r) => r.event === 'disconnect')
  t.notOk(
    fresh.received.some((r) => r.event === 'revoked'),
    'the socket that sent a fresh token is still connected',
  )
  t.ok(fresh.socket.connected)
})

t.test('/ready is 503 while the LISTEN connection is down and reports the NOTIFY queue usage', async (t) => {
  const { app, db } = await buildTestApp(t)
  const ready = await app.inject({ url: '/ready' })
  t.equal(ready.statusCode, 200)
  t.match(ready.json(), {
    checks: { database: true, realtimeListener: true, notifyQueue: true },
    values: { notifyQueue: 0 },
  })

  const root = await connect(t, db.rootUrl)
  // New connections to this database are refused (the pool keeps its own): the listener cannot come back.
  await root.query(`revoke connect on database ${db.name} from tenantry_app`)
  await root.query(
    `select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and application_name = 'tenantry_realtime_listener'`,
  )
  let down = await app.inject({ url: '/ready' })
  for (let i = 0; i < 50 && down.statusCode === 200; i++) {
    await sleep(20)
    down = await app.inject({ url: '/ready' })
  }
  t.equal(down.statusCode, 503)
  t.match(down.json(), { status: 'unavailable', checks: { realtimeListener: false } })
  await root.query(`grant connect on database ${db.name} to tenantry_app`)
  let up = down
  for (let i = 0; i < 100 && up.statusCode !== 200; i++) {
    await sleep(50)
    up = await app.inject({ url: '/ready' })
  }
  t.equal(up.statusCode, 200, 'and ready again once it reconnects, without a restart')
})

t.test('app.close() disconnects sockets instead of hanging', async (t) => {
  const { app } = await buildTestApp(t)
  const base = await listen(app)
  const owner = await registerTenant(app)
  const socket = connectSocket(t, base, owner.accessToken, { reconnection: false })
  await untilLive(socket)
  const started = performance.now()
  await app.close()
  const took = performance.now() - started
  t.ok(took < 2000, `closed in ${took.toFixed(0)} ms with a socket connected`)
  await socket.waitFor((r) => r.event === 'disconnect')
})
