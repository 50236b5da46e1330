// Runs in a worker thread (piscina): bcrypt is CPU-bound for ~0.1 s per call and would stall
// every other request if it ran on the event loop.
import { setPriority } from 'node:os'
import bcrypt from 'bcryptjs'

// On Linux this lowers only this worker thread: a login flood then yields the CPU to request
// handling and PostgreSQL instead of competing with them at equal priority.
setPriority(19)

export function hash({ password, cost }: { password: string; cost: number }): string {
  return bcrypt.hashSync(password, cost)
}

export function verify({ password, hash }: { password: string; hash: string }): boolean {
  return bcrypt.compareSync(password, hash)
}
