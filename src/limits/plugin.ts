import fastifyRateLimit from '@fastify/rate-limit'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import type { Redis } from 'ioredis'
import { presentedDeviceToken } from '../auth/devices.ts'
import type { HashClient } from '../auth/passwords.ts'
import { deviceRecognised } from '../auth/queries.ts'
import { hashToken } from '../auth/tokens.ts'
import { Problem } from '../problems.ts'
import { accountKey, clientKey } from './client.ts'
import { tenantRequestsPerMinute } from './queries.ts'
import { connectRedis, rateLimitStore } from './store.ts'

/**
 * What a route adds to the general limits: `auth` spends the shared per-address budget of the
 * sign-in routes (RATE_LIMIT_AUTH_PER_IP); `password` too, and its handler checks a password:
 * it calls `app.passwordAttempt` with the account before any hash work.
 */
export type Throttle = 'auth' | 'password'

/** The limit that binds this request, as its ratelimit-* headers report it. */
export type RequestBudget = { limit: number; remaining: number; resetSeconds: number }

declare module 'fastify' {
  interface FastifyContextConfig {
    throttle?: Throttle
    /** The route creates a tenant: TENANTS_PER_IP_PER_DAY per address (register, POST /v1/tenants). */
    createsTenant?: boolean
  }
  interface FastifyRequest {
    /** The client address as limits see it: IPv4, or the IPv6 /64 (after TRUST_PROXY). */
    clientKey: string
    /** The per-tenant budget of an authenticated request (GET /v1/tenant reports it). */
    tenantBudget: RequestBudget | null
    /** The account key of this request's password check (set by passwordAttempt). */
    passwordAccount: string | null
  }
  interface FastifyInstance {
    /**
     * Every password check is a sign-in attempt: call this with the account's email before
     * verifying the password (route config `throttle: 'password'`). Without a device token of
     * that account, the attempt counts against LOGIN_FAILURES_PER_ACCOUNT and past it is a 429,
     * before any hash work; the per-address budget was spent in onRequest. Answers the keys the
     * hash queue takes turns by (pass them to app.passwords).
     */
    passwordAttempt: (request: FastifyRequest, reply: FastifyReply, email: string) => Promise<HashClient>
    /**
     * The same counters for doors that are not Fastify routes (Socket.IO handshakes and
     * events): each call spends one unit and throws the /rate-limited problem when exceeded.
     */
    budgets: {
      address(clientKey: string): Promise<void>
      tenant(tenantId: string): Promise<void>
    }
  }
}

/** A plan change reaches the limiter within this long. */
export const PLAN_RATE_TTL_MS = 5000
const MINUTE_MS = 60_000
const DAY_MS = 24 * 60 * 60 * 1000

type Limiter = ReturnType<FastifyInstance['createRateLimit']>
type Counted = { name: string; limit: number; remaining: number; resetSeconds: number; exceeded: boolean }

/**
 * Rate limits, with @fastify/rate-limit's counters (in-process, or in Redis with REDIS_URL):
 *
 * - every request without a verified access token: RATE_LIMIT_PER_IP per client address per
 *   minute, 404s and 401s included;
 * - an authenticated request: its tenant's plan `requests_per_minute`, keyed on the tenant of
 *   the *verified* token (the auth plugin's onRequest hook runs first), so a forged token
 *   spends its sender's address budget, never its victim's tenant budget;
 * - the sign-in routes (route config `throttle`): RATE_LIMIT_AUTH_PER_IP together per address,
 *   checked in onRequest, before the body is read, any bcrypt work or database call;
 * - every password check (login, accept with an existing account, DELETE /v1/me, and any route
 *   with `throttle: 'password'`): LOGIN_FAILURES_PER_ACCOUNT attempts per account per
 *   LOGIN_FAILURE_WINDOW, unless the client presents a device token of that account (see
 *   src/auth/devices.ts and the README: the cap must not become a way to lock owners out);
 * - routes that create a tenant (register, POST /v1/tenants): TENANTS_PER_IP_PER_DAY per
 *   address, counted after validation.
 *
 * Every response carries ratelimit-limit / -remaining / -reset of the tightest limit that
 * applied; a refusal is a 429 /rate-limited problem with retry-after.
 */
