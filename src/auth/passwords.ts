import { availableParallelism } from 'node:os'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { Piscina } from 'piscina'
import { Problem } from '../problems.ts'

export type PasswordHasher = {
  hash: (password: string) => Promise<string>
  /** Compares against `hash`, or against a dummy hash of the same cost when there is no user. */
  verify: (password: string, hash: string | null) => Promise<boolean>
  close: () => Promise<void>
}

/**
 * bcrypt in a small worker pool. Verifying an unknown email still spends one full bcrypt
 * comparison (against a dummy hash of the configured cost), so "no such user" and "wrong
 * password" take the same time and cannot be told apart.
 */
export async function createPasswordHasher(options: {
  cost: number
  threads?: number
  maxQueue?: number
}): Promise<PasswordHasher> {
  const threads = options.threads ?? Math.max(1, availableParallelism() - 1)
  const pool = new Piscina({
    filename: new URL('./password-worker.ts', import.meta.url).href,
    minThreads: 1,
    maxThreads: threads,
    idleTimeout: 60_000,
    // Bounded: past this many waiting hashes, answer 503 at once instead of queueing for minutes.
    maxQueue: options.maxQueue ?? 256,
  })
  const run = <T>(task: object, name: string): Promise<T> =>
    pool.run(task, { name }).catch((error: unknown) => {
      if ((error as Error).message === 'Task queue is at limit') {
        throw new Problem('unavailable', 'too many sign-ins at once; retry shortly', {
          headers: { 'retry-after': '1' },
        })
      }
      throw error
    }) as Promise<T>
  const hash = (password: string) => run<string>({ password, cost: options.cost }, 'hash')
  const dummyHash = await hash('dummy password for timing equality')
  return {
    hash,
    verify: async (password, knownHash) => {
      const matches = await run<boolean>({ password, hash: knownHash ?? dummyHash }, 'verify')
      return knownHash !== null && matches
    },
    close: () => pool.close(),
  }
}

/** The hasher as `app.passwords`, its worker threads stopped when the app closes. */
export const passwordsPlugin = fp(
  async (app: FastifyInstance, options: { cost: number; threads?: number | undefined }) => {
    const hasher = await createPasswordHasher(options)
    app.decorate('passwords', hasher)
    app.addHook('onClose', () => hasher.close())
  },
  { name: 'passwords' },
)
