/** Thrown by FairQueue.run when the queue already holds its maximum of waiting tasks. */
export class QueueFullError extends Error {}

type Job = { start: () => void }

/**
 * Runs at most `concurrency` tasks at once and takes turns between keys (client addresses):
 * the next free slot goes to the key after the one served last, not to the oldest task. A key
 * with 30 tasks queued then delays another key's single task by at most the tasks already
 * running, instead of by all 30. No key may hold more than `perKey` slots, so with two or more
 * slots one key can never occupy all of them. At most `maxQueued` tasks wait; beyond that
 * `run` rejects at once with QueueFullError instead of queueing for minutes.
 */
export class FairQueue {
  readonly #concurrency: number
  readonly #perKey: number
  readonly #maxQueued: number
  // Insertion order is the round-robin order: a key that was just served moves to the end.
  readonly #waiting = new Map<string, Job[]>()
  readonly #running = new Map<string, number>()
  #runningTotal = 0
  #queued = 0

  constructor(options: { concurrency: number; maxQueued: number; perKey?: number }) {
    this.#concurrency = options.concurrency
    this.#perKey = options.perKey ?? Math.max(1, options.concurrency - 1)
    this.#maxQueued = options.maxQueued
  }

  get queued(): number {
    return this.#queued
  }

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    if (this.#queued >= this.#maxQueued) return Promise.reject(new QueueFullError('the queue is full'))
    return new Promise<T>((resolve, reject) => {
      const job: Job = {
        start: () => {
          task()
            .then(resolve, reject)
            .finally(() => {
              this.#runningTotal--
              const left = (this.#running.get(key) ?? 1) - 1
              if (left === 0) this.#running.delete(key)
              else this.#running.set(key, left)
              this.#dispatch()
            })
        },
      }
      const jobs = this.#waiting.get(key)
      if (jobs) jobs.push(job)
      else this.#waiting.set(key, [job])
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
      this.#running.set(next, (this.#running.get(next) ?? 0) + 1)
      job.start()
    }
  }

  #nextKey(): string | undefined {
    for (const key of this.#waiting.keys()) {
      if ((this.#running.get(key) ?? 0) < this.#perKey) return key
    }
    return undefined
  }
}