export const limitsPlugin = fp(
  async (app: FastifyInstance) => {
    const { config } = app
    let redis: Redis | null = null
    if (config.REDIS_URL) {
      redis = connectRedis(config.REDIS_URL, app.log)
      // Boot does not depend on Redis: until it answers, counters are local.
      await Promise.race([redis.connect().catch(() => {}), new Promise((resolve) => setTimeout(resolve, 3000))])
      app.addHook('onClose', async () => {
        redis?.disconnect()
      })
    }
    await app.register(fastifyRateLimit, {
      global: false,
      store: rateLimitStore(redis, config.REDIS_KEY_PREFIX, app.log),
    })

    app.decorateRequest('clientKey', {
      getter(this: FastifyRequest) {
        return clientKey(this.ip)
      },
    })
    app.decorateRequest('tenantBudget', null)
    app.decorateRequest('passwordAccount', null)

    const planRates = planRateCache(app)
    const perAddress = app.createRateLimit({
      max: config.RATE_LIMIT_PER_IP,
      timeWindow: MINUTE_MS,
      keyGenerator: (request) => `ip:${request.clientKey}`,
    })
    const authPerAddress = app.createRateLimit({
      max: config.RATE_LIMIT_AUTH_PER_IP,
      timeWindow: MINUTE_MS,
      keyGenerator: (request) => `auth:${request.clientKey}`,
    })
    const perTenant = app.createRateLimit({
      max: async (request) => (await planRates.get(request.identity!.tenantId!)) ?? 1,
      timeWindow: MINUTE_MS,
      keyGenerator: (request) => `tenant:${request.identity!.tenantId}`,
    })
    const perAccount = app.createRateLimit({
      max: config.LOGIN_FAILURES_PER_ACCOUNT,
      timeWindow: config.LOGIN_FAILURE_WINDOW * 1000,
      keyGenerator: (request) => request.passwordAccount!,
    })
    const tenantsPerAddress = app.createRateLimit({
      max: config.TENANTS_PER_IP_PER_DAY,
      timeWindow: DAY_MS,
      keyGenerator: (request) => `tenants:${request.clientKey}`,
    })

    // The limiters read only these fields of a request: the key and the route's (empty) config.
    const standIn = (fields: { clientKey?: string; identity?: { tenantId: string } }) =>
      ({ ...fields, routeOptions: { config: {} } }) as unknown as FastifyRequest
    const refuseWhenExceeded = (counted: Counted) => {
      if (counted.exceeded) throw refusal(counted)
    }
    app.decorate('budgets', {
      address: async (key: string) =>
        refuseWhenExceeded(await count('address', perAddress, standIn({ clientKey: key }))),
      tenant: async (tenantId: string) =>
        refuseWhenExceeded(await count('tenant', perTenant, standIn({ identity: { tenantId } }))),
    })

    app.addHook('onRequest', async (request, reply) => {
      const identity = request.identity
      // A tenantless token (a user who belongs to no tenant yet) is counted by its address.
      const rate = identity?.tenantId ? await planRates.get(identity.tenantId) : null
      const checks: Promise<Counted>[] = [
        rate !== null ? count('tenant', perTenant, request) : count('address', perAddress, request),
      ]
      if (request.routeOptions.config.throttle) checks.push(count('auth', authPerAddress, request))
      const counted = await Promise.all(checks)
      if (rate !== null) request.tenantBudget = budget(counted[0]!)
      enforce(reply, counted)
    })

    app.addHook('preHandler', async (request, reply) => {
      // After validation, so a malformed request does not spend the day's budget.
      if (request.routeOptions.config.createsTenant)
        enforce(reply, [await count('tenants', tenantsPerAddress, request)])
    })

    app.decorate('passwordAttempt', async (request: FastifyRequest, reply: FastifyReply, email: string) => {
      // A route that checks passwords without declaring it would also skip the per-address budget.
      if (request.routeOptions.config.throttle !== 'password') throw new Error('password check on an unthrottled route')
      const account = accountKey(email)
      request.passwordAccount = account
      const device = presentedDeviceToken(request)
      const recognised =
        device !== undefined &&
        (await app.db.oneFirst(deviceRecognised(email, hashToken(device), config.DEVICE_TOKEN_TTL)))
      if (!recognised) enforce(reply, [await count('account', perAccount, request)])
      return [request.clientKey, account] as const
    })
  },
  { name: 'limits', dependencies: ['auth', 'database'] },
)

async function count(name: string, limiter: Limiter, request: FastifyRequest): Promise<Counted> {
  const result = await limiter(request)
  if (result.isAllowed) throw new Error('rate limiters here have no allow list')
  return {
    name,
    limit: result.max,
    remaining: result.remaining,
    resetSeconds: result.ttlInSeconds,
    exceeded: result.isExceeded,
  }
}

const budget = (counted: Counted): RequestBudget => ({
  limit: counted.limit,
  remaining: counted.remaining,
  resetSeconds: counted.resetSeconds,
})

const REFUSALS: Record<string, string> = {
  address: 'too many requests from your address',
  auth: 'too many sign-in requests from your address',
  tenant: "this tenant has used its plan's requests for this minute",
  account: 'too many sign-in attempts for this account',
  tenants: 'too many tenants created from your address today',
}

/** Reports the tightest limit in the headers; refuses with 429 when any limit is exceeded. */
function enforce(reply: FastifyReply, counted: Counted[]): void {
  const refused = counted.filter((c) => c.exceeded).sort((a, b) => b.resetSeconds - a.resetSeconds)[0]
  const binding = refused ?? [...counted].sort((a, b) => a.remaining - b.remaining)[0]!
  const already = Number(reply.getHeader('ratelimit-remaining') ?? Number.POSITIVE_INFINITY)
  if (refused || binding.remaining < already) {
    reply.header('ratelimit-limit', binding.limit)
    reply.header('ratelimit-remaining', binding.remaining)
    reply.header('ratelimit-reset', binding.resetSeconds)
  }
  if (refused) throw refusal(refused)
}

function refusal(refused: Counted): Problem {
  const after = Math.max(1, refused.resetSeconds)
  return new Problem('rate-limited', `${REFUSALS[refused.name]} (limit ${refused.limit}); retry in ${after} s`, {
    headers: { 'retry-after': String(after) },
  })
}

/**
 * Each tenant's plan rate, read at most once per PLAN_RATE_TTL_MS per tenant (one lookup in
 * flight per tenant), so a plan change is in force within seconds on every instance.
 */
function planRateCache(app: FastifyInstance) {
  const cache = new Map<string, { expires: number; rate: Promise<number | null> }>()
  return {
    get(tenantId: string): Promise<number | null> {
      const now = Date.now()
      const hit = cache.get(tenantId)
      if (hit && hit.expires > now) return hit.rate
      if (cache.size > 10_000) {
        for (const [key, entry] of cache) if (entry.expires <= now) cache.delete(key)
      }
      const rate = app.db.oneFirst(tenantRequestsPerMinute(tenantId))
      // A failed lookup is not cached: the next request asks again.
      rate.catch(() => cache.delete(tenantId))
      cache.set(tenantId, { expires: now + PLAN_RATE_TTL_MS, rate })
      return rate
    },
  }
}
