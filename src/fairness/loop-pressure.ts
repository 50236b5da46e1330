import { performance } from 'node:perf_hooks'

/** How busy this process's event loop was, reported once per window. */
export type Load = 'saturated' | 'steady' | 'idle'

export type Pressure = {
  onWindow(listener: (load: Load) => void): void
  close(): void
}

/**
 * Event-loop utilisation (the share of time the loop was busy, not waiting for I/O) over each
 * `intervalMs` window: saturated at `high` or more, idle below `low`, steady in between.
 *
 * Why the loop and not the pool: one tenant's requests can keep the only event loop busy with
 * work that holds no connection (parsing its rows, serialising its pages), and then every other
 * tenant's request waits behind that work however many connections are free.
 */
export class LoopPressure implements Pressure {
  #last = performance.eventLoopUtilization()
  readonly #timer: NodeJS.Timeout
  readonly #listeners: ((load: Load) => void)[] = []

  constructor(options: { intervalMs?: number; high?: number; low?: number } = {}) {
    const { intervalMs = 100, high = 0.9, low = 0.6 } = options
    this.#timer = setInterval(() => {
      const now = performance.eventLoopUtilization()
      const { utilization } = performance.eventLoopUtilization(now, this.#last)
      this.#last = now
      const load: Load = utilization >= high ? 'saturated' : utilization < low ? 'idle' : 'steady'
      for (const listener of this.#listeners) listener(load)
    }, intervalMs)
    this.#timer.unref()
  }

  onWindow(listener: (load: Load) => void): void {
    this.#listeners.push(listener)
  }

  close(): void {
    clearInterval(this.#timer)
  }
}
