/**
 * The mailed-token flows (DESIGN.md, "Email and account recovery"): password reset, address
 * confirmation, password and email change, invitation resend, EMAIL_VERIFICATION_REQUIRED, the
 * silent budgets and the same answer for known and unknown addresses. Mail is read from the
 * queue as the worker would find it (test/mail/delivery.test.ts sends it over real SMTP).
 */
import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { buildTestApp, call, factoriesOf, PASSWORD, registerTenant, type Session } from '../helpers/app.ts'
import { invitationToken, queuedToken, runQueuedResets } from '../helpers/mail.ts'

const NEW_PASSWORD = 'a brand new passphrase'
const post = (app: FastifyInstance, url: string, payload: Record<string, unknown>) =>
  app.inject({ method: 'POST', url, payload })
const forgot = (app: FastifyInstance, email: string) => post(app, '/v1/auth/password/forgot', { email })
const reset = (app: FastifyInstance, token: string, password = NEW_PASSWORD) =>
  post(app, '/v1/auth/password/reset', { token, password })
const confirm = (app: FastifyInstance, token: string) => post(app, '/v1/auth/email/confirm', { token })
const login = (app: FastifyInstance, email: string, password: string) =>
  post(app, '/v1/auth/login', { email, password })

/** Kinds of the mails queued for an address, oldest first. */
async function queuedKinds(app: FastifyInstance, to: string): Promise<string[]> {
  await runQueuedResets(app)
  const { rows } = await factoriesOf(app).root.query<{ kind: string }>(
    `select payload->>'kind' as kind from graphile_worker._private_jobs where payload->>'to' = $1 order by id`,
    [to],
  )
  return rows.map((row) => row.kind)
}

const tally = (statuses: number[]) =>
  statuses.reduce<Record<number, number>>((acc, s) => {
    acc[s] = (acc[s] ?? 0) + 1
    return acc
  }, {})

