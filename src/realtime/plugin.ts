import { setTimeout as delay } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import pgListen from 'pg-listen'
import { Server } from 'socket.io'
import { z } from 'zod'
import { looksLikeApiKey } from '../auth/api-keys.ts'
import { requireTenant, verifyAccessToken } from '../auth/plugin.ts'
import { accessLost } from '../db/errors.ts'
import type { ReadinessCheck } from '../health/readiness.ts'
import { clientKey } from '../limits/client.ts'
import { clientAddress, proxyTrust } from '../net.ts'
import { forbidden, Problem } from '../problems.ts'
import { Admission, EventWindow, Seat } from './admission.ts'
import { Hub } from './hub.ts'
import { queueUsage } from './queries.ts'
import { Client } from './room.ts'

const createSubscriber = pgListen.default

/**
 * A socket watches one tenant's activities: a tenantless token is refused as tenant routes refuse
 * it. So is an API key: a socket's revocation (revalidate, session bells, removal notices) is
 * built on sessions, and a machine that wants every event reliably gets webhooks, which retry
 * and keep order without a connection held open.
 */
async function verifyTenantToken(app: FastifyInstance, token: string) {
  if (looksLikeApiKey(token)) {
    throw forbidden('API keys cannot open a Socket.IO connection: sign in as a person, or use webhooks')
  }
  return requireTenant(await verifyAccessToken(app, token))
}

export const ACTIVITY_CHANNEL = 'tenantry_activity'
export const SESSION_CHANNEL = 'tenantry_session'
/** The LISTEN connection's application_name, so a DBA (and the tests) can find it in pg_stat_activity. */
export const LISTENER_APPLICATION_NAME = 'tenantry_realtime_listener'

declare module 'fastify' {
  interface FastifyInstance {
    realtime: { io: Server; hub: Hub; readinessChecks: ReadinessCheck[] }
  }
}

const HandshakeAuth = z.object({
  token: z.string().min(1).max(8192),
  lastEventId: z.number().int().min(0).nullish(),
})
const AuthMessage = z.object({ token: z.string().min(1).max(8192) })
const Doorbell = z.object({ seq: z.number().int() })
const SessionBell = z.object({ sessionId: z.uuid() })

/** A transport that has not joined the namespace (its handshake) is closed after this long. */
export const HANDSHAKE_TIMEOUT_MS = 5000
/** How long a refused handshake's transport stays open for the client to read the problem. */
const REFUSED_TRANSPORT_GRACE_MS = 1000
/** A client that misses a ping for interval + timeout is gone: its socket and its seat are freed. */
const PING_INTERVAL_MS = 25_000
const PING_TIMEOUT_MS = 10_000

/** A connect_error whose `data` is the problem an HTTP request would have got. */
function handshakeError(problem: Problem): Error {
  const error = new Error(problem.message) as Error & { data: unknown }
  error.data = problem.body()
  return error
}

/**
 * Socket.IO on the API's own HTTP server (path /socket.io, one namespace) and the pg-listen
 * bridge. Connection-state recovery stays off: every connect is authorized afresh and replays
 * from the database, never from one process's memory.
 */
