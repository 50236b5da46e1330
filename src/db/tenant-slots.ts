import { Problem } from '../problems.ts'

type Waiter = { resolve: () => void; timer: NodeJS.Timeout }

/**
 * A share of the database pool per tenant. At most `perTenant` of one tenant's requests hold a
 * connection at once; a few more wait briefly (`maxWaiting`, at most `maxWaitMs`), and anything
 * beyond is answered 429 with retry-after at once. One tenant's burst of slow or large queries
 * then queues behind itself while the rest of the pool keeps serving every other tenant.
 */
export class TenantSlots {
  readonly perTenant: number
  readonly #maxWaiting: number
  readonly #maxWaitMs: number
  readonly #inFlight = new Map<string, number>()
  readonly #waiting = new Map<string, Waiter[]>()
  /** The most requests of one tenant ever in flight at once (tests read it). */
  peak = 0

  constructor(options: { perTenant: number; maxWaiting: number; maxWaitMs: number }) {
    this.perTenant = options.perTenant
    this.#maxWaiting = options.maxWaiting
    this.#maxWaitMs = options.maxWaitMs
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
    const running = this.inFlight(tenantId)
    if (running < this.perTenant) {
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
    // Hand the slot straight to the next waiter of this tenant, if any.
    const waiters = this.#waiting.get(tenantId)
    const next = waiters?.shift()
    if (waiters?.length === 0) this.#waiting.delete(tenantId)
    if (next) {
      clearTimeout(next.timer)
      this.#take(tenantId)
      next.resolve()
    }
  }
}

const busy = (perTenant: number) =>
  new Problem(
    'rate-limited',
    `this tenant already has ${perTenant} requests using the database at once; retry shortly`,
    { headers: { 'retry-after': '1' } },
  )
