/**
 * Webhooks end to end (issue 22): endpoints, Standard Webhooks signatures verified with the
 * `standardwebhooks` package, commit order per endpoint, retries with backoff, disabling with
 * WEBHOOK_DISABLED, the delivery log and manual retry. Receivers are loopback servers only, with
 * WEBHOOK_ALLOW_PRIVATE on; with it off, a loopback endpoint is refused and sees nothing.
 */
import t, { type Test } from 'tap'
import { Activity } from '../../src/activities/schemas.ts'
import { buildTestApp, call, registerTenant, type Session } from '../helpers/app.ts'
import { connect } from '../helpers/db.ts'
import { decodeJwt } from '../helpers/jwt.ts'
import { startTestWorker } from '../helpers/mail.ts'
import { waitFor } from '../helpers/wait.ts'
import { duplicates, verifies, webhookReceiver } from '../helpers/webhooks.ts'

type Endpoint = { id: string; secret: string; url: string; enabled: boolean; disabledReason: string | null }
type Delivery = {
  id: string
  activityId: number
  status: string
  attempts: number
  responseStatus: number | null
  error: string | null
  latencyMs: number | null
}

const ENV = {
  WEBHOOK_ALLOW_PRIVATE: 'true',
  WEBHOOK_RETRY_BASE_MS: '50',
  WEBHOOK_MAX_ATTEMPTS: '5',
  WEBHOOK_TIMEOUT_MS: '2000',
}

async function setup(t: Test, env: Record<string, string> = ENV) {
  const built = await buildTestApp(t, { env })
  await startTestWorker(t, { config: built.config, ownerUrl: built.db.ownerUrl })
  return built
}

const create = async (app: Parameters<typeof call>[0], owner: Session, body: object): Promise<Endpoint> => {
  const res = await call(app, owner, 'POST', '/v1/webhooks', body)
  if (res.statusCode !== 201) throw new Error(`create webhook: ${res.statusCode} ${res.body}`)
  return res.json()
}
const deliveries = async (app: Parameters<typeof call>[0], owner: Session, id: string): Promise<Delivery[]> =>
  (await call(app, owner, 'GET', `/v1/webhooks/${id}/deliveries?limit=100`)).json().data

