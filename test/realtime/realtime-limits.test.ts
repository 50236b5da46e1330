import { request } from 'node:http'
import { setTimeout as delay } from 'node:timers/promises'
import { io, type Socket } from 'socket.io-client'
import t, { type Test } from 'tap'
import { buildTestApp, call, registerTenant } from '../helpers/app.ts'
import { connect } from '../helpers/db.ts'
import { listen } from '../helpers/realtime.ts'

/*
 * Issue 17, "Sockets under limits": Socket.IO handshakes and events skip Fastify, so each
 * budget is re-checked here through a real listener and real socket.io-client connections,
 * each from its own loopback source address (the server sees 127.0.0.N as the client).
 */

type Outcome = { connected: boolean; type: string | null; socket: Socket }

/** One handshake from `localAddress`: connected, or refused with the problem type of connect_error. */
function handshake(t: Test, base: string, token: string, localAddress: string): Promise<Outcome> {
  const socket = io(base, {
    path: '/socket.io',
    transports: ['websocket'],
    reconnection: false,
    auth: { token },
    forceNew: true,
    localAddress,
  } as Parameters<typeof io>[1])
  t.teardown(() => socket.close())
  return new Promise((resolve) => {
    socket.once('connect', () => resolve({ connected: true, type: null, socket }))
    socket.once('connect_error', (error: Error & { data?: { type?: string } }) =>
      resolve({ connected: false, type: error.data?.type ?? error.message, socket }),
    )
  })
}

const tally = (outcomes: Outcome[]) => {
  const counts: Record<string, number> = {}
  for (const o of outcomes) {
    const key = o.connected ? 'connected' : (o.type ?? 'refused')
    counts[key] = (counts[key] ?? 0) + 1
  }
  return counts
}

/** A plain GET from `localAddress`, as another client of the same address would make it. */
function getFrom(base: string, path: string, localAddress: string): Promise<{ status: number; remaining: number }> {
  const { port } = new URL(base)
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, localAddress, agent: false }, (res) => {
      res.resume()
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, remaining: Number(res.headers['ratelimit-remaining']) }),
      )
    })
    req.on('error', reject)
    req.end()
  })
}

/** The promise's value, or a failure after `ms` (the old code never sends what is awaited). */
const within = <T>(promise: Promise<T>, ms = 5000): Promise<T> =>
  Promise.race([
    promise,
    delay(ms, undefined, { ref: false }).then(() => Promise.reject(new Error(`nothing within ${ms} ms`))),
  ])

const until = async (condition: () => boolean, ms = 5000) => {
  const deadline = Date.now() + ms
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((resolve) => setImmediate(resolve))
  }
}

t.test('a handshake spends its address budget, a bad token included, shared with HTTP', async (t) => {
  const { app } = await buildTestApp(t, { env: { RATE_LIMIT_PER_IP: '10' } })
  const base = await listen(app)
  const address = '127.0.17.1'
  const outcomes: Outcome[] = []
  // Sequential: the budget is a count, not a race.
  for (let i = 0; i < 15; i++) outcomes.push(await handshake(t, base, 'not-a-token', address))
  const counts = tally(outcomes)
  t.comment(`15 bad-token handshakes from one address: ${JSON.stringify(counts)}`)
  t.equal(counts['/problems/invalid-token'], 10, 'the first 10 are refused for their token')
  t.equal(counts['/problems/rate-limited'], 5, 'the rest are refused by the address budget')
  const after = await getFrom(base, '/v1/activities', address)
  t.equal(after.status, 429, 'an HTTP request from that address finds its budget spent')
  const other = await getFrom(base, '/v1/activities', '127.0.17.2')
  t.equal(other.remaining, 9, 'another address keeps its whole budget')
})

