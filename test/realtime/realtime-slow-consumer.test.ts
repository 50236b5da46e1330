import type { Socket as NetSocket } from 'node:net'
import t from 'tap'
import { buildTestApp, registerTenant } from '../helpers/app.ts'
import { connect } from '../helpers/db.ts'
import { decodeJwt } from '../helpers/jwt.ts'
import { type Activity, connectSocket, type LiveSocket, listen, sleep, tally, untilLive } from '../helpers/realtime.ts'

/** The TCP socket under a socket.io-client websocket, to stop reading as a stalled client would. */
const tcpOf = (live: LiveSocket) =>
  (live.socket.io.engine.transport as unknown as { ws: { _socket: NetSocket } }).ws._socket

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((x, y) => x - y)
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN
}

t.test('a paused client is cut past its buffer, delays nobody, and resumes with everything', async (t) => {
  const { app, db } = await buildTestApp(t, {
    env: { REALTIME_MAX_BUFFERED: '50', REALTIME_REPLAY_LIMIT: '100000' },
  })
  const base = await listen(app)
  const owner = await registerTenant(app)
  const fast = connectSocket(t, base, owner.accessToken)
  const slow = connectSocket(t, base, owner.accessToken)
  await Promise.all([untilLive(fast), untilLive(slow)])

  // Bursts written straight in SQL, as the API role in the owner's context: 100 large
  // activities per transaction (each ~3 kB: 1,000 three-byte characters, the longest broadcast), so a stalled reader overflows every buffer.
  const api = await connect(t, db.appUrl)
  const sid = decodeJwt(owner.accessToken).sid
  const burst = async (label: string, transactions: number) => {
    const commits: { at: number; lastId: number }[] = []
    for (let i = 0; i < transactions; i++) {
      await api.query('begin')
      await api.query('select app_private.begin_request($1, $2, $3)', [owner.tenant.id, owner.user.id, sid])
      const rows = await api.query(
        `insert into app_public.activities (type, payload)
         select 'BROADCAST_MESSAGE', jsonb_build_object('message', left($1 || n || repeat('€', 1000), 1000))
         from generate_series(1, 100) n returning id`,
        [`${label}-${i}-`],
      )
      await api.query('commit')
      commits.push({ at: performance.now(), lastId: Math.max(...rows.rows.map((r) => Number(r.id))) })
      await sleep(20)
    }
    return commits
  }
  const latencies = async (commits: { at: number; lastId: number }[]) =>
    Promise.all(
      commits.map(
        async ({ at, lastId }) => (await fast.waitFor((r) => (r.data as Activity)?.id === lastId, 20_000)).at - at,
      ),
    )

  const baseline = await latencies(await burst('baseline', 20))

  // Action: the slow client stops reading during a burst.
  tcpOf(slow).pause()
  const startId = (fast.activities().at(-1) as Activity).id
  // 60 transactions × 100 events × ~3 kB ≈ 18 MB: far more than loopback socket buffers absorb.
  const commits = await burst('paused', 60)
  const during = await latencies(commits)
  t.comment(
    `fast client, commit → receive of each 100-event transaction: baseline p50 ${percentile(baseline, 50).toFixed(1)} ms p99 ${percentile(baseline, 99).toFixed(1)} ms; with a paused client p50 ${percentile(during, 50).toFixed(1)} ms p99 ${percentile(during, 99).toFixed(1)} ms`,
  )

  // The slow client resumes: it reads what was in flight, sees the cut, reconnects with its lastEventId.
  tcpOf(slow).resume()
  const lastId = commits.at(-1)!.lastId
  await slow.waitFor((r) => (r.data as Activity)?.id === lastId, 30_000)
  t.ok(
    slow.received.some((r) => r.event === 'disconnect'),
    'the paused client was disconnected past its bound',
  )
  t.ok(slow.received.filter((r) => r.event === 'connect').length >= 2, 'and reconnected by itself')

  const root = await connect(t, db.rootUrl)
  const expected = (
    await root.query('select id from app_public.activities where tenant_id = $1 and id > $2 order by tx, id', [
      owner.tenant.id,
      startId,
    ])
  ).rows.map((r) => Number(r.id))
  const own = (x: Activity) => x.tenantId === owner.tenant.id
  const slowFigures = tally(
    expected,
    slow.activities().filter((x) => x.id > startId),
    own,
  )
  const fastFigures = tally(
    expected,
    fast.activities().filter((x) => x.id > startId),
    own,
  )
  t.comment(`paused client after resuming: ${JSON.stringify(slowFigures)}`)
  t.comment(`fast client: ${JSON.stringify(fastFigures)}`)
  for (const [label, figures] of [
    ['paused client', slowFigures],
    ['fast client', fastFigures],
  ] as const) {
    t.same(
      {
        missing: figures.missing,
        duplicated: figures.duplicated,
        misordered: figures.misordered,
        leaked: figures.leaked,
      },
      { missing: 0, duplicated: 0, misordered: 0, leaked: 0 },
      `${label}: all ${figures.expected} events, once, in order`,
    )
  }
  t.notOk(
    fast.received.some((r) => r.event === 'disconnect'),
    'the fast client was never disconnected',
  )
})