t.test('webhooks', async (t) => {
  const { app, db } = await setup(t)

  t.test('an endpoint: its secret shown once; lists never show it; admins only', async (t) => {
    const owner = await registerTenant(app)
    const receiver = await webhookReceiver(t)
    const endpoint = await create(app, owner, { url: receiver.url, events: ['ITEM_CREATED'] })
    t.match(endpoint.secret, /^whsec_/)
    const listed = (await call(app, owner, 'GET', '/v1/webhooks')).json().data
    t.same(
      listed.map((e: Endpoint) => [e.id, 'secret' in e]),
      [[endpoint.id, false]],
      'no secret in the list',
    )
    t.notOk('secret' in (await call(app, owner, 'GET', `/v1/webhooks/${endpoint.id}`)).json(), 'nor in the endpoint')
    const member = await (await import('../helpers/app.ts')).addMember(app, owner, 'member')
    t.equal((await call(app, member, 'GET', '/v1/webhooks')).statusCode, 403)
    const bad = await call(app, owner, 'POST', '/v1/webhooks', { url: receiver.url, events: ['NOT_A_TYPE'] })
    t.equal(bad.statusCode, 400, 'unknown event types are refused')
  })

  t.test(
    'a receiver down for its first attempts: all arrive, in order, signed, 0 lost, duplicates share an id',
    async (t) => {
      const owner = await registerTenant(app)
      const DOWN = 4
      const receiver = await webhookReceiver(t, (n) => (n <= DOWN ? 500 : 200))
      const endpoint = await create(app, owner, { url: receiver.url, events: ['ITEM_CREATED', 'ITEM_DELETED'] })
      const ids: number[] = []
      for (let i = 0; i < 20; i++) {
        const item = (await call(app, owner, 'POST', '/v1/items', { name: `n${i}` })).json()
        if (i % 5 === 0) await call(app, owner, 'DELETE', `/v1/items/${item.id}`)
        await call(app, owner, 'PATCH', `/v1/items/${item.id}`, { name: `renamed ${i}` }) // not subscribed
      }
      const log = (await call(app, owner, 'GET', '/v1/activities?after=0&limit=100')).json().data as {
        id: number
        type: string
      }[]
      for (const a of log) if (a.type === 'ITEM_CREATED' || a.type === 'ITEM_DELETED') ids.push(a.id)
      await waitFor(`${ids.length} deliveries`, () => receiver.accepted().length >= ids.length, { timeoutMs: 30_000 })
      await new Promise((resolve) => setTimeout(resolve, 300))
      const accepted = receiver.accepted()
      t.same(
        accepted.map((r) => r.event.data.id),
        ids,
        `all ${ids.length} events, in the log's commit order (as ?after= and sockets), after ${DOWN} failed attempts`,
      )
      t.ok(
        receiver.received.every((r) => verifies(endpoint.secret, r)),
        'every request verifies with standardwebhooks',
      )
      t.ok(
        accepted.every(
          (r) =>
            Activity.safeParse(r.event.data).success &&
            r.event.type === r.event.data.type &&
            r.event.timestamp === r.event.data.createdAt,
        ),
        'each body is {type, timestamp, data}, data the typed Activity REST and sockets send',
      )
      t.same(
        new Set(accepted.map((r) => r.event.type)),
        new Set(['ITEM_CREATED', 'ITEM_DELETED']),
        'only the types asked for',
      )
      const dupes = duplicates(receiver.received)
      t.equal(receiver.received.length - accepted.length, DOWN, `${DOWN} refused attempts`)
      t.same(
        dupes.map(([, n]) => n),
        [DOWN + 1],
        'the refused attempts were one event, retried under one webhook-id',
      )
      const log2 = await deliveries(app, owner, endpoint.id)
      t.equal(log2.length, ids.length, 'one delivery per event in the log')
      const first = log2.find((d) => d.activityId === ids[0])!
      t.match(first, { status: 'delivered', attempts: DOWN + 1, responseStatus: 200, error: null })
      t.ok(log2.every((d) => d.status === 'delivered' && typeof d.latencyMs === 'number'))
      t.comment(
        `receiver down for ${DOWN} attempts: ${ids.length} events, ${accepted.length} delivered in order, ` +
          `${ids.length - new Set(accepted.map((r) => r.id)).size} lost, ${DOWN} retries of 1 event under 1 webhook-id`,
      )
    },
  )

  t.test('a lower position that commits late is delivered, in the order sockets and ?after= use', async (t) => {
    const owner = await registerTenant(app)
    const receiver = await webhookReceiver(t)
    await create(app, owner, { url: receiver.url, events: ['BROADCAST_MESSAGE'] })
    const t1 = await connect(t, db.appUrl)
    await t1.query('begin')
    await t1.query('select app_private.begin_request($1, $2, $3)', [
      owner.tenant.id,
      owner.user.id,
      decodeJwt(owner.accessToken).sid,
    ])
    await t1.query('select pg_current_xact_id()')
    const second = (await call(app, owner, 'POST', '/v1/tenant/broadcasts', { message: 'T2' })).json()
    await new Promise((resolve) => setTimeout(resolve, 500))
    t.equal(receiver.received.length, 0, 'T2 committed, but T1 (a lower position) is open: nothing is sent yet')
    const first = (
      await t1.query(
        `insert into app_public.activities (type, payload) values ('BROADCAST_MESSAGE', '{"message":"T1"}') returning id`,
      )
    ).rows[0]
    await t1.query('commit')
    await waitFor('both', () => receiver.accepted().length >= 2)
    const sent = receiver.accepted().map((r) => r.event.data.id)
    const after = (await call(app, owner, 'GET', '/v1/activities?after=0&limit=100'))
      .json()
      .data.filter((a: { type: string }) => a.type === 'BROADCAST_MESSAGE')
    t.same(
      sent,
      after.map((a: { id: number }) => a.id),
      'the same order as GET /v1/activities?after=',
    )
    t.same(
      sent,
      [Number(first.id), second.id],
      `T1 (id ${first.id}, lower position, committed last) first, then T2 (id ${second.id}); none skipped`,
    )
  })

  t.test('failing for the whole schedule: disabled with WEBHOOK_DISABLED; enabled again, it resumes', async (t) => {
    const owner = await registerTenant(app)
    let up = false
    const receiver = await webhookReceiver(t, () => (up ? 200 : 503))
    const endpoint = await create(app, owner, { url: receiver.url, events: ['ITEM_CREATED'] })
    await call(app, owner, 'POST', '/v1/items', { name: 'one' })
    await call(app, owner, 'POST', '/v1/items', { name: 'two' })
    await waitFor(
      'disabled',
      async () => !(await call(app, owner, 'GET', `/v1/webhooks/${endpoint.id}`)).json().enabled,
      {
        timeoutMs: 20_000,
      },
    )
    const disabled = (await call(app, owner, 'GET', `/v1/webhooks/${endpoint.id}`)).json()
    t.match(disabled.disabledReason, /5 attempts failed; the last: HTTP 503/)
    t.equal(receiver.received.length, 5, 'WEBHOOK_MAX_ATTEMPTS (5) attempts of the first event, none of the second')
    const gaps = receiver.received.slice(1).map((r, i) => r.at - receiver.received[i]!.at)
    t.ok(
      gaps.every((gap, i) => gap >= 50 * 3 ** i * 0.9),
      `backoff grows 3× (gaps ${gaps.map(Math.round).join(', ')} ms)`,
    )
    const activity = (await call(app, owner, 'GET', '/v1/activities?type=WEBHOOK_DISABLED')).json().data[0]
    t.match(activity, { actor: null, target: endpoint.id, payload: { webhookId: endpoint.id, url: receiver.url } })
    const [failed] = (await deliveries(app, owner, endpoint.id)).filter((d) => d.status === 'failed')
    t.match(failed, { attempts: 5, responseStatus: 503, error: 'HTTP 503' })

    up = true
    const enabled = await call(app, owner, 'PATCH', `/v1/webhooks/${endpoint.id}`, { enabled: true })
    t.match(enabled.json(), { enabled: true, disabledReason: null })
    await waitFor('both events', () => receiver.accepted().length >= 2)
    t.same(receiver.accepted().map((r) => r.event.data.id).length, 2, 'enabled again: the failed event, then the next')
  })

  t.test('the delivery log, a manual retry with the same webhook-id, a rotated secret', async (t) => {
    const owner = await registerTenant(app)
    const receiver = await webhookReceiver(t)
    const endpoint = await create(app, owner, { url: receiver.url, events: ['ITEM_CREATED'] })
    await call(app, owner, 'POST', '/v1/items', { name: 'once' })
    await waitFor('one', () => receiver.accepted().length === 1)
    const [delivery] = await deliveries(app, owner, endpoint.id)
    const retried = await call(app, owner, 'POST', `/v1/webhooks/${endpoint.id}/deliveries/${delivery!.id}/retry`)
    t.equal(retried.statusCode, 202)
    await waitFor('the retry', () => receiver.received.length === 2)
    t.equal(receiver.received[1]!.id, receiver.received[0]!.id, 'the retry carries the same webhook-id')
    t.equal(receiver.received[0]!.id, `msg_${delivery!.id}`, 'the webhook-id names the delivery')
    await waitFor('logged', async () => (await deliveries(app, owner, endpoint.id))[0]!.attempts === 2)

    const rotated = await call(app, owner, 'POST', `/v1/webhooks/${endpoint.id}/secret`)
    t.equal(rotated.statusCode, 200)
    const { secret } = rotated.json()
    await call(app, owner, 'POST', '/v1/items', { name: 'after rotation' })
    await waitFor('the next', () => receiver.accepted().length === 3)
    const last = receiver.received.at(-1)!
    t.ok(verifies(secret, last) && verifies(endpoint.secret, last), 'during the grace period both secrets verify')
    t.equal(last.signature.split(' ').length, 2, 'two signatures')

    const other = await registerTenant(app)
    const foreign = await call(app, other, 'POST', `/v1/webhooks/${endpoint.id}/deliveries/${delivery!.id}/retry`)
    t.equal(foreign.statusCode, 404, "another tenant's delivery: 404")
  })
})

