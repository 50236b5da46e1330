/**
 * Mail across processes: a worker killed mid-batch (SIGKILL, no graceful stop) leaves its jobs
 * to another worker at once, not after graphile-worker's 4-hour lock timeout; two API processes
 * and one worker send each mail exactly once. Every figure is reported with t.comment.
 */
import { randomBytes } from 'node:crypto'
import t from 'tap'
import { buildTestApp, factoriesOf, type Session } from '../helpers/app.ts'
import { connect, createTestDatabase } from '../helpers/db.ts'
import { type ReceivedMail, smtpPeer, spawnApi, spawnProcess, startTestWorker } from '../helpers/mail.ts'
import { waitFor } from '../helpers/wait.ts'

const counts = (mails: ReceivedMail[]) => {
  const byId = new Map<string, number>()
  for (const m of mails) byId.set(m.messageId, (byId.get(m.messageId) ?? 0) + 1)
  return {
    distinctRecipients: new Set(mails.map((m) => m.to)).size,
    duplicates: [...byId.values()].reduce((n, k) => n + k - 1, 0),
    duplicateIds: [...byId].filter(([, k]) => k > 1).map(([id, k]) => `${id}×${k}`),
  }
}

t.test('a worker killed mid-batch: another worker sends its jobs', async (t) => {
  const db = await createTestDatabase(t)
  const env = { JWT_SECRET: randomBytes(32).toString('base64url'), PUBLIC_URL: 'https://t.example.com' }
  const { app, config } = await buildTestApp(t, { db, env })
  const root = await connect(t, db.rootUrl)
  // A slow server, so the kill lands while mails are in flight.
  const smtp = await smtpPeer(t, { delayMs: 300 })
  const users: Session[] = []
  for (let i = 0; i < 30; i++) users.push(await factoriesOf(app).tenant())

  const { child, exited } = await spawnProcess(t, 'src/worker.ts', {
    ...env,
    DATABASE_OWNER_URL: db.ownerUrl,
    SMTP_URL: smtp.url,
    WORKER_CONCURRENCY: '3',
  })
  await Promise.all(
    users.map((u) => app.inject({ method: 'POST', url: '/v1/auth/password/forgot', payload: { email: u.user.email } })),
  )
  await waitFor('the first worker to send a few', () => smtp.received.length >= 5, { timeoutMs: 30_000 })
  child.kill('SIGKILL')
  await exited
  const atKill = smtp.received.length
  const stranded = await root.query(
    'select count(*)::int as n from graphile_worker._private_jobs where locked_at is not null',
  )
  t.ok(stranded.rows[0].n > 0, `the killed worker left ${stranded.rows[0].n} jobs locked`)

  await startTestWorker(t, { config, ownerUrl: db.ownerUrl, smtpUrl: smtp.url })
  const recipients = () => new Set(smtp.received.map((m) => m.to))
  await waitFor('every mail after the kill', () => users.every((u) => recipients().has(u.user.email)), {
    timeoutMs: 60_000,
    intervalMs: 100,
  })
  await waitFor(
    'the queue to drain',
    async () => (await root.query('select count(*)::int as n from graphile_worker._private_jobs')).rows[0].n === 0,
    { timeoutMs: 30_000 },
  )
  const result = counts(smtp.received)
  const lost = users.length - result.distinctRecipients
  t.equal(lost, 0, '0 lost')
  t.comment(
    `worker killed mid-batch: 30 mails, ${atKill} sent before the kill, ${stranded.rows[0].n} jobs left locked, ` +
      `${result.distinctRecipients} delivered, ${lost} lost, ${result.duplicates} duplicated` +
      (result.duplicateIds.length ? ` (${result.duplicateIds.join(', ')})` : ''),
  )
})

t.test('two API processes and one worker: each mail is sent exactly once', async (t) => {
  const db = await createTestDatabase(t)
  const env = {
    JWT_SECRET: randomBytes(32).toString('base64url'),
    PUBLIC_URL: 'https://t.example.com',
    BCRYPT_COST: '10',
    RATE_LIMIT_PER_IP: '1000000',
    RATE_LIMIT_AUTH_PER_IP: '1000000',
  }
  const { app } = await buildTestApp(t, { db, env })
  const smtp = await smtpPeer(t)
  const apiEnv = { ...env, DATABASE_URL: db.appUrl, RUN_JOBS: 'false' }
  const [one, two] = await Promise.all([spawnApi(t, apiEnv), spawnApi(t, apiEnv)])
  await spawnProcess(t, 'src/worker.ts', { ...env, DATABASE_OWNER_URL: db.ownerUrl, SMTP_URL: smtp.url })

  const users: Session[] = []
  for (let i = 0; i < 50; i++) users.push(await factoriesOf(app).tenant())
  // Every address asks twice at once, once through each process: the budget lets one mail out.
  const forgot = (base: string, email: string) =>
    fetch(`${base}/v1/auth/password/forgot`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email }),
    }).then((res) => res.status)
  const statuses = await Promise.all(users.flatMap((u) => [forgot(one, u.user.email), forgot(two, u.user.email)]))
  t.same(new Set(statuses), new Set([202]), '100 requests, all 202')
  await waitFor('50 mails', () => new Set(smtp.received.map((m) => m.to)).size === 50, { timeoutMs: 60_000 })
  await new Promise((resolve) => setTimeout(resolve, 1500)) // anything extra would arrive by now
  const result = counts(smtp.received)
  t.equal(smtp.received.length, 50, 'exactly 50 mails for 50 addresses')
  t.equal(result.duplicates, 0, 'no Message-ID twice')
  t.comment(
    `two API processes + one worker: 100 requests for 50 addresses, ${smtp.received.length} mails, ` +
      `${result.distinctRecipients} recipients, ${result.duplicates} duplicates`,
  )
})

t.test('npm run worker refuses to start without the owner role, with a message naming it', async (t) => {
  const { child, exited } = await spawnProcess(
    t,
    'src/worker.ts',
    { JWT_SECRET: randomBytes(32).toString('base64url'), LOG_LEVEL: 'silent' },
    { captureStderr: true },
  )
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString()
  })
  const code = await exited
  t.equal(code, 1, 'exit code 1')
  t.match(stderr, /DATABASE_OWNER_URL: required by npm run worker/)
})
