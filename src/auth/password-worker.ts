// Runs in a worker thread (piscina): bcrypt is CPU-bound for ~0.1 s per call and would stall
// every other request if it ran on the event loop.
import bcrypt from 'bcryptjs'

export function hash({ password, cost }: { password: string; cost: number }): string {
  return bcrypt.hashSync(password, cost)
}

export function verify({ password, hash }: { password: string; hash: string }): boolean {
  return bcrypt.compareSync(password, hash)
}