t.test('the plan caps a tenant’s endpoints, race-proof: each one is another request per event', async (t) => {
  const { app } = await buildTestApp(t, { env: ENV })
  for (let round = 0; round < 3; round++) {
    const owner = await registerTenant(app)
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        call(app, owner, 'POST', '/v1/webhooks', { url: `http://127.0.0.1:9/hook-${i}`, events: ['ITEM_CREATED'] }),
      ),
    )
    const codes = results.map((r) => r.statusCode)
    t.equal(
      codes.filter((c) => c === 201).length,
      5,
      `round ${round}: 12 parallel creations on free → exactly 5 endpoints`,
    )
    t.equal(codes.filter((c) => c === 403).length, 7, 'the rest: 403')
    t.match(results.find((r) => r.statusCode === 403)?.json().type, /plan-limit-exceeded$/)
    if (round === 0) {
      const one = results.find((r) => r.statusCode === 201)!.json()
      t.equal((await call(app, owner, 'DELETE', `/v1/webhooks/${one.id}`)).statusCode, 204)
      const replaced = await call(app, owner, 'POST', '/v1/webhooks', {
        url: 'http://127.0.0.1:9/replacement',
        events: ['ITEM_CREATED'],
      })
      t.equal(replaced.statusCode, 201, 'a deleted endpoint frees its place')
    }
  }
})

t.test('WEBHOOK_ALLOW_PRIVATE off: loopback endpoints are refused, and a loopback receiver sees nothing', async (t) => {
  const { app } = await setup(t, { WEBHOOK_RETRY_BASE_MS: '50', WEBHOOK_MAX_ATTEMPTS: '2' })
  const owner = await registerTenant(app)
  const receiver = await webhookReceiver(t)
  for (const url of [
    receiver.url,
    `https://127.0.0.1:${receiver.port}/hook`,
    `https://[::ffff:127.0.0.1]:${receiver.port}/`,
  ]) {
    const res = await call(app, owner, 'POST', '/v1/webhooks', { url, events: ['ITEM_CREATED'] })
    t.equal(res.statusCode, 400, `${url}: ${res.json().detail}`)
  }
  // A name is resolved at delivery: localhost is loopback, refused after DNS, never connected to.
  const endpoint = await create(app, owner, {
    url: `https://localhost:${receiver.port}/hook`,
    events: ['ITEM_CREATED'],
  })
  await call(app, owner, 'POST', '/v1/items', { name: 'x' })
  await waitFor('given up', async () => (await deliveries(app, owner, endpoint.id))[0]?.status === 'failed', {
    timeoutMs: 10_000,
  })
  const [delivery] = await deliveries(app, owner, endpoint.id)
  t.match(delivery!.error, /refused: localhost resolves only to refused addresses: .*loopback/)
  t.equal(receiver.received.length, 0, 'the loopback receiver saw nothing')
})
