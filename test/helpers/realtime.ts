import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { io, type Socket } from 'socket.io-client'
import type { Test } from 'tap'

export type Activity = {
  id: number
  type: string
  tenantId: string
  actor: string | null
  target: string | null
  payload: Record<string, unknown>
  createdAt: string
}
export type Received = { event: string; data: unknown; at: number }

/** Listens on a free port of 127.0.0.1 and returns the base URL. */
export async function listen(app: FastifyInstance): Promise<string> {
  await app.listen({ host: '127.0.0.1', port: 0 })
  return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
}

export type LiveSocket = {
  socket: Socket
  /** Every event received, in order. */
  received: Received[]
  /** The activities received, in order. */
  activities: () => Activity[]
  lastEventId: () => number | null
  /** Resolves with the first received event matching, waiting up to `ms`. */
  waitFor: (predicate: (r: Received) => boolean, ms?: number) => Promise<Received>
  close: () => void
}

const META_EVENTS = new Set(['live', 'resync_required', 'revoked'])

/**
 * A real socket.io-client connection. `auth` is the callback form, so every reconnect sends the
 * latest lastEventId, as the dashboard does. Closed at teardown.
 */
export function connectSocket(
  t: Test,
  baseUrl: string,
  token: string | (() => string),
  options: { lastEventId?: number | null; reconnection?: boolean; transports?: string[] } = {},
): LiveSocket {
  const received: Received[] = []
  let lastEventId = options.lastEventId ?? null
  const socket = io(baseUrl, {
    path: '/socket.io',
    transports: options.transports ?? ['websocket'],
    reconnection: options.reconnection ?? true,
    reconnectionDelay: 50,
    reconnectionDelayMax: 200,
    auth: (cb) => cb({ token: typeof token === 'function' ? token() : token, lastEventId }),
  })
  const waiters = new Set<{ predicate: (r: Received) => boolean; resolve: (r: Received) => void }>()
  const record = (event: string, data: unknown) => {
    const entry = { event, data, at: performance.now() }
    received.push(entry)
    if (!META_EVENTS.has(event) && typeof (data as Activity)?.id === 'number') lastEventId = (data as Activity).id
    for (const waiter of waiters) {
      if (waiter.predicate(entry)) {
        waiters.delete(waiter)
        waiter.resolve(entry)
      }
    }
  }
  socket.onAny(record)
  socket.on('connect_error', (error) => record('connect_error', (error as Error & { data?: unknown }).data ?? null))
  socket.on('disconnect', (reason) => record('disconnect', reason))
  socket.on('connect', () => record('connect', null))
  const close = () => {
    socket.close()
  }
  t.teardown(close)
  return {
    socket,
    received,
    activities: () =>
      received
        .filter((r) => !META_EVENTS.has(r.event) && typeof (r.data as Activity)?.id === 'number')
        .map((r) => r.data as Activity),
    lastEventId: () => lastEventId,
    waitFor: (predicate, ms = 5000) => {
      const found = received.find(predicate)
      if (found) return Promise.resolve(found)
      return new Promise((resolve, reject) => {
        const waiter = { predicate, resolve }
        waiters.add(waiter)
        setTimeout(() => {
          if (waiters.delete(waiter))
            reject(
              new Error(
                `timed out after ${ms} ms waiting for an event; received: ${received.map((r) => r.event).join(' ')}`,
              ),
            )
        }, ms).unref()
      })
    },
    close,
  }
}

/** Waits for the socket's `live` event (replay done) after its most recent connect. */
export async function untilLive(socket: LiveSocket, ms = 5000) {
  const connects = socket.received.filter((r) => r.event === 'connect').length
  await socket.waitFor(
    (r) => r.event === 'live' && socket.received.indexOf(r) > indexOfNth(socket.received, 'connect', connects),
    ms,
  )
}

function indexOfNth(received: Received[], event: string, n: number): number {
  let seen = 0
  for (let i = 0; i < received.length; i++) {
    if (received[i]!.event === event && ++seen === n) return i
  }
  return -1
}

/**
 * The figures every proof prints: expected, delivered, missing, duplicated, misordered (an id
 * arriving after one that committed later) and leaked (an event the socket must not see).
 */
export function tally(expected: readonly number[], delivered: readonly Activity[], allowed: (a: Activity) => boolean) {
  const want = new Set(expected)
  const seen = new Map<number, number>()
  for (const activity of delivered) seen.set(activity.id, (seen.get(activity.id) ?? 0) + 1)
  const order = new Map(expected.map((id, index) => [id, index]))
  let misordered = 0
  let previous = -1
  for (const activity of delivered) {
    const index = order.get(activity.id)
    if (index === undefined) continue
    if (index < previous) misordered++
    previous = Math.max(previous, index)
  }
  return {
    expected: expected.length,
    delivered: delivered.filter((a) => want.has(a.id)).length,
    missing: expected.filter((id) => !seen.has(id)).length,
    duplicated: [...seen.values()].reduce((sum, n) => sum + Math.max(0, n - 1), 0),
    misordered,
    leaked: delivered.filter((a) => !allowed(a)).length,
  }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
