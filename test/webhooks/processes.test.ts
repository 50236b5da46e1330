/**
 * Webhooks across processes (issue 22): two API processes take the writes and two worker
 * processes deliver, to two endpoints on loopback receivers that refuse some attempts. Each event
 * reaches each endpoint once, in the log's commit order; duplicates (there should be none) are
 * counted and would share a webhook-id.
 */
import { randomBytes } from 'node:crypto'
import t from 'tap'
import { buildTestApp, call, factoriesOf } from '../helpers/app.ts'
import { createTestDatabase } from '../helpers/db.ts'
import { spawnApi, spawnProcess } from '../helpers/mail.ts'
import { waitFor } from '../helpers/wait.ts'
import { duplicates, verifies, webhookReceiver } from '../helpers/webhooks.ts'

t.test('two API processes and two workers: each event once per endpoint, in order', async (t) => {
  const db = await createTestDatabase(t)
  const env = {
    JWT_SECRET: randomBytes(32).toString('base64url'),
    PUBLIC_URL: 'https://t.example.com',
    RATE_LIMIT_PER_IP: '1000000',
    WEBHOOK_ALLOW_PRIVATE: 'true',
    WEBHOOK_RETRY_BASE_MS: '50',
  }
  const { app } = await buildTestApp(t, { db, env })
  const apiEnv = { ...env, DATABASE_URL: db.appUrl, RUN_JOBS: 'false' }
  const workerEnv = { ...env, DATABASE_OWNER_URL: db.ownerUrl }
  const [one, two] = await Promise.all([spawnApi(t, apiEnv), spawnApi(t, apiEnv)])
  await spawnProcess(t, 'src/worker.ts', workerEnv)
  await spawnProcess(t, 'src/worker.ts', workerEnv)

  const owner = await factoriesOf(app).tenant({ plan: 'enterprise' })
  // Every 9th request is refused: retries run while both workers are busy.
  const receivers = [await webhookReceiver(t, (n) => (n % 9 === 0 ? 500 : 200)), await webhookReceiver(t)]
  const endpoints: { id: string; secret: string }[] = []
  for (const receiver of receivers) {
    const res = await call(app, owner, 'POST', '/v1/webhooks', { url: receiver.url, events: ['ITEM_CREATED'] })
    endpoints.push(res.json() as { id: string; secret: string })
  }

  const EVENTS = 100
  const create = (base: string, i: number) =>
    fetch(`${base}/v1/items`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${owner.accessToken}` },
      body: JSON.stringify({ name: `item ${i}` }),
    }).then((res) => res.status)
  const statuses: number[] = []
  for (let i = 0; i < EVENTS; i += 10) {
    statuses.push(...(await Promise.all(Array.from({ length: 10 }, (_, j) => create(j % 2 ? one : two, i + j)))))
  }
  t.same(new Set(statuses), new Set([201]), `${EVENTS} items, through both API processes, 10 at a time`)
  const order = (await call(app, owner, 'GET', `/v1/activities?after=0&type=ITEM_CREATED&limit=100`))
    .json()
    .data.map((a: { id: number }) => a.id)
  t.equal(order.length, EVENTS)

  for (const receiver of receivers) {
    await waitFor('every event', () => new Set(receiver.accepted().map((r) => r.id)).size >= EVENTS, {
      timeoutMs: 60_000,
    })
  }
  await new Promise((resolve) => setTimeout(resolve, 1000)) // anything extra would arrive by now
  receivers.forEach((receiver, i) => {
    const accepted = receiver.accepted()
    const ids = accepted.map((r) => r.event.data.id)
    t.same(ids, order, `endpoint ${i + 1}: all ${EVENTS} events, in the log's commit order`)
    t.equal(accepted.length - new Set(accepted.map((r) => r.id)).size, 0, `endpoint ${i + 1}: no event accepted twice`)
    t.ok(
      receiver.received.every((r) => verifies(endpoints[i]!.secret, r)),
      `endpoint ${i + 1}: every request verifies`,
    )
    const refused = receiver.received.length - accepted.length
    t.comment(
      `two API processes + two workers, endpoint ${i + 1}: ${EVENTS} events, ${new Set(ids).size} delivered, ` +
        `${EVENTS - new Set(ids).size} lost, ${accepted.length - new Set(ids).size} duplicates, ${refused} refused attempts ` +
        `retried under their webhook-id (${duplicates(receiver.received).length} ids seen more than once)`,
    )
  })
})
