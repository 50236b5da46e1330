/**
 * Sessions that behave in real browsers: the refresh reuse window (REFRESH_REUSE_INTERVAL), the
 * absolute lifetime (SESSION_MAX_AGE) and the purge of ended sessions under an advisory lock.
 * Time is moved by back-dating rows as the superuser, never by sleeping.
 */
import type { FastifyInstance } from 'fastify'
import type pg from 'pg'
import t from 'tap'
import { hashToken } from '../../src/auth/tokens.ts'
import { purgeCronPattern } from '../../src/jobs/runner.ts'
import { buildTestApp, call, factoriesOf, PASSWORD, registerTenant, type Session } from '../helpers/app.ts'
import { connect, createTestDatabase } from '../helpers/db.ts'
import { decodeJwt } from '../helpers/jwt.ts'
import { startTestWorker } from '../helpers/mail.ts'
import { waitFor } from '../helpers/wait.ts'

const ROUNDS = 20
const TABS = 10

const refresh = (app: FastifyInstance, refreshToken: string) =>
  app.inject({ method: 'POST', url: '/v1/auth/refresh', payload: { refreshToken } })

/** Moves a rotated token's rotation `seconds` into the past. */
const ageRotation = (root: pg.Client, token: string, seconds: number) =>
  root.query(
    `update app_private.refresh_tokens set rotated_at = rotated_at - make_interval(secs => $2) where token_hash = $1`,
    [hashToken(token), seconds],
  )

const liveSessions = async (root: pg.Client, userId: string) =>
  (
    await root.query<{ n: number }>(
      'select count(*)::int as n from app_private.sessions where user_id = $1 and revoked_at is null',
      [userId],
    )
  ).rows[0]!.n

/**
 * One round: TABS refreshes of one token at once. Returns how many got a pair, and how many of
 * those tabs are still signed in afterwards (their new refresh token refreshes, and the access
 * token it yields reads /v1/me).
 */
async function race(app: FastifyInstance, session: Session) {
  const results = await Promise.all(Array.from({ length: TABS }, () => refresh(app, session.refreshToken)))
  const winners = results.filter((r) => r.statusCode === 200).map((r) => r.json() as Session)
  const refused = results.filter((r) => r.statusCode !== 200)
  let signedIn = 0
  for (const winner of winners) {
    const next = await refresh(app, winner.refreshToken)
    if (next.statusCode === 200 && (await call(app, next.json(), 'GET', '/v1/me')).statusCode === 200) signedIn++
  }
  return { winners, refused, signedIn }
}

t.test('with the default reuse window (10 s)', async (t) => {
  const { app, db, config } = await buildTestApp(t)
  t.equal(config.REFRESH_REUSE_INTERVAL, 10, 'the default window is 10 seconds')
  const root = await connect(t, db.rootUrl)
  const f = factoriesOf(app)

  t.test(`${TABS} tabs refreshing one token at once all succeed, on one chain, and all stay signed in`, async (t) => {
    let winners = 0
    let signedIn = 0
    for (let round = 0; round < ROUNDS; round++) {
      const owner = await f.tenant()
      const outcome = await race(app, owner)
      t.equal(outcome.winners.length, TABS, `round ${round}: every tab got a pair`)
      t.equal(new Set(outcome.winners.map((w) => w.refreshToken)).size, 1, `round ${round}: one and the same token`)
      t.same(
        new Set(outcome.winners.map((w) => decodeJwt(w.accessToken).sid)),
        new Set([decodeJwt(owner.accessToken).sid]),
        `round ${round}: all of the same session`,
      )
      t.equal(outcome.signedIn, TABS, `round ${round}: every tab is still signed in`)
      t.equal(await liveSessions(root, owner.user.id), 1, `round ${round}: one live session`)
      winners += outcome.winners.length
      signedIn += outcome.signedIn
    }
    t.comment(
      `reuse window 10 s: ${ROUNDS} rounds × ${TABS} parallel refreshes of one token → ${winners} winners, ` +
        `${signedIn} tabs still signed in, 1 live session and 1 refresh token per round`,
    )
  })

  t.test('two racing refreshes both keep working, on one shared chain', async (t) => {
    const owner = await f.tenant()
    const [a, b] = await Promise.all([refresh(app, owner.refreshToken), refresh(app, owner.refreshToken)])
    t.equal(a!.statusCode, 200)
    t.equal(b!.statusCode, 200)
    let tabA = a!.json() as Session
    let tabB = b!.json() as Session
    for (let step = 0; step < 3; step++) {
      t.equal(tabA.refreshToken, tabB.refreshToken, `step ${step}: both tabs hold the same refresh token`)
      const [nextA, nextB] = await Promise.all([refresh(app, tabA.refreshToken), refresh(app, tabB.refreshToken)])
      t.equal(nextA!.statusCode, 200, `step ${step}: tab A refreshes`)
      t.equal(nextB!.statusCode, 200, `step ${step}: tab B refreshes`)
      tabA = nextA!.json()
      tabB = nextB!.json()
    }
    t.equal((await call(app, tabA, 'GET', '/v1/me')).statusCode, 200)
    t.equal((await call(app, tabB, 'GET', '/v1/me')).statusCode, 200)
    const replay = await refresh(app, owner.refreshToken)
    t.equal(replay.json().type, '/problems/token-reused', 'the original token, long superseded, is reuse')
    t.equal((await call(app, tabA, 'GET', '/v1/me')).statusCode, 401, 'and it ended the session for both tabs')
  })

  t.test('a replay after the interval revokes the session', async (t) => {
    const owner = await f.tenant()
    const first = await refresh(app, owner.refreshToken)
    t.equal(first.statusCode, 200)
    await ageRotation(root, owner.refreshToken, 11)
    const replay = await refresh(app, owner.refreshToken)
    t.equal(replay.statusCode, 401)
    t.equal(replay.json().type, '/problems/token-reused')
    t.equal(
      (await refresh(app, first.json().refreshToken)).json().type,
      '/problems/invalid-token',
      'the new token died',
    )
    t.equal((await call(app, first.json(), 'GET', '/v1/me')).statusCode, 401, 'and so did its access token')
  })

  t.test('a replay of a grandparent revokes the session at once', async (t) => {
    const owner = await f.tenant()
    const child = (await refresh(app, owner.refreshToken)).json() as Session
    const grandchild = await refresh(app, child.refreshToken)
    t.equal(grandchild.statusCode, 200)
    const replay = await refresh(app, owner.refreshToken)
    t.equal(replay.statusCode, 401, 'well within the window')
    t.equal(replay.json().type, '/problems/token-reused')
    t.equal((await refresh(app, grandchild.json().refreshToken)).statusCode, 401, 'the newest token died')
    t.equal(await liveSessions(root, owner.user.id), 0)
  })

  t.test('a forgiven replay does not extend the window', async (t) => {
    const owner = await f.tenant()
    t.equal((await refresh(app, owner.refreshToken)).statusCode, 200)
    await ageRotation(root, owner.refreshToken, 9)
    t.equal((await refresh(app, owner.refreshToken)).statusCode, 200, '9 s after the rotation: forgiven')
    await ageRotation(root, owner.refreshToken, 2)
    t.equal((await refresh(app, owner.refreshToken)).json().type, '/problems/token-reused', '11 s after it: reuse')
  })
})

