import type { FastifyBaseLogger } from 'fastify'
import type { DatabasePool } from 'slonik'
import { comparePositions as compare, type Position, positionAtHorizon, positionOf } from '../activities/position.ts'
import {
  type ActivityRow,
  activitiesAfter,
  activityPosition,
  committedAfter,
  horizon,
  lastIdUpTo,
  toActivity,
} from '../activities/queries.ts'
import { type RequestIdentity, withTenantContext } from '../db/context.ts'
import { accessLost, problemFromOwnCode } from '../db/errors.ts'
import { Problem } from '../problems.ts'
import type { Role } from '../roles.ts'
import { checkSessions, removalNotice } from './queries.ts'
import { type CatchUp, type Client, Room } from './room.ts'

export type HubOptions = {
  pool: DatabasePool
  log: FastifyBaseLogger
  replayLimit: number
  maxBuffered: number
}

/** Rows the hub asks for at once, across tenants and per tenant step. */
const BATCH = 1000

/** Events after which the target user's access may have changed: their sockets re-validate. */
const MEMBERSHIP_EVENTS = new Set(['ROLE_CHANGED', 'USER_REMOVED'])

/**
 * The realtime bridge of one API instance. NOTIFY only rings the doorbell: the hub reads the
 * positions committed after its own (app_private.realtime_committed_after), hands each tenant's
 * new positions to that tenant's room, and the room re-reads the rows under a member's own
 * request context — once per (tenant, role), never per socket — so RLS decides what each socket
 * receives, exactly as for REST.
 */
export class Hub {
  private readonly log: FastifyBaseLogger
  private readonly pool: DatabasePool
  private readonly options: HubOptions
  private readonly rooms = new Map<string, Room>()
  private readonly clients = new Set<Client>()
  /** This instance's place in the commit-order stream of all tenants. */
  private position: Position | null = null
  private pumping = false
  private pumpAgain = false
  /** NOTIFYs (by seq) whose activity was not yet below the horizon: retried soon, not at the next poll. */
  private readonly doorbells = new Map<number, number>()
  private retryTimer: NodeJS.Timeout | undefined
  private stopped = false

  constructor(options: HubOptions) {
    this.options = options
    this.pool = options.pool
    this.log = options.log
  }

  /** Everything already committed is history (replayed on request via lastEventId); live starts here. */
  async start() {
    const { horizon: h } = await this.pool.one(horizon())
    this.position = positionAtHorizon(h)
  }

  stop() {
    this.stopped = true
    clearTimeout(this.retryTimer)
    for (const client of this.clients) clearTimeout(client.expiryTimer)
  }

  /** Waits for every room's queued work (graceful shutdown). */
  async settled() {
    await Promise.all([...this.rooms.values()].map((room) => room.settled()))
  }

  get connectedSockets(): number {
    return this.clients.size
  }

  doorbell(seq?: number) {
    if (seq !== undefined && !this.doorbells.has(seq)) this.doorbells.set(seq, Date.now())
    // A failed pump (the database restarting) is retried by the next doorbell or poll.
    this.pump().catch((error: unknown) => this.log.warn({ err: error }, 'realtime pump failed'))
  }

  /** The periodic backstop: catch up whatever a lost NOTIFY did not announce, and retry failed rooms. */
  async poll() {
    await this.pump()
    for (const room of this.rooms.values()) this.drain(room)
  }

  /** Reads the positions committed since ours and hands them to the rooms. One pump at a time. */
  async pump(): Promise<void> {
    if (this.stopped) return
    if (this.pumping) {
      this.pumpAgain = true
      return
    }
    this.pumping = true
    try {
      if (!this.position) await this.start()
      do {
        this.pumpAgain = false
        const rows = await this.pool.any(committedAfter(this.position!, BATCH))
        const last = new Map<string, Position>()
        let end: Position | null = null
        for (const row of rows) {
          end = positionOf(row)
          last.set(row.tenant_id, end)
          this.doorbells.delete(row.seq)
        }
        // Synchronous from here: a room created after this line starts at the new position, a
        // room that existed before it got this batch's steps.
        for (const [tenantId, to] of last) {
          const room = this.rooms.get(tenantId)
          if (!room) continue
          room.addStep(to)
          this.drain(room)
        }
        if (end) this.position = end
        if (rows.length >= BATCH) this.pumpAgain = true
      } while (this.pumpAgain && !this.stopped)
    } finally {
      this.pumping = false
    }
    this.retryDoorbells()
  }