t.test('mailed-token flows', async (t) => {
  const { app } = await buildTestApp(t)
  const f = factoriesOf(app)

  t.test(
    'a reset ends every session, kills every other link, proves the address, notifies, signs no one in',
    async (t) => {
      const owner = await registerTenant(app)
      const sessions: Session[] = [
        owner,
        ...(await Promise.all([1, 2, 3, 4].map(() => f.signIn(owner.user, owner.tenant)))),
      ]
      t.equal((await call(app, owner, 'POST', '/v1/me/email/verification')).statusCode, 202)
      const verification = await queuedToken(app, `verify_email:${owner.user.id}`)

      const asked = await forgot(app, owner.user.email)
      t.equal(asked.statusCode, 202)
      const token = await queuedToken(app, `reset_password:${owner.user.id}`)
      const done = await reset(app, token)
      t.equal(done.statusCode, 204, 'reset')
      t.equal(done.body, '', 'no token pair: a reset signs no one in')

      const refreshed = await Promise.all(
        sessions.map((s) => post(app, '/v1/auth/refresh', { refreshToken: s.refreshToken })),
      )
      const ended = refreshed.filter((r) => r.statusCode === 401).length
      t.equal(ended, sessions.length, `reset ended ${ended} of ${sessions.length} sessions: old refresh tokens get 401`)
      const reads = await Promise.all(sessions.map((s) => call(app, s, 'GET', '/v1/me')))
      t.same(
        reads.map((r) => r.statusCode),
        sessions.map(() => 401),
        'and their access tokens too',
      )

      const again = await reset(app, token, 'yet another passphrase')
      t.equal(again.statusCode, 410, 'the link works once')
      t.equal(again.json().type, '/problems/token-expired')
      t.equal((await confirm(app, verification)).statusCode, 410, 'the outstanding verification link died with it')

      t.equal((await login(app, owner.user.email, PASSWORD)).statusCode, 401, 'the old password is gone')
      const signedIn = await login(app, owner.user.email, NEW_PASSWORD)
      t.equal(signedIn.statusCode, 200, 'the new one works')
      t.ok(signedIn.json().user.emailVerifiedAt, 'and the address is verified: the reset proved it')
      t.same(
        await queuedKinds(app, owner.user.email),
        ['verify_email', 'reset_password', 'password_changed'],
        'a "your password was changed" notice is queued',
      )
    },
  )

  t.test('20 parallel resets with one token: exactly 1 succeeds, over 5 rounds', async (t) => {
    const outcomes: string[] = []
    for (let round = 0; round < 5; round++) {
      const user = await registerTenant(app)
      await forgot(app, user.user.email)
      const token = await queuedToken(app, `reset_password:${user.user.id}`)
      const statuses = (await Promise.all(Array.from({ length: 20 }, () => reset(app, token)))).map((r) => r.statusCode)
      const counts = tally(statuses)
      outcomes.push(`round ${round + 1}: ${counts[204] ?? 0}×204 ${counts[410] ?? 0}×410`)
      t.same(counts, { 204: 1, 410: 19 }, `round ${round + 1}: one 204, nineteen 410`)
    }
    t.comment(`single-use reset: ${outcomes.join('; ')}`)
  })

  t.test('20 parallel confirmations with one token: exactly 1 succeeds, over 5 rounds', async (t) => {
    const outcomes: string[] = []
    for (let round = 0; round < 5; round++) {
      const user = await registerTenant(app)
      await call(app, user, 'POST', '/v1/me/email/verification')
      const token = await queuedToken(app, `verify_email:${user.user.id}`)
      const statuses = (await Promise.all(Array.from({ length: 20 }, () => confirm(app, token)))).map(
        (r) => r.statusCode,
      )
      const counts = tally(statuses)
      outcomes.push(`round ${round + 1}: ${counts[204] ?? 0}×204 ${counts[410] ?? 0}×410`)
      t.same(counts, { 204: 1, 410: 19 }, `round ${round + 1}: one 204, nineteen 410`)
      const me = (await call(app, user, 'GET', '/v1/me')).json()
      t.ok(me.user.emailVerifiedAt, `round ${round + 1}: the address is verified`)
    }
    t.comment(`single-use confirmation: ${outcomes.join('; ')}`)
  })

  t.test('forgot and resend answer the same for a known and an unknown address; budgets are silent', async (t) => {
    const known = await registerTenant(app)
    const answers = [
      await forgot(app, known.user.email),
      await forgot(app, 'nobody-here@example.com'),
      await forgot(app, known.user.email), // within 60 s: over budget, nothing sent
    ]
    for (const answer of answers) {
      t.equal(answer.statusCode, 202)
      t.same(answer.json(), answers[0]!.json(), 'the same body')
    }
    const queued = await f.root.query(
      `select j.payload->>'email' as email from graphile_worker._private_jobs j
       join graphile_worker._private_tasks k on k.id = j.task_id
       where k.identifier = 'password_reset' and j.payload->>'email' = any($1::text[]) order by j.id`,
      [[known.user.email, 'nobody-here@example.com']],
    )
    t.same(
      queued.rows.map((row) => row.email),
      [known.user.email, 'nobody-here@example.com', known.user.email],
      'the request does the same for every address: one job, looked up by the worker',
    )
    await runQueuedResets(app)
    const { rows } = await f.root.query(
      `select count(*)::int as n from app_private.email_tokens where user_id = $1 and purpose = 'reset_password'`,
      [known.user.id],
    )
    t.equal(rows[0].n, 1, 'one reset link per recipient per 60 s: the second request sent nothing')
    t.same(await queuedKinds(app, 'nobody-here@example.com'), [], 'nothing is sent to an unknown address')

    const unverified = await registerTenant(app)
    const verified = await registerTenant(app)
    await f.root.query('update app_public.users set email_verified_at = now() where id = $1', [verified.user.id])
    const resends = [
      await call(app, unverified, 'POST', '/v1/me/email/verification'),
      await call(app, verified, 'POST', '/v1/me/email/verification'),
      await call(app, unverified, 'POST', '/v1/me/email/verification'),
    ]
    t.same(
      resends.map((r) => [r.statusCode, r.body]),
      resends.map(() => [202, resends[0]!.body]),
      'resend: one answer whether a mail went out or not',
    )
    t.same(await queuedKinds(app, unverified.user.email), ['verify_email'], 'one mail per 60 s')
    t.same(await queuedKinds(app, verified.user.email), [], 'none for a verified address')
  })

  t.test('register mails a confirmation; the address shows as verified in /v1/me and the member list', async (t) => {
    const registered = await post(app, '/v1/auth/register', {
      email: 'Fresh.Person@Example.com',
      password: PASSWORD,
      name: 'Fresh',
      tenant: { name: 'Fresh', slug: 'fresh-person' },
    })
    t.equal(registered.statusCode, 201)
    const session = registered.json()
    t.equal(session.user.emailVerifiedAt, null, 'not verified yet')
    const token = await queuedToken(app, `verify_email:${session.user.id}`)
    t.equal((await confirm(app, token)).statusCode, 204)
    const me = (await call(app, session, 'GET', '/v1/me')).json()
    t.match(me.user, { email: 'fresh.person@example.com', emailVerifiedAt: String })
    const members = (await call(app, session, 'GET', '/v1/members')).json().data
    t.match(members, [{ userId: session.user.id, emailVerifiedAt: String }])
  })

  t.test('a password change ends the other sessions, keeps this one, and notifies', async (t) => {
    const owner = await registerTenant(app)
    const other = await f.signIn(owner.user, owner.tenant)
    const change = (currentPassword: string) =>
      call(app, owner, 'PUT', '/v1/me/password', { currentPassword, password: NEW_PASSWORD })
    const wrong = await change('not my password')
    t.equal(wrong.statusCode, 403, 'the current password is required')
    t.equal((await call(app, other, 'GET', '/v1/me')).statusCode, 200, 'a wrong one changes nothing')
    t.equal((await change(PASSWORD)).statusCode, 204)
    t.equal((await call(app, owner, 'GET', '/v1/me')).statusCode, 200, 'this session goes on')
    t.equal((await call(app, other, 'GET', '/v1/me')).statusCode, 401, 'the other one has ended')
    t.equal((await login(app, owner.user.email, NEW_PASSWORD)).statusCode, 200, 'the new password signs in')
    t.same(await queuedKinds(app, owner.user.email), ['password_changed'])
  })

  t.test(
    'an email change: confirm at the new address, cancel from the old, the token bound to its address',
    async (t) => {
      const owner = await registerTenant(app)
      const change = (email: string, password = PASSWORD) =>
        call(app, owner, 'PUT', '/v1/me/email', { email, password })
      t.equal((await change('b@new.example.com', 'wrong password')).statusCode, 403, 'the password is required')

      t.equal((await change('b@new.example.com')).statusCode, 202)
      const toB = await queuedToken(app, `change_email:${owner.user.id}`)
      const cancelB = await queuedToken(app, `email_change_notice:${owner.user.id}`)
      t.equal((await login(app, owner.user.email, PASSWORD)).statusCode, 200, 'a pending change does not block sign-in')
      t.equal((await confirm(app, cancelB)).statusCode, 204, 'the old address cancels it')
      t.equal((await confirm(app, toB)).statusCode, 410, 'and the new address can no longer confirm')

      await f.root.query('delete from app_private.mail_budget') // the 60 s budget, not what is tested here
      t.equal((await change('b@new.example.com')).statusCode, 202)
      const secondB = await queuedToken(app, `change_email:${owner.user.id}`)
      t.equal((await change('c@new.example.com')).statusCode, 202)
      const toC = await queuedToken(app, `change_email:${owner.user.id}`)
      t.equal((await confirm(app, secondB)).statusCode, 410, "B's token cannot confirm C, nor B once C is asked for")
      t.equal((await confirm(app, toC)).statusCode, 204, 'C confirms C')
      const me = (await call(app, owner, 'GET', '/v1/me')).json()
      t.match(me.user, { email: 'c@new.example.com', emailVerifiedAt: String }, 'changed, and proven')
      t.equal((await login(app, 'c@new.example.com', PASSWORD)).statusCode, 200, 'the new address signs in')
      t.equal((await login(app, owner.user.email, PASSWORD)).statusCode, 401, 'the old one no longer does')

      // Someone with the session moves the account to their own address and confirms it at once:
      // the owner's cancel link, mailed to the old address, still undoes it.
      const victim = await registerTenant(app)
      const thief = await f.signIn(victim.user, victim.tenant)
      const moved = await call(app, thief, 'PUT', '/v1/me/email', {
        email: 'thief@evil.example.com',
        password: PASSWORD,
      })
      t.equal(moved.statusCode, 202)
      const toThief = await queuedToken(app, `change_email:${victim.user.id}`)
      const victimCancel = await queuedToken(app, `email_change_notice:${victim.user.id}`)
      t.equal((await confirm(app, toThief)).statusCode, 204, 'the new address confirms')
      t.equal((await confirm(app, victimCancel)).statusCode, 204, 'the old address cancels after the fact')
      t.equal((await call(app, thief, 'GET', '/v1/me')).statusCode, 401, 'every session ended, the thief too')
      t.equal((await login(app, 'thief@evil.example.com', PASSWORD)).statusCode, 401, 'the new address is gone')
      const back = await login(app, victim.user.email, PASSWORD)
      t.equal(back.statusCode, 200, 'the old address is back')
      t.ok(back.json().user.emailVerifiedAt, 'and proven by the cancel link')
      t.equal((await confirm(app, victimCancel)).statusCode, 410, 'a cancel link works once')

      const taken = await registerTenant(app)
      const other = await registerTenant(app)
      const toTaken = await call(app, other, 'PUT', '/v1/me/email', { email: taken.user.email, password: PASSWORD })
      const toFree = await call(app, taken, 'PUT', '/v1/me/email', {
        email: 'free@new.example.com',
        password: PASSWORD,
      })
      t.same([toTaken.statusCode, toTaken.body], [toFree.statusCode, toFree.body], 'a taken address: the same answer')
      t.same(await queuedKinds(app, taken.user.email), ['email_change_notice'], 'and no link goes to the taken address')
    },
  )

  t.test(
    'an invitation is mailed, resent with a new link (same expiry), and accepting proves the address',
    async (t) => {
      const owner = await registerTenant(app)
      const created = await call(app, owner, 'POST', '/v1/invitations', { email: 'invitee@mail.example.com' })
      t.equal(created.statusCode, 201)
      const first = await invitationToken(app, created.json().id)
      await f.root.query('delete from app_private.mail_budget')
      const resent = await call(app, owner, 'POST', `/v1/invitations/${created.json().id}/resend`)
      t.equal(resent.statusCode, 202)
      const second = await invitationToken(app, created.json().id)
      t.not(second, first, 'a new link')
      const again = await call(app, owner, 'POST', `/v1/invitations/${created.json().id}/resend`)
      t.same([again.statusCode, again.body], [202, resent.body], 'within 60 s: the same answer')
      t.equal(await invitationToken(app, created.json().id), second, 'and no new mail')
      const stale = await post(app, '/v1/invitations/accept', { token: first, name: 'Invitee', password: PASSWORD })
      t.equal(stale.statusCode, 404, 'the replaced link no longer works')
      const accepted = await post(app, '/v1/invitations/accept', { token: second, name: 'Invitee', password: PASSWORD })
      t.equal(accepted.statusCode, 200)
      t.ok(accepted.json().user.emailVerifiedAt, 'the address is proven')
      const gone = await call(app, owner, 'POST', `/v1/invitations/${created.json().id}/resend`)
      t.equal(gone.statusCode, 404, 'an accepted invitation is not resent')
    },
  )
})