t.test(`strict mode (REFRESH_REUSE_INTERVAL=0): exactly one of ${TABS} parallel refreshes wins`, async (t) => {
  const { app, db } = await buildTestApp(t, { env: { REFRESH_REUSE_INTERVAL: '0' } })
  const root = await connect(t, db.rootUrl)
  const f = factoriesOf(app)
  let winners = 0
  let signedIn = 0
  for (let round = 0; round < ROUNDS; round++) {
    const owner = await f.tenant()
    const outcome = await race(app, owner)
    t.equal(outcome.winners.length, 1, `round ${round}: exactly one winner`)
    t.ok(
      outcome.refused.every((r) => r.statusCode === 401 && r.json().type === '/problems/token-reused'),
      `round ${round}: every other tab gets /token-reused`,
    )
    t.equal(outcome.signedIn, 0, `round ${round}: the replays revoked the session, the winner's tokens included`)
    t.equal(await liveSessions(root, owner.user.id), 0)
    winners += outcome.winners.length
    signedIn += outcome.signedIn
  }
  t.comment(
    `strict: ${ROUNDS} rounds × ${TABS} parallel refreshes of one token → ${winners} winners, ${signedIn} tabs still signed in`,
  )
})

t.test('SESSION_MAX_AGE: no refresh past the absolute lifetime of a session', async (t) => {
  const { app, db } = await buildTestApp(t, { env: { SESSION_MAX_AGE: '3600' } })
  const root = await connect(t, db.rootUrl)
  const owner = await registerTenant(app)
  const sid = decodeJwt(owner.accessToken).sid as string
  const refreshed = await refresh(app, owner.refreshToken)
  t.equal(refreshed.statusCode, 200)
  const { rows } = await root.query<{ capped: boolean }>(
    `select t.expires_at <= s.created_at + interval '3600 seconds' as capped
     from app_private.refresh_tokens t join app_private.sessions s on s.id = t.session_id
     where t.token_hash = $1`,
    [hashToken(refreshed.json().refreshToken)],
  )
  t.ok(rows[0]!.capped, 'a new refresh token never outlives its session (30-day TTL capped at 1 hour)')
  await root.query(`update app_private.sessions set created_at = created_at - interval '3601 seconds' where id = $1`, [
    sid,
  ])
  const late = await refresh(app, refreshed.json().refreshToken)
  t.equal(late.statusCode, 401)
  t.equal(late.json().type, '/problems/invalid-token')
  const again = await app.inject({
    method: 'POST',
    url: '/v1/auth/login',
    payload: { email: owner.user.email, password: PASSWORD },
  })
  t.equal(again.statusCode, 200, 'signing in again starts a new session')
})

