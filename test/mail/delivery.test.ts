/**
 * Mail over a real SMTP peer (npm smtp-server), sent by the real worker: a rolled-back request
 * sends nothing, an SMTP outage loses nothing (and what it duplicates is recognisable by its
 * Message-ID), and links start with PUBLIC_URL.
 */
import t from 'tap'
import { buildTestApp, factoriesOf, registerTenant, type Session } from '../helpers/app.ts'
import { connect, createTestDatabase } from '../helpers/db.ts'
import { type ReceivedMail, smtpPeer, startTestWorker } from '../helpers/mail.ts'
import { waitFor } from '../helpers/wait.ts'

const PUBLIC_URL = 'https://tenantry.example.com'

/** Message-IDs received more than once, and how often. */
const duplicates = (mails: ReceivedMail[]) =>
  Object.entries(
    mails.reduce<Record<string, number>>((acc, m) => {
      acc[m.messageId] = (acc[m.messageId] ?? 0) + 1
      return acc
    }, {}),
  ).filter(([, n]) => n > 1)

t.test('mail delivery through the queue', async (t) => {
  const db = await createTestDatabase(t)
  const { app, config } = await buildTestApp(t, { db, env: { PUBLIC_URL } })
  const root = await connect(t, db.rootUrl)
  const smtp = await smtpPeer(t)
  const worker = await startTestWorker(t, { config, ownerUrl: db.ownerUrl, smtpUrl: smtp.url })
  const forgot = (email: string) => app.inject({ method: 'POST', url: '/v1/auth/password/forgot', payload: { email } })
  const resetsTo = (email: string) => smtp.received.filter((m) => m.to === email && /reset/i.test(m.subject))

  t.test('forgot → a mail over SMTP whose link, from PUBLIC_URL, resets the password', async (t) => {
    const user = await registerTenant(app)
    await forgot(user.user.email)
    await waitFor('the reset mail', () => resetsTo(user.user.email).length === 1)
    const [mail] = resetsTo(user.user.email)
    t.match(mail!.body, `${PUBLIC_URL}/account/reset#token=`, 'the link starts with PUBLIC_URL, never the Host')
    t.match(mail!.messageId, /^<job-\d+@tenantry\.example\.com>$/, "a Message-ID of the job's own")
    const reset = await app.inject({
      method: 'POST',
      url: '/v1/auth/password/reset',
      payload: { token: mail!.token, password: 'a brand new passphrase' },
    })
    t.equal(reset.statusCode, 204, 'the mailed token resets the password')
  })

  t.test('a request that queued mail and then failed sends nothing', async (t) => {
    const user = await registerTenant(app)
    // Fails every transaction that queued a job, at its commit: after the mail was enqueued.
    await root.query(`
      create function pg_temp.sabotage() returns trigger language plpgsql as
        $$ begin raise exception 'forced failure at commit'; end $$;
      create constraint trigger sabotage after insert on graphile_worker._private_jobs
        deferrable initially deferred for each row execute function pg_temp.sabotage();`)
    const failed = await forgot(user.user.email)
    await root.query('drop trigger sabotage on graphile_worker._private_jobs')
    t.ok(failed.statusCode >= 500, `the request failed (${failed.statusCode})`)
    const queued = await root.query(
      `select count(*)::int as n from graphile_worker._private_jobs where payload->>'to' = $1`,
      [user.user.email],
    )
    t.equal(queued.rows[0].n, 0, 'no job survived the rollback')
    const tokens = await root.query('select count(*)::int as n from app_private.email_tokens where user_id = $1', [
      user.user.id,
    ])
    t.equal(tokens.rows[0].n, 0, 'nor a token')
    // A mail queued after it is delivered: the worker is running, so silence above means nothing was there.
    const control = await registerTenant(app)
    await forgot(control.user.email)
    await waitFor('a later mail', () => resetsTo(control.user.email).length === 1)
    t.equal(resetsTo(user.user.email).length, 0, '0 mails for the rolled-back request')
    t.comment(`rollback: ${resetsTo(user.user.email).length} mails sent for the failed request`)
  })

  t.test('SMTP down while 50 resets are requested: all 50 delivered once it returns', async (t) => {
    const users: Session[] = []
    for (let i = 0; i < 50; i++) users.push(await factoriesOf(app).tenant())
    await smtp.stop()
    const before = smtp.received.length
    const answers = await Promise.all(users.map((u) => forgot(u.user.email)))
    t.same(new Set(answers.map((a) => a.statusCode)), new Set([202]), 'every request is answered at once: 202')
    const states = async () =>
      (
        await root.query<{ state: string; n: number }>(
          `select state, count(*)::int as n from app_audit.mail_queue where kind = 'reset_password' group by 1 order by 1`,
        )
      ).rows
    await waitFor(
      'every send to fail once',
      async () => (await states()).some((s) => s.state === 'retrying' && s.n === 50),
      { timeoutMs: 30_000, intervalMs: 100 },
    )
    const failedOnce = await states()
    t.same(failedOnce, [{ state: 'retrying', n: 50 }], 'a DBA sees 50 mails retrying in app_audit.mail_queue')
    const lastError = await root.query(`select last_error from app_audit.mail_queue limit 1`)
    t.match(lastError.rows[0].last_error, /ECONNREFUSED/, 'with the reason')
    await smtp.start()
    const delivered = () => new Set(smtp.received.slice(before).map((m) => m.to))
    await waitFor('all 50 after the outage', () => users.every((u) => delivered().has(u.user.email)), {
      timeoutMs: 90_000,
      intervalMs: 200,
    })
    await new Promise((resolve) => setTimeout(resolve, 1000)) // let any duplicate arrive before counting
    const mails = smtp.received.slice(before)
    const lost = users.filter((u) => !delivered().has(u.user.email)).length
    const dups = duplicates(mails)
    t.equal(lost, 0, '0 lost')
    t.equal(mails.length, 50 + dups.reduce((n, [, k]) => n + k - 1, 0), 'every extra mail is a duplicate Message-ID')
    t.same(await states(), [], 'and the queue is empty')
    t.comment(
      `SMTP down: 50 requested, ${delivered().size} delivered, ${lost} lost, ${mails.length - 50} duplicates` +
        (dups.length ? ` (${dups.map(([id, n]) => `${id}×${n}`).join(', ')})` : ''),
    )
  })

  t.test('graceful stop: a stopped worker holds no job', async (t) => {
    await worker.stop()
    const locked = await root.query(
      'select count(*)::int as n from graphile_worker._private_jobs where locked_at is not null',
    )
    t.equal(locked.rows[0].n, 0)
  })
})

