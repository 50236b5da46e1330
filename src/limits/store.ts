import { createRequire } from 'node:module'
import type { FastifyBaseLogger } from 'fastify'
import { Redis } from 'ioredis'

type Counted = { current: number; ttl: number }
type Done = (error: Error | null, result?: Counted) => void

/** The store contract of @fastify/rate-limit (its stores are plain CommonJS constructors). */
type RateLimitStore = {
  incr(key: string, done: Done, timeWindow: number, max: number): void
  read(key: string, done: Done, timeWindow: number, max: number): void
  child(options: object): RateLimitStore
}
type StoreConstructor<A extends unknown[]> = new (...args: A) => RateLimitStore

// The library's own stores: its LRU window counter, and its Redis store whose INCR + PEXPIRE
// runs as one Lua script (atomic, so two instances never both take the last request).
const require = createRequire(import.meta.url)
const LocalStore = require('@fastify/rate-limit/store/LocalStore.js') as StoreConstructor<
  [continueExceeding: boolean, exponentialBackoff: boolean, cache?: number]
>
const RedisStore = require('@fastify/rate-limit/store/RedisStore.js') as StoreConstructor<
  [continueExceeding: boolean, exponentialBackoff: boolean, redis: Redis, key: string]
>

/** How long one Redis command may take before the request falls back to local counters. */
export const REDIS_COMMAND_TIMEOUT_MS = 250
/** After a Redis failure, how long every limiter counts locally before trying Redis again. */
export const REDIS_RETRY_AFTER_MS = 2000

/**
 * Counters for @fastify/rate-limit: in-process without Redis; with Redis, shared by every
 * instance, and when Redis is down or stalls, each instance falls back to its own in-process
 * counters (so the limits still hold per instance) instead of failing the request or waiting.
 * A failed or timed-out command opens a short circuit (REDIS_RETRY_AFTER_MS): during it no
 * request waits for Redis at all, so an outage adds at most one command timeout to a few
 * requests, never to all of them.
 */
export function rateLimitStore(redis: Redis | null, prefix: string, log: FastifyBaseLogger) {
  const circuit = { openUntil: 0, down: false }
  const failed = (error: Error) => {
    circuit.openUntil = Date.now() + REDIS_RETRY_AFTER_MS
    if (!circuit.down) {
      circuit.down = true
      log.warn({ err: error }, 'rate limits: Redis unavailable, counting in this process until it answers')
    }
  }
  const succeeded = () => {
    if (circuit.down) {
      circuit.down = false
      log.info('rate limits: Redis answers again, counters are shared')
    }
  }

  const make = (nameSpace: string, cache: number | undefined): RateLimitStore => {
    const local = new LocalStore(false, false, cache ?? 100_000)
    const shared = redis ? new RedisStore(false, false, redis, nameSpace) : null
    // LocalStore hands out its live counter object, which the plugin reads after an await: by
    // then a concurrent request may have incremented it, and a burst of N would all read N
    // (every one of them refused once N passes the limit). A snapshot keeps each count exact.
    const counted = (method: 'incr' | 'read') => (key: string, done: Done, timeWindow: number, max: number) => {
      const locally = () =>
        local[method](
          key,
          (error, result) => done(error, result && { current: result.current, ttl: result.ttl }),
          timeWindow,
          max,
        )
      if (!shared || Date.now() < circuit.openUntil) return locally()
      shared[method](
        key,
        (error, result) => {
          if (!error) {
            succeeded()
            return done(null, result)
          }
          failed(error)
          locally()
        },
        timeWindow,
        max,
      )
    }
    return {
      incr: counted('incr'),
      read: counted('read'),
      child: (options) => {
        const { nameSpace: more = '', cache: size } = options as { nameSpace?: string; cache?: number }
        return make(`${nameSpace}${more}`, size)
      },
    }
  }

  // @fastify/rate-limit instantiates the store class itself.
  return class {
    constructor() {
      // biome-ignore lint/correctness/noConstructorReturn: the plugin wants a constructor; the store is built above.
      return make(prefix, undefined)
    }
  } as unknown as new () => RateLimitStore
}

/**
 * An ioredis client that never queues commands while disconnected (they fail at once and the
 * store counts locally) and gives up on a stalled server after REDIS_COMMAND_TIMEOUT_MS.
 */
export function connectRedis(url: string, log: FastifyBaseLogger): Redis {
  const redis = new Redis(url, {
    enableOfflineQueue: false,
    commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
    connectTimeout: 1000,
    maxRetriesPerRequest: 0,
    // Keep reconnecting, at most every second.
    retryStrategy: (attempt) => Math.min(attempt * 100, 1000),
    lazyConnect: true,
  })
  let reported = false
  redis.on('error', (error) => {
    if (!reported) log.warn({ err: error }, 'rate limits: Redis connection error')
    reported = true
  })
  redis.on('ready', () => {
    reported = false
  })
  return redis
}
