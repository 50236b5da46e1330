import { availableParallelism } from 'node:os'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { Piscina } from 'piscina'
import { FairQueue, QueueFullError } from '../fairness/fair-queue.ts'
import { Problem } from '../problems.ts'

/**
 * Who asked: the client address key, then the account key (see src/limits/client.ts). Hashing
 * takes turns between addresses, and each address and each account is held to its share.
 */
export type HashClient = readonly [address: string, account: string]

export type PasswordHasher = {
  hash: (password: string, client?: HashClient) => Promise<string>
  /** Compares against `hash`, or against a dummy hash of the same cost when there is no user. */
  verify: (password: string, hash: string | null, client?: HashClient) => Promise<boolean>
  close: () => Promise<void>
}

/**
 * bcrypt in a small worker pool. Verifying an unknown email still spends one full bcrypt
 * comparison (against a dummy hash of the configured cost), so "no such user" and "wrong
 * password" take the same time and cannot be told apart.
 *
 * Tasks reach the threads through a FairQueue keyed by client address and by account, never
 * through piscina's own FIFO queue: a flood of password checks from one address, or against one
 * account from many addresses, then waits behind itself and holds at most its share of the
 * queue, and a sign-in from anyone else waits for at most the hashes already running. The queue
 * is bounded; past it (or past a key's share) a check is answered 503 at once, not after minutes.
 */
export async function createPasswordHasher(options: {
  cost: number
  threads?: number | undefined
  maxQueue?: number | undefined
}): Promise<PasswordHasher> {
  // At least two, so that one address (held to one thread fewer than all) never takes them all.
  const threads = options.threads ?? Math.max(2, availableParallelism() - 1)
  const pool = new Piscina({
    filename: new URL('./password-worker.ts', import.meta.url).href,
    // All threads up front: a thread started on demand costs its first sign-in ~50 ms.
    minThreads: threads,
    maxThreads: threads,
    idleTimeout: 60_000,
  })
  const queue = new FairQueue({ concurrency: threads, maxQueued: options.maxQueue ?? 256 })
  const run = <T>(client: HashClient, task: object, name: string): Promise<T> =>
    queue
      .run(client, () => pool.run(task, { name }) as Promise<T>)
      .catch((error: unknown) => {
        if (error instanceof QueueFullError) {
          throw new Problem('unavailable', 'too many sign-ins at once; retry shortly', {
            headers: { 'retry-after': '1' },
          })
        }
        throw error
      })
  const hash = (password: string, client: HashClient = INTERNAL) =>
    run<string>(client, { password, cost: options.cost }, 'hash')
  const dummyHash = await hash('dummy password for timing equality')
  return {
    hash,
    verify: async (password, knownHash, client = INTERNAL) => {
      const matches = await run<boolean>(client, { password, hash: knownHash ?? dummyHash }, 'verify')
      return knownHash !== null && matches
    },
    close: () => pool.close(),
  }
}

// Hashes no client asked for (the dummy hash, the platform admin creating an owner).
const INTERNAL: HashClient = ['internal', 'internal']

/** The hasher as `app.passwords`, its worker threads stopped when the app closes. */
export const passwordsPlugin = fp(
  async (
    app: FastifyInstance,
    options: { cost: number; threads?: number | undefined; maxQueue?: number | undefined },
  ) => {
    const hasher = await createPasswordHasher(options)
    app.decorate('passwords', hasher)
    app.addHook('onClose', () => hasher.close())
  },
  { name: 'passwords' },
)