t.test('the purge removes ended sessions and expired tokens, and nothing alive', async (t) => {
  const db = await createTestDatabase(t)
  const { app } = await buildTestApp(t, { db, env: { SESSION_PURGE_INTERVAL: '0' } })
  const root = await connect(t, db.rootUrl)
  const sid = (session: Session) => decodeJwt(session.accessToken).sid as string

  const live = await registerTenant(app)
  const liveNext = (await refresh(app, live.refreshToken)).json() as Session
  const loggedOut = await registerTenant(app)
  await call(app, loggedOut, 'POST', '/v1/auth/logout')
  const overAge = await registerTenant(app)
  await root.query(`update app_private.sessions set created_at = now() - interval '91 days' where id = $1`, [
    sid(overAge),
  ])
  const idle = await registerTenant(app)
  await root.query(
    `update app_private.refresh_tokens set expires_at = now() - interval '1 second' where session_id = $1`,
    [sid(idle)],
  )
  // An expired, already rotated token of the live session goes; the live session stays.
  await root.query(
    `update app_private.refresh_tokens set expires_at = now() - interval '1 second', created_at = now() - interval '2 days'
     where token_hash = $1`,
    [hashToken(live.refreshToken)],
  )

  const result = await app.purgeSessions()
  t.same(result, { ran: true, sessions: 3, refreshTokens: 1 })
  const { rows } = await root.query<{ id: string }>('select id from app_private.sessions order by id')
  t.same(
    rows.map((r) => r.id),
    [sid(live)],
    'only the live session is left',
  )
  t.equal((await refresh(app, liveNext.refreshToken)).statusCode, 200, 'and it still refreshes')
  t.same(await app.purgeSessions(), { ran: true, sessions: 0, refreshTokens: 0 }, 'a second purge finds nothing')
})

t.test('only one instance purges at a time: the others skip while one holds the lock', async (t) => {
  const db = await createTestDatabase(t)
  const env = { SESSION_PURGE_INTERVAL: '0' }
  const first = (await buildTestApp(t, { db, env })).app
  const second = (await buildTestApp(t, { db, env })).app
  const root = await connect(t, db.rootUrl)
  const holder = await connect(t, db.appUrl)
  for (let round = 0; round < 5; round++) {
    const ended = await registerTenant(first)
    await call(first, ended, 'POST', '/v1/auth/logout')
    // Another instance is mid-purge: its transaction holds the advisory lock.
    await holder.query('begin')
    const held = await holder.query(`select ran from app_private.purge_sessions(interval '90 days')`)
    t.equal(held.rows[0].ran, true, `round ${round}: the holder runs the purge`)
    const ended2 = await registerTenant(first)
    await call(first, ended2, 'POST', '/v1/auth/logout')
    const skipped = await Promise.all([first.purgeSessions(), second.purgeSessions()])
    t.same(skipped, [
      { ran: false, sessions: 0, refreshTokens: 0 },
      { ran: false, sessions: 0, refreshTokens: 0 },
    ])
    const stillThere = await root.query('select 1 from app_private.sessions where user_id = $1', [ended2.user.id])
    t.equal(stillThere.rowCount, 1, `round ${round}: nothing was purged by the skipping instances`)
    await holder.query('commit')
    const after = await second.purgeSessions()
    t.equal(after.ran, true, `round ${round}: once the lock is free, the next one runs`)
    t.equal(after.sessions, 1, `round ${round}: and purges what was left`)
  }
})

t.test('the purge is a cron job of the job worker (SESSION_PURGE_INTERVAL), one scheduler for all', async (t) => {
  t.equal(purgeCronPattern(3600), '0 */1 * * *', 'an hour')
  t.equal(purgeCronPattern(60), '*/1 * * * *', 'a minute')
  t.equal(purgeCronPattern(1), '*/1 * * * *', 'never more often than a minute')
  t.equal(purgeCronPattern(7 * 24 * 3600), '0 0 * * *', 'never less often than a day')
  const db = await createTestDatabase(t)
  const { app, config } = await buildTestApp(t, { db })
  const root = await connect(t, db.rootUrl)
  const owner = await registerTenant(app)
  await call(app, owner, 'POST', '/v1/auth/logout')
  await startTestWorker(t, { config, ownerUrl: db.ownerUrl })
  const crons = async () =>
    (await root.query('select identifier from graphile_worker._private_known_crontabs')).rows.map((r) => r.identifier)
  await waitFor('the worker to register its cron items', async () => (await crons()).length > 0)
  t.same(await crons(), ['purge_sessions'], 'the worker registered the purge as its cron item')
  // A tick of that cron item is this job; queued by hand rather than waiting for the minute.
  await root.query(`select graphile_worker.add_job('purge_sessions')`)
  const remaining = async () =>
    (await root.query('select 1 from app_private.sessions where user_id = $1', [owner.user.id])).rowCount!
  await waitFor('the worker to run the purge', async () => (await remaining()) === 0)
  t.equal(await remaining(), 0, 'the logged-out session was purged by the job')
})