export const realtimePlugin = fp(
  async (app: FastifyInstance, options: { databaseUrl: string }) => {
    const config = app.config
    const log = app.log.child({ module: 'realtime' })
    const hub = new Hub({
      pool: app.db,
      log,
      replayLimit: config.REALTIME_REPLAY_LIMIT,
      maxBuffered: config.REALTIME_MAX_BUFFERED,
    })
    const admission = new Admission({
      perInstance: config.REALTIME_MAX_SOCKETS,
      perAddress: config.REALTIME_SOCKETS_PER_ADDRESS,
      perUser: config.REALTIME_SOCKETS_PER_USER,
    })
    // Transports that never join (raw engine.io clients) are not counted by the admission; this
    // backstop bounds them, with headroom for the handshakes in flight.
    const transportCeiling = config.REALTIME_MAX_SOCKETS + Math.max(100, Math.ceil(config.REALTIME_MAX_SOCKETS / 10))
    const trust = proxyTrust(config.TRUST_PROXY)
    const io: Server = new Server(app.server, {
      path: '/socket.io',
      serveClient: false,
      // Clients send only their token; a big frame is an attack, not a message.
      maxHttpBufferSize: 64 * 1024,
      connectTimeout: HANDSHAKE_TIMEOUT_MS,
      pingInterval: PING_INTERVAL_MS,
      pingTimeout: PING_TIMEOUT_MS,
      allowRequest: (_request, answer) =>
        io.engine.clientsCount < transportCeiling ? answer(null, true) : answer('the instance is full', false),
    })

    // Handshakes skip Fastify's hooks, so they spend the same budgets here, cheapest check
    // first: the address's budget (shared through Redis like HTTP's), the socket caps, the
    // token, and only then the tenant's budget, its pool share and one database round trip.
    io.use(async (socket, next) => {
      const seat = new Seat()
      // However the handshake ends (the client may vanish mid-way), its transport closes.
      socket.conn.once('close', () => seat.release())
      try {
        const address = clientKey(clientAddress(socket.request, trust))
        await app.budgets.address(address)
        admission.admitAddress(seat, address)
        const auth = HandshakeAuth.safeParse(socket.handshake.auth)
        if (!auth.success) throw new Problem('unauthorized', 'connect with auth: {token, lastEventId?}')
        const { expiresAt, ...identity } = await verifyTenantToken(app, auth.data.token)
        admission.admitUser(seat, identity.userId)
        await app.budgets.tenant(identity.tenantId)
        const client = new Client(socket, { identity, expiresAt })
        // One transaction: the session check, lastEventId's position and the replay.
        await app.tenantSlots.run(identity.tenantId, () => hub.admit(client, auth.data.lastEventId ?? null))
        // However the handshake ends from here (the client may vanish), the room lets it go.
        socket.conn.once('close', () => hub.detach(client))
        socket.data.seat = seat
        socket.data.client = client
        next()
      } catch (error) {
        const problem =
          error instanceof Problem
            ? error
            : (accessLost(error) ?? new Problem('unavailable', 'the realtime service cannot authorize right now'))
        if (problem.type === 'unavailable') log.error({ err: error }, 'realtime handshake failed')
        seat.release()
        next(handshakeError(problem))
        // A client that ignores the refusal holds its transport a moment, not until the
        // handshake timeout; not closed at once, so the client reads the problem first.
        setTimeout(() => socket.conn.close(), REFUSED_TRANSPORT_GRACE_MS).unref()
      }
    })

    io.on('connection', (socket) => {
      const client = socket.data.client as Client
      socket.once('disconnect', () => (socket.data.seat as Seat).release())
      // Every client event, whatever its name, is counted before any handler runs: per socket
      // (REALTIME_EVENTS_PER_MINUTE), then on the tenant's plan budget, like a request. Past a
      // limit the socket gets the problem (in the ack, and as `revoked`) and is disconnected.
      const events = new EventWindow(config.REALTIME_EVENTS_PER_MINUTE)
      socket.use((packet, next) => {
        const ack = packet.at(-1)
        const refuse = (problem: Problem) => {
          if (typeof ack === 'function') ack({ ok: false, problem: problem.body() })
          void hub.refuse(client, problem)
        }
        if (client.closed) return
        if (!events.take()) {
          refuse(new Problem('rate-limited', `more than ${events.limit} events from this socket in a minute`))
          return
        }
        app.budgets.tenant(client.identity.tenantId).then(
          () => next(),
          (error: unknown) =>
            refuse(error instanceof Problem ? error : new Problem('unavailable', 'the event could not be counted')),
        )
      })
      socket.on('auth', async (message: unknown, ack: unknown) => {
        const reply = typeof ack === 'function' ? (ack as (answer: unknown) => void) : () => {}
        try {
          const parsed = AuthMessage.safeParse(message)
          if (!parsed.success) throw new Problem('validation-failed', "send {token} with emit('auth', {token}, ack)")
          const identity = await verifyTenantToken(app, parsed.data.token)
          // The database check runs in the tenant's share of the pool, like its requests.
          reply({
            ok: true,
            ...(await app.tenantSlots.run(client.identity.tenantId, () => hub.reauthorize(client, identity))),
          })
        } catch (error) {
          const problem =
            error instanceof Problem
              ? error
              : (accessLost(error) ?? new Problem('unavailable', 'the token could not be checked right now'))
          reply({ ok: false, problem: problem.body() })
        }
      })
      hub.attach(client)
    })

    // One LISTEN connection per instance. pg-listen's defaults give up after 3 s of outage;
    // ours retries forever with a capped backoff, and every (re)connect catches up from the
    // hub's own position, so what was NOTIFY'd during the gap is read from the table anyway.
    let listening = false
    let closing = false
    const subscriber = createSubscriber(
      {
        connectionString: options.databaseUrl,
        application_name: LISTENER_APPLICATION_NAME,
        connectionTimeoutMillis: 5000,
      },
      {
        retryTimeout: 0,
        retryLimit: 0,
        retryInterval: (attempt) => {
          // pg-listen's retry loop does not look at close(); this ends it.
          if (closing) throw new Error('realtime listener closed')
          return Math.min(50 * 2 ** attempt, 2000)
        },
        paranoidChecking: 10_000,
      },
    )
    subscriber.events.on('connected', () => {
      listening = true
      log.info('realtime listener connected')
      hub.pump().catch((error: unknown) => log.warn({ err: error }, 'realtime catch-up failed'))
    })
    subscriber.events.on('reconnect', (attempt) => {
      listening = false
      log.warn({ attempt }, 'realtime listener reconnecting')
    })
    subscriber.events.on('error', (error) => {
      if (!closing) log.error({ err: error }, 'realtime listener error')
    })
    subscriber.notifications.on(ACTIVITY_CHANNEL, (payload: unknown) => {
      const bell = Doorbell.safeParse(payload)
      hub.doorbell(bell.success ? bell.data.seq : undefined)
    })
    subscriber.notifications.on(SESSION_CHANNEL, (payload: unknown) => {
      const bell = SessionBell.safeParse(payload)
      // The NOTIFY is a hint (anyone connected may send one): the database decides.
      if (bell.success) {
        hub
          .revalidate([bell.data.sessionId])
          .catch((error: unknown) => log.warn({ err: error }, 'realtime session check failed'))
      }
    })

    let timer: NodeJS.Timeout | undefined
    const tick = async () => {
      try {
        await hub.poll()
        await hub.revalidate()
      } catch (error) {
        log.warn({ err: error }, 'realtime poll failed; retrying')
      } finally {
        // A tick in flight when the app closes must not arm the next one: it would poll forever.
        if (!closing) timer = setTimeout(tick, config.REALTIME_POLL_MS)
      }
    }

    app.addHook('onReady', async () => {
      // Without the database now, the first poll starts the hub.
      await hub.start().catch((error: unknown) => log.warn({ err: error }, 'realtime start deferred'))
      await subscriber.connect()
      await Promise.all([subscriber.listenTo(ACTIVITY_CHANNEL), subscriber.listenTo(SESSION_CHANNEL)])
      listening = true
      timer = setTimeout(tick, config.REALTIME_POLL_MS)
    })
    // Before the HTTP server closes: connected sockets would hold app.close() open forever.
    // Their transports are closed, not their Socket.IO sessions: a client takes a server-side
    // disconnect ("io server disconnect") as final and never retries, so a rolling restart would
    // strand every dashboard; after a transport close it reconnects (through the load balancer,
    // to an instance still running) and resumes from its lastEventId.
    app.addHook('preClose', async () => {
      closing = true
      clearTimeout(timer)
      hub.stop()
      io.engine.close()
    })
    app.addHook('onClose', async () => {
      clearTimeout(timer)
      // Bounded: a room read or pg-listen's close (pg's end() on a connection that already
      // ended, e.g. its database was dropped, never settles) must not hold shutdown open.
      const bounded = (work: Promise<unknown>) =>
        Promise.race([work.catch(() => {}), delay(2000, undefined, { ref: false })])
      await bounded(hub.settled())
      await bounded(subscriber.close())
      io.engine.close()
    })

    const readinessChecks: ReadinessCheck[] = [
      { name: 'realtimeListener', check: async () => listening },
      {
        name: 'notifyQueue',
        check: async () => {
          const usage = await app.db.oneFirst(queueUsage())
          return { up: usage <= config.REALTIME_NOTIFY_QUEUE_MAX, value: usage }
        },
      },
    ]
    app.decorate('realtime', { io, hub, readinessChecks })
  },
  { name: 'realtime', dependencies: ['database', 'auth', 'limits'] },
)
