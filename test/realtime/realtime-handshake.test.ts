import t from 'tap'
import { buildTestApp, call, registerTenant } from '../helpers/app.ts'
import { forgeJwt } from '../helpers/jwt.ts'
import { connectSocket, listen, untilLive } from '../helpers/realtime.ts'

/*
 * The handshake's database work is one transaction: the session check (begin_request), the
 * lastEventId's position, the replay and the id `live` reports. Counted on the real pool the hub
 * and the handshake share: every withTenantContext is one transaction.
 */
t.test('a connect, with or without a replay, opens one begin_request transaction', async (t) => {
  const { app } = await buildTestApp(t)
  const base = await listen(app)
  const owner = await registerTenant(app)
  for (const name of ['one', 'two', 'three']) {
    t.equal((await call(app, owner, 'POST', '/v1/items', { name })).statusCode, 201)
  }
  const ids = ((await call(app, owner, 'GET', '/v1/activities?after=0&limit=100')).json().data as { id: number }[]).map(
    (a) => a.id,
  )

  // app.db is the pool behind a Proxy (src/db/pool.ts) that hands every use to the pool's own
  // `connect`: read and replaced past the Proxy's get trap, it counts each transaction opened
  // on a connection it hands out.
  let opened = 0
  const pool = app.db as { connect: typeof app.db.connect }
  const connect = Object.getOwnPropertyDescriptor(pool, 'connect')!.value as typeof app.db.connect
  pool.connect = ((handler: (connection: unknown) => Promise<unknown>) =>
    connect((connection) =>
      handler(
        new Proxy(connection, {
          get(target, property, receiver) {
            if (property === 'transaction') opened++
            return Reflect.get(target, property, receiver)
          },
        }),
      ),
    )) as typeof connect
  t.teardown(() => {
    pool.connect = connect
  })

  const replaying = connectSocket(t, base, owner.accessToken, { lastEventId: ids.at(-3)! })
  await untilLive(replaying)
  t.same(
    replaying.activities().map((a) => a.id),
    ids.slice(-2),
    'the replay delivers what followed lastEventId',
  )
  t.equal(opened, 1, 'a connect with a replay: one transaction')

  opened = 0
  const live = connectSocket(t, base, owner.accessToken)
  await untilLive(live)
  t.equal(opened, 1, 'a connect that starts live: one transaction')
  t.match(live.received.find((r) => r.event === 'live')?.data, { lastEventId: ids.at(-1) })
})

t.test('a tenantless token is refused at the handshake as tenant routes refuse it', async (t) => {
  const { app, config } = await buildTestApp(t)
  const base = await listen(app)
  const owner = await registerTenant(app)
  const now = Math.floor(Date.now() / 1000)
  const token = forgeJwt(
    {
      sub: owner.user.id,
      tenant_id: null,
      sid: '00000000-0000-4000-8000-000000000000',
      role: null,
      iss: config.JWT_ISSUER,
      aud: config.JWT_AUDIENCE,
      iat: now,
      exp: now + 60,
    },
    { secret: config.JWT_SECRET },
  )
  const socket = connectSocket(t, base, token, { reconnection: false })
  const error = await socket.waitFor((r) => r.event === 'connect_error')
  t.match(error.data, { type: '/problems/forbidden', status: 403, detail: /POST \/v1\/tenants/ })
  const items = await app.inject({ method: 'GET', url: '/v1/items', headers: { authorization: `Bearer ${token}` } })
  t.equal(items.json().detail, (error.data as { detail: string }).detail, 'the same problem as GET /v1/items')
})
