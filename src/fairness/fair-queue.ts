/** Thrown by FairQueue.run when the queue, or the share of one of the task's keys, is full. */
export class QueueFullError extends Error {}

type Job = { keys: readonly string[]; start: () => void }

/**
 * Runs at most `concurrency` tasks at once and takes turns between keys. A task carries one or
 * more keys (for password hashing: the client address, then the account): turns go round the
 * first key — the next free slot goes to the key after the one served last, not to the oldest
 * task — and every key counts against its own limits:
 *
 * - no key runs more than `perKey` tasks at once, so with two or more slots neither one address
 *   nor one account (from any number of addresses) can occupy all of them;
 * - no key has more than `perKeyQueued` tasks waiting, so neither can fill the queue either.
 *
 * At most `maxQueued` tasks wait in all; beyond that, or beyond a key's share, `run` rejects at
 * once with QueueFullError instead of queueing for minutes.
 */
export class FairQueue {
  readonly #concurrency: number
  readonly #perKey: number
  readonly #maxQueued: number
  readonly #perKeyQueued: number
  // Insertion order is the round-robin order: a key that was just served moves to the end.
  readonly #waiting = new Map<string, Job[]>()
  readonly #running = new Map<string, number>()
  readonly #queuedBy = new Map<string, number>()
  #runningTotal = 0
  #queued = 0

  constructor(options: { concurrency: number; maxQueued: number; perKey?: number; perKeyQueued?: number }) {
    this.#concurrency = options.concurrency
    this.#perKey = options.perKey ?? Math.max(1, options.concurrency - 1)
    this.#maxQueued = options.maxQueued
    this.#perKeyQueued = options.perKeyQueued ?? Math.max(1, Math.floor(options.maxQueued / 8))
  }

  get queued(): number {
    return this.#queued
  }

  run<T>(key: string | readonly string[], task: () => Promise<T>): Promise<T> {
    const keys = typeof key === 'string' ? [key] : [...new Set(key)]
    if (this.#queued >= this.#maxQueued) return Promise.reject(new QueueFullError('the queue is full'))
    if (keys.some((k) => (this.#queuedBy.get(k) ?? 0) >= this.#perKeyQueued)) {
      return Promise.reject(new QueueFullError('this client has its share of the queue waiting'))
    }
    return new Promise<T>((resolve, reject) => {
      const job: Job = {
        keys,
        start: () => {
          task()
            .then(resolve, reject)
            .finally(() => {
              this.#runningTotal--
              for (const k of keys) decrement(this.#running, k)
              this.#dispatch()
            })
        },
      }
      const first = keys[0]!
      const jobs = this.#waiting.get(first)
      if (jobs) jobs.push(job)
      else this.#waiting.set(first, [job])
      for (const k of keys) this.#queuedBy.set(k, (this.#queuedBy.get(k) ?? 0) + 1)
      this.#queued++
      this.#dispatch()
    })
  }

  #dispatch(): void {
    while (this.#runningTotal < this.#concurrency) {
      const next = this.#nextKey()
      if (next === undefined) return
      const jobs = this.#waiting.get(next)!
      const job = jobs.shift()!
      this.#waiting.delete(next)
      if (jobs.length > 0) this.#waiting.set(next, jobs)
      this.#queued--
      this.#runningTotal++
      for (const k of job.keys) {
        decrement(this.#queuedBy, k)
        this.#running.set(k, (this.#running.get(k) ?? 0) + 1)
      }
      job.start()
    }
  }

  /** The first key in turn whose next task has every one of its keys below `perKey` running. */
  #nextKey(): string | undefined {
    for (const [key, jobs] of this.#waiting) {
      if (jobs[0]!.keys.every((k) => (this.#running.get(k) ?? 0) < this.#perKey)) return key
    }
    return undefined
  }
}

function decrement(counts: Map<string, number>, key: string): void {
  const left = (counts.get(key) ?? 1) - 1
  if (left === 0) counts.delete(key)
  else counts.set(key, left)
}
