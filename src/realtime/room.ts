import type { Socket } from 'socket.io'
import { comparePositions as compare, type Position } from '../activities/position.ts'
import type { ActivityRow } from '../activities/queries.ts'
import type { RequestIdentity } from '../db/context.ts'
import type { Role } from '../roles.ts'

/**
 * What one transaction found for a client (Hub.catchUp): where it stands before `rows`, the rows
 * it missed up to `end`, or why it must reload instead (resync_required).
 */
export type CatchUp = {
  role: Role
  end: Position
  cursor: Position
  lastId: number | null
  rows: readonly ActivityRow[]
  resync: string | null
}

/** One connected socket: who it is (re-checked, never trusted from the token) and how far it got. */
export class Client {
  readonly socket: Socket
  identity: RequestIdentity
  /** Set by the handshake's check (Hub.admit) before the socket can receive anything. */
  role: Role = 'viewer'
  expiresAt: number
  /** The last position delivered (or skipped past by resync_required); null until admitted. */
  cursor: Position | null = null
  /**
   * The tenant's activity id that stands for `cursor` for this client: the last one delivered to
   * it (or its lastEventId), else the last it can read up to there. What `live` reports; never
   * the internal position, which counts every tenant's writes.
   */
  lastId: number | null = null
  /** What the handshake read, handed over when the socket joins. */
  admitted: CatchUp | null = null
  /** In the room's live stream (false while joining or re-validating). */
  live = false
  closed = false
  expiryTimer: NodeJS.Timeout | undefined

  constructor(socket: Socket, state: { identity: RequestIdentity; expiresAt: number }) {
    this.socket = socket
    this.identity = state.identity
    this.expiresAt = state.expiresAt
  }

  /** Packets engine.io holds for this socket because its connection does not drain. */
  get buffered(): number {
    return (this.socket.conn as unknown as { writeBuffer: unknown[] }).writeBuffer.length
  }
}

/**
 * One tenant's sockets on this instance. Every change to the room (a step of deliveries, a
 * socket joining or re-validating) runs in one queue, so a joining socket's replay ends exactly
 * where the live stream continues: no gap, no duplicate at the seam. The room only holds state
 * and its queue; the hub decides what runs in it (the room never calls the hub).
 */
export class Room {
  readonly tenantId: string
  readonly clients = new Set<Client>()
  /** Everything of this tenant up to here has been handed to the live clients. */
  cursor: Position
  /** Positions to deliver up to, one per batch the hub saw; bounded reads. */
  private readonly steps: Position[] = []
  /** A drain of the steps is queued or running. */
  draining = false
  private chain: Promise<void> = Promise.resolve()
  private readonly onError: (error: unknown) => void

  constructor(tenantId: string, cursor: Position, onError: (error: unknown) => void) {
    this.tenantId = tenantId
    this.cursor = cursor
    this.onError = onError
  }

  get idle(): boolean {
    return this.clients.size === 0 && this.steps.length === 0 && !this.draining
  }

  /** The next position to deliver up to, if any. */
  get nextStep(): Position | undefined {
    return this.steps[0]
  }

  /** Queues a step past the last one (or the cursor); an older or equal one is dropped. */
  addStep(to: Position) {
    const last = this.steps.at(-1) ?? this.cursor
    if (compare(to, last) > 0) this.steps.push(to)
  }

  /** The next step was delivered: the room's cursor moves to it. */
  stepDelivered() {
    this.cursor = this.steps.shift()!
  }

  run(task: () => Promise<void>): Promise<void> {
    this.chain = this.chain.then(task).catch(this.onError)
    return this.chain
  }

  /** Always settles: a task's failure is logged, never thrown to the waiter. */
  settled(): Promise<void> {
    return this.chain
  }
}
