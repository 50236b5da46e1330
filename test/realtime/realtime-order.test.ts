import t from 'tap'
import { buildTestApp, call, registerTenant } from '../helpers/app.ts'
import { connect } from '../helpers/db.ts'
import { decodeJwt } from '../helpers/jwt.ts'
import { type Activity, connectSocket, listen, sleep, tally, untilLive } from '../helpers/realtime.ts'

/*
 * T1 takes its transaction id first; meanwhile T2 inserts an activity and commits; then T1
 * inserts one and stays open for 2 s. T1's position (xid8) is lower but commits later. A reader
 * that continues from "the highest position I have seen" skips T1's event forever; ours
 * (delivered only below the snapshot xmin) does not. Ids are per tenant and numbered under the
 * tenant-row lock, so T1's id is T2's + 1: ids are in commit order, positions are not.
 */
t.test('a lower position that commits late is never skipped: naive replay misses it, ours does not', async (t) => {
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
  const t1Tx = (await t1.query('select pg_current_xact_id()::text as tx')).rows[0].tx as string

  // T2 commits an activity through the API: a higher position than T1's.
  const second = (await call(app, owner, 'POST', '/v1/tenant/broadcasts', { message: 'T2' })).json() as Activity

  // The naive reader, between the commits: "everything after the last position I saw".
  const owner1 = await connect(t, db.ownerUrl)
  const anchorTx = (
    await owner1.query('select tx::text as tx from app_public.activities where tenant_id = $1 and id = $2', [
      owner.tenant.id,
      anchor.id,
    ])
  ).rows[0].tx as string
  const naiveRead = async (afterTx: string) =>
    (
      await owner1.query(
        'select id, tx::text as tx from app_public.activities where tenant_id = $1 and tx > $2::xid8 order by tx, seq',
        [owner.tenant.id, afterTx],
      )
    ).rows.map((row) => ({ id: Number(row.id), tx: row.tx as string }))
  const naiveFirstRows = await naiveRead(anchorTx)
  const naiveFirst = naiveFirstRows.map((row) => row.id)
  const naiveCursor = naiveFirstRows.at(-1)?.tx ?? anchorTx
  t.ok(BigInt(t1Tx) < BigInt(naiveCursor), `T1's position ${t1Tx} is below T2's ${naiveCursor}`)
  // Ours, between the commits, over REST: nothing is deliverable yet (T1 holds the horizon).
  const restBetween = (await call(app, owner, 'GET', `/v1/activities?after=${anchor.id}`)).json().data as Activity[]
  early.close()
  const between = connectSocket(t, base, owner.accessToken, { lastEventId: anchor.id })
  await untilLive(between)

  const first = await t1.query(
    `insert into app_public.activities (type, payload) values ('BROADCAST_MESSAGE', '{"message":"T1"}') returning id`,
  )
  const t1Id = Number(first.rows[0].id)
  t.equal(t1Id, second.id + 1, `T1's id ${t1Id} follows T2's ${second.id}: ids are in commit order`)
  await sleep(2000)
  await t1.query('commit')

  const naiveSecond = (await naiveRead(naiveCursor)).map((row) => row.id)
  const naive = [...naiveFirst, ...naiveSecond]
  const expected = [t1Id, second.id] // (tx, seq) order: T1 took its transaction id first
  const naiveFigures = tally(
    expected,
    naive.map((id) => ({ id }) as Activity),
    () => true,
  )
  t.comment(`naive position > last seen replay: ${JSON.stringify(naiveFigures)}`)
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