t.test('sockets are capped per user, per address and per instance; closing frees the seat', async (t) => {
  const { app } = await buildTestApp(t, {
    env: { REALTIME_SOCKETS_PER_USER: '3', REALTIME_SOCKETS_PER_ADDRESS: '4', REALTIME_MAX_SOCKETS: '8' },
  })
  const base = await listen(app)

  // One account from 10 addresses at once: 3 sockets.
  const alice = await registerTenant(app)
  const perUser = await Promise.all(
    Array.from({ length: 10 }, (_, i) => handshake(t, base, alice.accessToken, `127.0.18.${i + 1}`)),
  )
  t.comment(`perUser: ${JSON.stringify(tally(perUser))}`)
  t.same(tally(perUser), { connected: 3, '/problems/rate-limited': 7 }, 'one user holds at most 3 sockets')

  // Four accounts, two sockets each, from one address at once: 4 sockets.
  const owners = await Promise.all(Array.from({ length: 4 }, () => registerTenant(app)))
  const perAddress = await Promise.all(
    owners.flatMap((owner) => [0, 1].map(() => handshake(t, base, owner.accessToken, '127.0.19.1'))),
  )
  t.comment(`perAddress: ${JSON.stringify(tally(perAddress))}`)
  t.same(tally(perAddress), { connected: 4, '/problems/rate-limited': 4 }, 'one address holds at most 4 sockets')

  // 7 held; five more accounts from five addresses: the instance takes one more.
  const more = await Promise.all(Array.from({ length: 5 }, () => registerTenant(app)))
  const perInstance = await Promise.all(
    more.map((owner, i) => handshake(t, base, owner.accessToken, `127.0.20.${i + 1}`)),
  )
  t.comment(`perInstance: ${JSON.stringify(tally(perInstance))}`)
  t.same(tally(perInstance), { connected: 1, '/problems/rate-limited': 4 }, 'the instance holds at most 8 sockets')
  t.equal(app.realtime.hub.connectedSockets, 8)

  // Refused transports are closed by the server, whatever the client does.
  await until(() => app.realtime.io.engine.clientsCount === 8)
  t.pass('only the 8 admitted transports stay open')

  // Alice closes her sockets: her seats (and the instance's) come back.
  for (const o of perUser) o.socket.close()
  await until(() => app.realtime.hub.connectedSockets === 5)
  const again = await Promise.all([1, 2, 3, 4].map((i) => handshake(t, base, alice.accessToken, `127.0.21.${i}`)))
  t.same(tally(again), { connected: 3, '/problems/rate-limited': 1 }, 'after closing, alice has her 3 seats again')
})

t.test('every client event is rate-limited per socket and charged to the tenant budget', async (t) => {
  const { app } = await buildTestApp(t, { env: { REALTIME_EVENTS_PER_MINUTE: '20' } })
  const base = await listen(app)
  const owner = await registerTenant(app)
  const usedBefore = (await call(app, owner, 'GET', '/v1/tenant')).json().usage.requestsPerMinute.used as number

  const { socket } = await handshake(t, base, owner.accessToken, '127.0.22.1')
  const revoked = new Promise<{ type: string }>((resolve) => socket.once('revoked', resolve))
  const disconnected = new Promise((resolve) => socket.once('disconnect', resolve))
  const answers: { ok: boolean; problem?: { type: string } }[] = []
  // One after another, each answered before the next, until the server cuts the socket.
  for (let i = 0; i < 30 && socket.connected; i++) {
    answers.push(
      await new Promise((resolve) => {
        // Every other one an event nobody handles: it counts too (its ack is the refusal).
        if (i % 2 === 0) socket.emit('auth', { token: owner.accessToken }, resolve)
        else
          socket
            .timeout(200)
            .emit('anything', {}, (error: Error | null, answer: unknown) =>
              resolve(error ? { ok: true } : (answer as { ok: boolean })),
            )
      }),
    )
  }
  const processed = answers.filter((a) => a.ok).length
  t.comment(`${answers.length} events sent one after another: ${processed} let through`)
  t.equal(
    (await within(revoked)).type,
    '/problems/rate-limited',
    'past the limit the socket gets a /rate-limited problem',
  )
  await within(disconnected)
  t.equal(answers.length, 21, 'the 21st event was the last: the socket was disconnected')
  t.equal(processed, 20, 'the first 20 events were let through')
  t.equal(answers[20]?.problem?.type, '/problems/rate-limited', 'the 21st was answered with the problem')
  const usedAfter = (await call(app, owner, 'GET', '/v1/tenant')).json().usage.requestsPerMinute.used as number
  t.comment(`events from one socket: ${processed} let through; tenant budget used ${usedBefore} → ${usedAfter}`)
  // The first GET, the handshake, 20 events and this GET.
  t.equal(usedAfter - usedBefore, 22, "the handshake and the 20 counted events were charged to the tenant's budget")
})

t.test('an event past the tenant budget gets the problem, then a disconnect', async (t) => {
  const { app, db } = await buildTestApp(t)
  const root = await connect(t, db.rootUrl)
  await root.query(`update app_public.plans set requests_per_minute = 20 where id = 'free'`)
  const base = await listen(app)
  const owner = await registerTenant(app)
  const { socket, connected } = await handshake(t, base, owner.accessToken, '127.0.23.1')
  t.ok(connected, 'the socket is connected')
  // The plan's 20 requests per minute (one of them the handshake), spent over REST.
  let status = 200
  for (let i = 0; i < 30 && status !== 429; i++) status = (await call(app, owner, 'GET', '/v1/me')).statusCode
  t.equal(status, 429, 'the tenant has spent its budget')
  const revoked = new Promise<{ type: string }>((resolve) => socket.once('revoked', resolve))
  const answer = await new Promise<{ ok: boolean; problem?: { type: string } }>((resolve) =>
    socket.emit('auth', { token: owner.accessToken }, resolve),
  )
  t.equal(answer.problem?.type, '/problems/rate-limited', 'the event is refused with /rate-limited')
  t.equal((await within(revoked)).type, '/problems/rate-limited', 'then `revoked` with the problem')
  await within(new Promise((resolve) => (socket.connected ? socket.once('disconnect', resolve) : resolve(null))))
  t.notOk(socket.connected, 'and the socket is disconnected')
})
