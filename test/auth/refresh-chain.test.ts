/**
 * One chain per session (issue 17, item 8): within REFRESH_REUSE_INTERVAL a replay of the token
 * just rotated gets the same successor the first rotation issued, so a replay never forks the
 * session into a second live branch. Time is moved by back-dating rows, never by sleeping.
 */
import type { FastifyInstance } from 'fastify'
import type pg from 'pg'
import t from 'tap'
import { hashToken } from '../../src/auth/tokens.ts'
import { buildTestApp, call, factoriesOf, type Session } from '../helpers/app.ts'
import { connect } from '../helpers/db.ts'
import { decodeJwt } from '../helpers/jwt.ts'

const refresh = (app: FastifyInstance, refreshToken: string) =>
  app.inject({ method: 'POST', url: '/v1/auth/refresh', payload: { refreshToken } })

/** Tokens of a session that can still be exchanged as themselves (not yet rotated, not expired). */
const liveTokens = async (root: pg.Client, sessionId: string) =>
  (
    await root.query<{ n: number }>(
      `select count(*)::int as n from app_private.refresh_tokens t
       join app_private.sessions s on s.id = t.session_id
       where t.session_id = $1 and t.rotated_at is null and t.expires_at > now() and s.revoked_at is null`,
      [sessionId],
    )
  ).rows[0]!.n

/** Moves every rotation of a session `seconds` into the past (as if that time had passed). */
const ageSession = (root: pg.Client, sessionId: string, seconds: number) =>
  root.query(
    `update app_private.refresh_tokens set rotated_at = rotated_at - make_interval(secs => $2)
     where session_id = $1 and rotated_at is not null`,
    [sessionId, seconds],
  )

t.test('one chain per session', async (t) => {
  const { app, db, config } = await buildTestApp(t)
  t.equal(config.REFRESH_REUSE_INTERVAL, 10)
  const root = await connect(t, db.rootUrl)
  const f = factoriesOf(app)

  t.test('20 parallel refreshes of one token: 1 distinct new token, 1 live token, over 5 rounds', async (t) => {
    const ROUNDS = 5
    const PARALLEL = 20
    const figures: string[] = []
    for (let round = 0; round < ROUNDS; round++) {
      const owner = await f.tenant()
      const sid = decodeJwt(owner.accessToken).sid as string
      const results = await Promise.all(Array.from({ length: PARALLEL }, () => refresh(app, owner.refreshToken)))
      t.equal(results.filter((r) => r.statusCode === 200).length, PARALLEL, `round ${round}: all ${PARALLEL} got 200`)
      const tokens = new Set(results.map((r) => (r.json() as Session).refreshToken))
      t.equal(tokens.size, 1, `round ${round}: 1 distinct refresh token`)
      t.equal(await liveTokens(root, sid), 1, `round ${round}: 1 live token in the session`)
      const [next] = tokens
      const onward = await refresh(app, next!)
      t.equal(onward.statusCode, 200, `round ${round}: the one token refreshes`)
      t.equal((await call(app, onward.json(), 'GET', '/v1/me')).statusCode, 200)
      figures.push(`${tokens.size} distinct/${await liveTokens(root, sid)} live`)
    }
    t.comment(`${PARALLEL} parallel refreshes of one token, ${ROUNDS} rounds: ${figures.join(', ')}`)
  })

  t.test('attack: parallel replays within the window leave one branch, not three, after 11 s', async (t) => {
    // Seen on the old code: 3 parallel refreshes → 3 new tokens, each still valid 11 s later.
    const owner = await f.tenant()
    const sid = decodeJwt(owner.accessToken).sid as string
    const results = await Promise.all([1, 2, 3].map(() => refresh(app, owner.refreshToken)))
    const branches = [...new Set(results.map((r) => (r.json() as Session).refreshToken))]
    t.equal(branches.length, 1, 'the 3 replays got one and the same token')
    await ageSession(root, sid, 11)
    const answers = await Promise.all(branches.map((token) => refresh(app, token)))
    const stillValid = answers.filter((r) => r.statusCode === 200).length
    t.equal(stillValid, 1, '11 s later, one chain continues')
    t.equal(await liveTokens(root, sid), 1, 'with one live token')
    t.comment(`3 parallel refreshes of one token → ${branches.length} branch; after 11 s: ${stillValid} valid`)
  })

  t.test('a thief replaying within the window shares the owner’s chain and is caught', async (t) => {
    const owner = await f.tenant()
    const sid = decodeJwt(owner.accessToken).sid as string
    const mine = (await refresh(app, owner.refreshToken)).json() as Session
    const theirs = (await refresh(app, owner.refreshToken)).json() as Session
    t.equal(theirs.refreshToken, mine.refreshToken, 'the thief gets the owner’s own next token, not a branch')
    t.not(theirs.accessToken, undefined)
    const ownerNext = await refresh(app, mine.refreshToken)
    t.equal(ownerNext.statusCode, 200)
    await ageSession(root, sid, 11)
    const thief = await refresh(app, theirs.refreshToken)
    t.equal(thief.statusCode, 401)
    t.equal(thief.json().type, '/problems/token-reused', 'the thief’s later use is reuse')
    t.equal((await refresh(app, ownerNext.json().refreshToken)).statusCode, 401, 'the session is ended for both')
  })

  t.test('a replay that names another successor is refused and forks nothing', async (t) => {
    const owner = await f.tenant()
    const sid = decodeJwt(owner.accessToken).sid as string
    t.equal((await refresh(app, owner.refreshToken)).statusCode, 200)
    // As a replay would after the server key changed: the presented token, another successor.
    const outcome = await root.query<{ outcome: string }>(
      `select outcome from app_private.rotate_refresh_token($1, $2, interval '1 day', interval '10 s', interval '90 days')`,
      [hashToken(owner.refreshToken), hashToken('another successor')],
    )
    t.equal(outcome.rows[0]!.outcome, 'invalid')
    t.equal(await liveTokens(root, sid), 1, 'still one live token')
  })
})

t.test('strict mode (REFRESH_REUSE_INTERVAL=0): a replay revokes, as before', async (t) => {
  const { app, db } = await buildTestApp(t, { env: { REFRESH_REUSE_INTERVAL: '0' } })
  const root = await connect(t, db.rootUrl)
  const owner = await factoriesOf(app).tenant()
  const sid = decodeJwt(owner.accessToken).sid as string
  const results = await Promise.all(Array.from({ length: 20 }, () => refresh(app, owner.refreshToken)))
  t.equal(results.filter((r) => r.statusCode === 200).length, 1, 'exactly one 200')
  t.equal(await liveTokens(root, sid), 0, 'and the session is revoked by the replays')
})
