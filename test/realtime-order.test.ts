import t from 'tap'
import { buildTestApp, call, registerTenant } from './helpers/app.ts'
import { connect } from './helpers/db.ts'
import { decodeJwt } from './helpers/jwt.ts'
import { type Activity, connectSocket, listen, sleep, tally, untilLive } from './helpers/realtime.ts'

/*
 * T1 inserts an activity and stays open for 2 s; meanwhile T2 inserts a later one and commits.
 * T1's id is lower but commits later. A reader that continues from "the highest id I have seen"
 * skips T1's event forever; ours (xid8 position, delivered below the snapshot xmin) does not.
 */
t.test('a lower id that commits late is never skipped: naive id replay misses it, ours does not', async (t) => {
  const { app, db } = await buildTestApp(t)
  const base = await listen(app)
  const owner = await registerTenant(app)
  const anchor = (await call(app, owner, 'POST', '/v1/tenant/broadcasts', { message: 'anchor' })).json() as Activity

  const live = connectSocket(t, base, owner.accessToken)
  await untilLive(live)
  // Reconnects with lastEventId: one before the commits, one taken between them.
  const early = connectSocket(t, base, owner.accessToken, { lastEventId: anchor.id })
  await untilLive(early)

  // T1: a request-like transaction as the API role, held open.
  const t1 = await connect(t, db.appUrl)
  await t1.query('begin')
  await t1.query('select app_private.begin_request($1, $2, $3)', [
    owner.tenant.id,
    owner.user.id,
    decodeJwt(owner.accessToken).sid,
  ])
  const first = await t1.query(
    `insert into app_public.activities (type, payload) values ('BROADCAST_MESSAGE', '{"message":"T1"}') returning id`,
  )
  const t1Id = Number(first.rows[0].id)

  // T2 commits a later id through the API.
  const second = (await call(app, owner, 'POST', '/v1/tenant/broadcasts', { message: 'T2' })).json() as Activity
  t.ok(second.id > t1Id, `T2's id ${second.id} is above T1's ${t1Id}`)

  // The naive reader, between the commits: "everything after the last id I saw".
  const owner1 = await connect(t, db.ownerUrl)
  const naiveRead = async (afterId: number) =>
    (
      await owner1.query('select id from app_public.activities where tenant_id = $1 and id > $2 order by id', [
        owner.tenant.id,
        afterId,
      ])
    ).rows.map((row) => Number(row.id))
  const naiveFirst = await naiveRead(anchor.id)
  const naiveCursor = Math.max(anchor.id, ...naiveFirst)
  // Ours, between the commits, over REST: nothing is deliverable yet (T1 holds the horizon).
  const restBetween = (await call(app, owner, 'GET', `/v1/activities?after=${anchor.id}`)).json().data as Activity[]
  early.close()
  const between = connectSocket(t, base, owner.accessToken, { lastEventId: anchor.id })
  await untilLive(between)

  await sleep(2000)
  await t1.query('commit')

  const naiveSecond = await naiveRead(naiveCursor)
  const naive = [...naiveFirst, ...naiveSecond]
  const expected = [t1Id, second.id] // (tx, id) order: T1 took its transaction id first
  const naiveFigures = tally(
    expected,
    naive.map((id) => ({ id }) as Activity),
    () => true,
  )
  t.comment(`naive id > lastEventId replay: ${JSON.stringify(naiveFigures)}`)
  t.same(naiveFirst, [second.id], 'between the commits the naive reader sees only T2 ...')
  t.equal(naiveFigures.missing, 1, '... and then misses T1 forever')

  t.same(restBetween, [], 'GET ?after= holds back while T1 is open, rather than skip it')
  const restAfter = (await call(app, owner, 'GET', `/v1/activities?after=${anchor.id}`)).json().data as Activity[]
  t.same(
    restAfter.map((a) => a.id),
    expected,
    'and returns both, in commit-order position, once T1 commits',
  )

  await live.waitFor((r) => (r.data as Activity)?.id === t1Id)
  await between.waitFor((r) => (r.data as Activity)?.id === t1Id)
  const reconnected = connectSocket(t, base, owner.accessToken, { lastEventId: anchor.id })
  await untilLive(reconnected)
  await reconnected.waitFor((r) => (r.data as Activity)?.id === second.id)

  for (const [label, socket] of [
    ['live socket', live],
    ['reconnect taken between the commits', between],
    ['reconnect after both commits', reconnected],
  ] as const) {
    const figures = tally(expected, socket.activities(), (a) => a.tenantId === owner.tenant.id)
    t.comment(`ours, ${label}: ${JSON.stringify(figures)}`)
    t.same(
      figures,
      { expected: 2, delivered: 2, missing: 0, duplicated: 0, misordered: 0, leaked: 0 },
      `${label}: nothing missing, duplicated, misordered or leaked`,
    )
  }
  t.same(
    early.activities().map((a) => a.id),
    [],
    'the socket that left between the commits had received neither (nothing was deliverable)',
  )
})