t.test(
  'EMAIL_VERIFICATION_REQUIRED: register answers alike for a new and a taken address; sign-in waits for proof',
  async (t) => {
    const { app } = await buildTestApp(t, { env: { EMAIL_VERIFICATION_REQUIRED: 'true' } })
    const register = (email: string, slug: string) =>
      post(app, '/v1/auth/register', {
        email,
        password: PASSWORD,
        name: 'Someone',
        tenant: { name: slug, slug },
      })
    const fresh = await register('new-one@example.com', 'new-one')
    const taken = await register('new-one@example.com', 'new-two')
    t.same([fresh.statusCode, fresh.body], [202, taken.body], 'a new and a taken address: same status and body')
    t.equal(fresh.headers['set-cookie'], undefined)
    t.same(await queuedKinds(app, 'new-one@example.com'), ['verify_email', 'signup_attempt'], 'the owner is told')

    const wrong = await login(app, 'new-one@example.com', 'not the password')
    t.equal(wrong.statusCode, 401, 'a wrong password is refused as any other')
    const unverified = await login(app, 'new-one@example.com', PASSWORD)
    t.equal(unverified.statusCode, 403)
    t.equal(unverified.json().type, '/problems/email-unverified', 'the right password on an unproven address')
    const { rows } = await factoriesOf(app).root.query(
      `select id from app_public.users where email = 'new-one@example.com'`,
    )
    t.equal((await confirm(app, await queuedToken(app, `verify_email:${rows[0].id}`))).statusCode, 204)
    t.equal((await login(app, 'new-one@example.com', PASSWORD)).statusCode, 200, 'confirmed: signed in')
  },
)