  /**
   * A NOTIFY arrives at commit, but its row is deliverable only once every older transaction has
   * ended. Retry quickly while such announced rows wait; forget them after a few seconds (a
   * deleted tenant's rows never come; the poll covers the rest).
   */
  private retryDoorbells() {
    const now = Date.now()
    for (const [id, since] of this.doorbells) if (now - since > 5000) this.doorbells.delete(id)
    if (this.doorbells.size === 0 || this.retryTimer || this.stopped) return
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined
      this.pump().catch((error: unknown) => this.log.warn({ err: error }, 'realtime pump failed'))
    }, 10)
  }

  /**
   * The handshake's database work, in one transaction (one begin_request) run in the tenant
   * room's queue: the session, membership and suspension are checked, lastEventId is found and
   * what the client missed up to the room's position is read. The socket then joins with nothing
   * left to read unless the room moved on meanwhile. Throws the problem that refuses the handshake.
   */
  async admit(client: Client, lastEventId: number | null): Promise<void> {
    if (!this.position) {
      // Not started yet (the database was unreachable at boot): the client retries.
      throw new Problem('unavailable', 'realtime is starting; retry shortly')
    }
    const tenantId = client.identity.tenantId
    let room = this.rooms.get(tenantId)
    if (!room) {
      // A new room starts where the database is now, not where this instance's pump got to:
      // what committed before the connect is history, never delivered as live.
      const now = positionAtHorizon((await this.pool.one(horizon())).horizon)
      const start = this.position && compare(this.position, now) > 0 ? this.position : now
      room = this.rooms.get(tenantId)
      if (!room) {
        room = new Room(tenantId, start, (error) =>
          this.log.error({ err: error, tenantId }, 'realtime room task failed'),
        )
        this.rooms.set(tenantId, room)
      }
    }
    // Holds the room while the handshake lasts; not live, so no step is emitted to it.
    room.clients.add(client)
    let failure: unknown = null
    const admitting = room
    await room.run(async () => {
      try {
        client.admitted = await this.catchUp(admitting, client, lastEventId)
      } catch (error) {
        failure = error
      }
    })
    if (failure) {
      this.detach(client)
      throw failure
    }
  }

  /** An admitted socket connected: it gets what the handshake read and goes live, in the room's queue. */
  attach(client: Client) {
    const room = this.rooms.get(client.identity.tenantId)
    if (client.closed || !room) return
    this.clients.add(client)
    this.armExpiry(client)
    void room.run(() => this.join(room, client, false))
    client.socket.on('disconnect', () => this.detach(client))
  }

  /** Delivers a room's queued steps in its queue, one drain at a time. */
  private drain(room: Room) {
    if (room.draining || !room.nextStep) return
    room.draining = true
    void room.run(async () => {
      try {
        for (let step = room.nextStep; step; step = room.nextStep) {
          await this.deliver(room, step)
          room.stepDelivered()
        }
      } finally {
        // On a failed read the step stays queued; the next poll drains the room again.
        room.draining = false
      }
    })
  }

  /** The socket is gone (or its handshake ended without it): idempotent. */
  detach(client: Client) {
    client.closed = true
    clearTimeout(client.expiryTimer)
    this.clients.delete(client)
    const room = this.rooms.get(client.identity.tenantId)
    if (!room) return
    room.clients.delete(client)
    if (room.idle) this.rooms.delete(room.tenantId)
  }

  /**
   * One transaction (one begin_request) that brings a client up to the room's position: at the
   * handshake from its lastEventId (null: live from now), else from its own cursor.
   */
  private async catchUp(room: Room, client: Client, lastEventId?: number | null): Promise<CatchUp> {
    const end = room.cursor
    const limit = this.options.replayLimit + 1
    return withTenantContext(this.pool, client.identity, null, async (tx, context) => {
      let from = client.cursor
      let lastId = client.lastId
      let resync: string | null = null
      if (lastEventId !== undefined) {
        const found = lastEventId === null ? null : await tx.maybeOne(activityPosition(lastEventId))
        from = found ? positionOf(found) : null
        lastId = found ? lastEventId : null
        if (!found && lastEventId !== null && lastEventId > 0) resync = 'lastEventId is not an event you can read'
      }
      const rows =
        !resync && from && compare(from, end) < 0
          ? await tx.any(activitiesAfter({ after: from, upTo: end, limit }))
          : []
      if (rows.length > this.options.replayLimit) resync = `more than ${this.options.replayLimit} events were missed`
      if (resync || !from) {
        // Starting at `end` with nothing delivered (live from now, or resync): the last event
        // it can read up to there stands for it, so `live` hands out a position of this tenant.
        return {
          role: context.role,
          end,
          cursor: end,
          lastId: (await tx.maybeOne(lastIdUpTo(end)))?.id ?? null,
          rows: [],
          resync,
        }
      }
      return { role: context.role, end, cursor: from, lastId, rows, resync }
    })
  }

  /** Hands a catch-up to the client. Returns false when the client left the live stream. */
  private apply(room: Room, client: Client, caughtUp: CatchUp): boolean {
    client.role = caughtUp.role
    client.cursor = caughtUp.cursor
    client.lastId = caughtUp.lastId
    // Never a silent truncation: the client reloads over REST and continues live from here.
    if (caughtUp.resync) client.socket.emit('resync_required', { reason: caughtUp.resync })
    if (!this.emitRows(room, client, caughtUp.rows)) return false
    if (compare(client.cursor, caughtUp.end) < 0) client.cursor = caughtUp.end
    return true
  }

  /**
   * Hands the client what its handshake read, reads what the room delivered since (or, to
   * re-validate, checks it again), then it is live.
   */
  private async join(room: Room, client: Client, verify: boolean) {
    if (client.closed) return
    try {
      const admitted = client.admitted
      client.admitted = null
      if (admitted && !this.apply(room, client, admitted)) return
      if (verify || !client.cursor || compare(client.cursor, room.cursor) < 0) {
        if (!this.apply(room, client, await this.catchUp(room, client))) return
      }
    } catch (error) {
      const lost = accessLost(error)
      if (!lost) throw error
      await this.refuse(client, lost)
      return
    }
    client.live = true
    client.socket.emit('live', { lastEventId: client.lastId })
  }

  /** Reads (after, upTo] as this client: begin_request re-checks the session, membership and suspension. */
  private readAs(client: Client, after: Position, upTo: Position) {
    return withTenantContext(this.pool, client.identity, null, async (tx, context) => ({
      role: context.role,
      rows: await tx.any(activitiesAfter({ after, upTo, limit: Number.MAX_SAFE_INTEGER })),
    }))
  }

  /**
   * One step of a room: the rows (room.cursor, upTo] read once per role among its live clients,
   * as one of them. A client whose current role differs from the one we knew reads for itself.
   */
  private async deliver(room: Room, upTo: Position) {
    const after = room.cursor
    const byRole = new Map<Role, Client[]>()
    for (const client of room.clients) {
      if (!client.live || client.closed) continue
      const group = byRole.get(client.role) ?? []
      group.push(client)
      byRole.set(client.role, group)
    }
    const stragglers: Client[] = []
    await Promise.all(
      [...byRole].map(async ([role, group]) => {
        const waiting = [...group]
        while (waiting.length > 0) {
          const reader = waiting[0]!
          let result: { role: Role; rows: readonly ActivityRow[] }
          try {
            result = await this.readAs(reader, after, upTo)
          } catch (error) {
            const lost = accessLost(error)
            if (!lost) throw error
            if (lost.type === 'tenant-suspended') {
              // The whole tenant is refused, whoever reads.
              await Promise.all([...room.clients].map((client) => this.refuse(client, lost)))
              return
            }
            waiting.shift()
            await this.refuse(reader, lost)
            continue
          }
          if (result.role !== role) {
            waiting.shift()
            reader.role = result.role
            stragglers.push(reader)
            continue
          }
          for (const client of waiting) this.emitRows(room, client, result.rows)
          return
        }
      }),
    )
    for (const client of stragglers) {
      if (client.closed) continue
      const result = await this.readAs(client, after, upTo).catch(async (error) => {
        const lost = accessLost(error)
        if (!lost) throw error
        await this.refuse(client, lost)
        return null
      })
      if (result) this.emitRows(room, client, result.rows)
    }
  }

  /**
   * Emits rows the client has not had yet, in order. A membership change about the client itself
   * ends its share of the batch: it re-validates (new role, or refusal) and catches up on its own.
   * Returns false when the client left the live stream.
   */
  private emitRows(room: Room, client: Client, rows: readonly ActivityRow[]): boolean {
    if (client.closed) return false
    // Checked before a step, not after: one step is emitted synchronously, so even a fast
    // client holds it in engine.io's buffer for a moment. What is still queued from the previous
    // steps means the client does not read. Bound: maxBuffered packets plus one step.
    if (rows.length > 0 && client.buffered > this.options.maxBuffered) {
      this.cutSlowConsumer(client)
      return false
    }
    let revalidating = false
    for (const row of rows) {
      const position = positionOf(row)
      if (client.cursor && compare(position, client.cursor) <= 0) continue
      client.socket.emit(row.type, toActivity(row))
      client.cursor = position
      client.lastId = row.id
      if (MEMBERSHIP_EVENTS.has(row.type) && row.target === client.identity.userId) {
        client.live = false
        revalidating = true
        void room.run(() => this.join(room, client, true))
        break
      }
    }
    return !revalidating
  }

  /**
   * A client that does not read is cut, so its buffer stays bounded and nobody waits for it. Its
   * transport is terminated rather than closed: a close would wait for the buffer to drain. The
   * client reconnects and resumes from its lastEventId.
   */
  private cutSlowConsumer(client: Client) {
    if (client.closed) return
    this.log.warn(
      { tenantId: client.identity.tenantId, userId: client.identity.userId, buffered: client.buffered },
      'realtime: slow consumer disconnected (send buffer full); it resumes with lastEventId',
    )
    client.closed = true
    const transport = client.socket.conn.transport as unknown as { socket?: { terminate?: () => void } }
    if (typeof transport.socket?.terminate === 'function') transport.socket.terminate()
    else client.socket.conn.close(true)
  }

  /**
   * Access is gone: a removed member first gets the USER_REMOVED event about them (they can no
   * longer read the log, so it is fetched through app_private.realtime_removal_notice), then a
   * `revoked` event with the problem, then the server disconnects (no automatic reconnect).
   */
  async refuse(client: Client, problem: Problem) {
    if (client.closed) return
    client.closed = true
    client.live = false
    if (problem.type === 'unauthorized') {
      const notice = await this.pool
        .maybeOne(removalNotice(client.identity.sessionId, client.cursor?.tx ?? '0'))
        .catch(() => null)
      if (notice && (!client.cursor || compare(positionOf(notice), client.cursor) > 0)) {
        client.socket.emit(notice.type, toActivity(notice))
        client.cursor = positionOf(notice)
        client.lastId = notice.id
      }
    }
    client.socket.emit('revoked', problem.body())
    client.socket.disconnect(true)
  }

  /**
   * Re-validates every socket of this instance in one query: a revoked session, a removal, a
   * suspension or a role change that no event announced (a lost NOTIFY, a session revoked by
   * a path we do not know) still takes effect within one poll interval.
   */
  async revalidate(sessionIds?: readonly string[]) {
    const clients = [...this.clients].filter(
      (client) => !client.closed && (!sessionIds || sessionIds.includes(client.identity.sessionId)),
    )
    if (clients.length === 0) return
    const ids = [...new Set(clients.map((client) => client.identity.sessionId))]
    const rows = await this.pool.any(checkSessions(ids))
    const verdicts = new Map(rows.map((row) => [row.session_id, row]))
    await Promise.all(
      clients.map(async (client) => {
        const verdict = verdicts.get(client.identity.sessionId)
        if (!verdict) return
        if (verdict.refusal !== null || !verdict.role) {
          const lost = problemFromOwnCode(verdict.refusal ?? 'TN401', verdict.message ?? 'the session has ended')
          await this.refuse(client, lost ?? new Problem('unauthorized', 'the session has ended'))
        } else if (verdict.role !== client.role) {
          client.role = verdict.role
        }
      }),
    )
  }

  /** A fresh token from `socket.emit('auth', {token}, ack)`: same user and tenant, checked in the database. */
  async reauthorize(client: Client, identity: RequestIdentity & { expiresAt: number }) {
    if (identity.userId !== client.identity.userId || identity.tenantId !== client.identity.tenantId) {
      throw new Problem('forbidden', 'the token is for another user or tenant; open a new connection for it')
    }
    const role = await withTenantContext(this.pool, identity, null, async (_tx, context) => context.role)
    const { expiresAt, ...rest } = identity
    client.identity = rest
    client.role = role
    client.expiresAt = expiresAt
    this.armExpiry(client)
    return { role, expiresAt: new Date(expiresAt * 1000).toISOString() }
  }

  private armExpiry(client: Client) {
    clearTimeout(client.expiryTimer)
    const delay = Math.min(Math.max(client.expiresAt * 1000 - Date.now(), 0), 2 ** 31 - 1)
    client.expiryTimer = setTimeout(() => {
      void this.refuse(
        client,
        new Problem('invalid-token', "the access token has expired; send a fresh one with emit('auth', {token})"),
      )
    }, delay)
  }
}
