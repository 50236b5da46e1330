import { Problem } from '../problems.ts'

/** Sockets held per key (a user id, a client address), with a cap per key. */
class Counts {
  readonly #held = new Map<string, number>()
  readonly #max: number

  constructor(max: number) {
    this.#max = max
  }

  held(key: string): number {
    return this.#held.get(key) ?? 0
  }

  take(key: string): boolean {
    const held = this.held(key)
    if (held >= this.#max) return false
    this.#held.set(key, held + 1)
    return true
  }

  give(key: string): void {
    const left = this.held(key) - 1
    if (left <= 0) this.#held.delete(key)
    else this.#held.set(key, left)
  }
}

/** What one socket holds; released once, whichever of refusal, disconnect or transport close comes first. */
export class Seat {
  #release: (() => void)[] = []

  add(release: () => void): void {
    this.#release.push(release)
  }

  release(): void {
    const release = this.#release
    this.#release = []
    for (const give of release) give()
  }
}

const full = (detail: string) =>
  new Problem('rate-limited', `${detail}; retry later`, { headers: { 'retry-after': '5' } })

/**
 * Concurrent sockets of this instance: at most `perInstance` in all, `perAddress` per client
 * address and `perUser` per user. A socket counts from the start of its handshake (so a burst
 * of parallel handshakes cannot all pass the check) until its transport closes. The counts are
 * in this process: each instance enforces them for the sockets it holds (see the README).
 */
export class Admission {
  readonly #perInstance: number
  #total = 0
  readonly #addresses: Counts
  readonly #users: Counts

  constructor(limits: { perInstance: number; perAddress: number; perUser: number }) {
    this.#perInstance = limits.perInstance
    this.#addresses = new Counts(limits.perAddress)
    this.#users = new Counts(limits.perUser)
  }

  get total(): number {
    return this.#total
  }

  /** Before anything else of a handshake: the instance ceiling and the address's cap. */
  admitAddress(seat: Seat, address: string): void {
    if (this.#total >= this.#perInstance) throw full('this instance holds as many sockets as it may')
    if (!this.#addresses.take(address)) throw full('too many sockets from your address')
    this.#total++
    seat.add(() => {
      this.#total--
      this.#addresses.give(address)
    })
  }

  /** Once the token names the user, before any database work. */
  admitUser(seat: Seat, userId: string): void {
    if (!this.#users.take(userId)) throw full('too many sockets for this user')
    seat.add(() => this.#users.give(userId))
  }
}

/**
 * A fixed one-minute window per socket: the client events it may send. In-process, like the
 * socket itself.
 */
export class EventWindow {
  readonly #max: number
  #count = 0
  #resetAt = 0

  constructor(max: number) {
    this.#max = max
  }

  take(now = Date.now()): boolean {
    if (now >= this.#resetAt) {
      this.#count = 0
      this.#resetAt = now + 60_000
    }
    this.#count++
    return this.#count <= this.#max
  }

  get limit(): number {
    return this.#max
  }
}
