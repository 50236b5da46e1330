import { Problem } from '../problems.ts'
import type { Pressure } from './loop-pressure.ts'

type Waiter = { resolve: () => void; timer: NodeJS.Timeout }

/** A tenant counts as active for this long after its last request. */
const ACTIVE_MS = 1000

/**
 * A share of the database pool per tenant. At most `perTenant` of one tenant's requests hold a
 * connection at once; a few more wait briefly (`maxWaiting`, at most `maxWaitMs`), and anything
 * beyond is answered 429 with retry-after at once. One tenant's burst of slow or large queries
 * then queues behind itself while the rest of the pool keeps serving every other tenant.
 *
 * The pool is not the only thing a tenant can take: with `pressure`, when the event loop
 * saturates and another tenant is active, each tenant gets `perTenantBusy` (default one), and
 * its share grows back by one per calm window. The busy tenant's work then no longer piles up
 * in the loop ahead of everyone else's (measured in the bench's noisy-neighbour scenario); a
 * tenant alone on the instance keeps its whole share.
 */
export class TenantSlots {
  readonly perTenant: number
  readonly perTenantBusy: number
  readonly #maxWaiting: number
  readonly #maxWaitMs: number
  readonly #inFlight = new Map<string, number>()
  readonly #waiting = new Map<string, Waiter[]>()
  readonly #lastSeen = new Map<string, number>()
  /** The share while other tenants are active: perTenant, or less while the loop is saturated. */
  #cap: number
  /** Only a pressure can lower the cap, and only then does who was active matter. */
  readonly #tracksActivity: boolean
  /** The most requests of one tenant ever in flight at once (tests read it). */
  peak = 0
  /** Releases whose slot was kept from a waiting request because of the pressure (tests read it). */
  throttled = 0

  constructor(options: {
    perTenant: number
    perTenantBusy?: number
    maxWaiting: number
    maxWaitMs: number
    pressure?: Pressure | undefined
  }) {
    this.perTenant = options.perTenant
    this.perTenantBusy = Math.min(options.perTenantBusy ?? 1, options.perTenant)
    this.#maxWaiting = options.maxWaiting
    this.#maxWaitMs = options.maxWaitMs
    this.#cap = this.perTenant
    this.#tracksActivity = options.pressure !== undefined && this.perTenantBusy < this.perTenant
    // Down at once when the loop saturates; back up one slot per calm window, so a throttled
    // tenant creeps back towards its share instead of flooding the loop again in one step.
    options.pressure?.onWindow((load) => {
      if (load === 'saturated') this.#cap = this.perTenantBusy
      else if (load === 'idle' && this.#cap < this.perTenant) {
        this.#cap++
        for (const tenantId of [...this.#waiting.keys()]) this.#handOff(tenantId)
      }
    })
  }

  /** How many requests of this tenant may hold a connection right now. */
  limit(tenantId: string): number {
    return this.#cap < this.perTenant && this.#othersActive(tenantId) ? this.#cap : this.perTenant
  }

  /**
   * Re-inserted, so the map stays in order of last request: the scan in #othersActive meets the
   * stale entries first, and dropping the oldest stale one here keeps the map to the active tenants.
   */
  #seen(tenantId: string): void {
    const now = Date.now()
    this.#lastSeen.delete(tenantId)
    this.#lastSeen.set(tenantId, now)
    const [oldest, at] = this.#lastSeen.entries().next().value ?? []
    if (oldest !== undefined && at !== undefined && at < now - ACTIVE_MS) this.#lastSeen.delete(oldest)
  }

  #othersActive(tenantId: string): boolean {
    const since = Date.now() - ACTIVE_MS
    for (const [other, at] of this.#lastSeen) {
      if (at < since) this.#lastSeen.delete(other)
      else if (other !== tenantId) return true
    }
    return false
  }

  inFlight(tenantId: string): number {
    return this.#inFlight.get(tenantId) ?? 0
  }

  async run<T>(tenantId: string, work: () => Promise<T>): Promise<T> {
    await this.#acquire(tenantId)
    try {
      return await work()
    } finally {
      this.#release(tenantId)
    }
  }

  #acquire(tenantId: string): Promise<void> {
    if (this.#tracksActivity) this.#seen(tenantId)
    const running = this.inFlight(tenantId)
    if (running < this.limit(tenantId) && !this.#waiting.has(tenantId)) {
      this.#take(tenantId)
      return Promise.resolve()
    }
    const waiters = this.#waiting.get(tenantId) ?? []
    if (waiters.length >= this.#maxWaiting) return Promise.reject(busy(this.perTenant))
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        timer: setTimeout(() => {
          const list = this.#waiting.get(tenantId)
          const index = list?.indexOf(waiter) ?? -1
          if (list && index >= 0) list.splice(index, 1)
          if (list?.length === 0) this.#waiting.delete(tenantId)
          reject(busy(this.perTenant))
        }, this.#maxWaitMs),
      }
      waiters.push(waiter)
      this.#waiting.set(tenantId, waiters)
    })
  }

  #take(tenantId: string): void {
    const running = this.inFlight(tenantId) + 1
    this.#inFlight.set(tenantId, running)
    if (running > this.peak) this.peak = running
  }

  #release(tenantId: string): void {
    const left = this.inFlight(tenantId) - 1
    if (left === 0) this.#inFlight.delete(tenantId)
    else this.#inFlight.set(tenantId, left)
    this.#handOff(tenantId)
  }

  /** Starts this tenant's next waiters, as many as its current limit allows, oldest first. */
  #handOff(tenantId: string): void {
    const waiters = this.#waiting.get(tenantId)
    while (waiters && waiters.length > 0 && this.inFlight(tenantId) < this.limit(tenantId)) {
      const next = waiters.shift()!
      clearTimeout(next.timer)
      this.#take(tenantId)
      // Throttled: start it after the I/O already waiting (other tenants' replies), not before.
      if (this.#cap < this.perTenant) setImmediate(next.resolve)
      else next.resolve()
    }
    if (waiters?.length === 0) this.#waiting.delete(tenantId)
    else if (waiters && this.inFlight(tenantId) < this.perTenant) this.throttled++
  }
}

const busy = (perTenant: number) =>
  new Problem(
    'rate-limited',
    `this tenant already has ${perTenant} requests using the database at once; retry shortly`,
    { headers: { 'retry-after': '1' } },
  )
