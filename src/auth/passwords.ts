import { availableParallelism } from 'node:os'
import { Piscina } from 'piscina'

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
export async function createPasswordHasher(options: { cost: number; threads?: number }): Promise<PasswordHasher> {
  const threads = options.threads ?? Math.max(1, availableParallelism() - 1)
  const pool = new Piscina({
    filename: new URL('./password-worker.ts', import.meta.url).href,
    minThreads: 1,
    maxThreads: threads,
    idleTimeout: 60_000,
  })
  const hash = (password: string) => pool.run({ password, cost: options.cost }, { name: 'hash' }) as Promise<string>
  const dummyHash = await hash('dummy password for timing equality')
  return {
    hash,
    verify: async (password, knownHash) => {
      const matches = (await pool.run({ password, hash: knownHash ?? dummyHash }, { name: 'verify' })) as boolean
      return knownHash !== null && matches
    },
    close: () => pool.close(),
  }
}