t.test('GET /dev/mail: the dev mailbox in development, absent in production', async (t) => {
  const db = await createTestDatabase(t)
  const { app, config } = await buildTestApp(t, { db })
  const user = await registerTenant(app)
  await app.inject({ method: 'POST', url: '/v1/auth/password/forgot', payload: { email: user.user.email } })
  await startTestWorker(t, { config, ownerUrl: db.ownerUrl })
  const mailbox = async () => (await app.inject({ method: 'GET', url: '/dev/mail' })).json()
  await waitFor('the dev mailbox', async () => (await mailbox()).data.length === 1)
  const [mail] = (await mailbox()).data
  t.match(mail, {
    to: user.user.email,
    subject: 'Reset your password',
    links: [/^http:\/\/localhost:3000\/account\/reset#token=[\w-]{43}$/],
    text: String,
    html: String,
    sentAt: String,
  })
  const production = await buildTestApp(t, {
    db,
    env: {
      NODE_ENV: 'production',
      JWT_SECRET: 's'.repeat(32),
      SMTP_URL: 'smtp://127.0.0.1:9',
      PUBLIC_URL: 'https://x.example.com',
    },
  })
  t.equal((await production.app.inject({ method: 'GET', url: '/dev/mail' })).statusCode, 404, 'absent in production')
})
