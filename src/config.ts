import { randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { dirname, resolve } from 'node:path'
import { z } from 'zod'

const port = z.coerce.number().int().min(1).max(65535)
const seconds = z.coerce.number().int().positive()
const secondsOrZero = z.coerce.number().int().min(0)
const url = z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// connection URL')
/** An origin exactly as browsers send it: scheme, host and optional port, no path or trailing slash. */
const isOrigin = (value: string) => {
  try {
    const parsed = new URL(value)
    return ['http:', 'https:'].includes(parsed.protocol) && parsed.origin === value
  } catch {
    return false
  }
}
const origins = z
  .string()
  .default('')
  .transform((list) =>
    list
      .split(',')
      .map((origin) => origin.trim())
      .filter(Boolean),
  )
  .refine((list) => list.every(isOrigin), {
    error: (issue) =>
      `every entry must be an origin like https://app.example.com (no path, no trailing slash); got ${(
        issue.input as string[]
      )
        .filter((origin) => !isOrigin(origin))
        .join(', ')}`,
  })

const perMinute = z.coerce.number().int().min(1).max(10_000_000)

/**
 * Which proxies may tell us the client's address. Off by default: X-Forwarded-For is then
 * ignored, so a client cannot choose the address it is rate-limited as. A hop count trusts that
 * many proxies in front of us; a list trusts exactly those addresses or CIDRs. A bare `true`
 * (trust every hop) is refused: anyone could then spoof their address.
 */
const TrustProxy = z
  .string()
  .trim()
  .transform((value, ctx): number | string[] | false => {
    if (value === '' || value === '0' || value === 'false') return false
    if (/^\d+$/.test(value)) return Number(value)
    const entries = value.split(',').map((entry) => entry.trim())
    for (const entry of entries) {
      const [address, bits, ...rest] = entry.split('/')
      const family = isIP(address ?? '')
      const prefix = bits === undefined ? null : Number(bits)
      const validPrefix =
        prefix === null || (Number.isInteger(prefix) && prefix >= 0 && prefix <= (family === 6 ? 128 : 32))
      if (family === 0 || rest.length > 0 || !validPrefix || (bits !== undefined && !/^\d+$/.test(bits))) {
        ctx.addIssue({
          code: 'custom',
          message: `"${entry}" is neither a hop count nor a proxy address or CIDR (a bare true is not accepted)`,
        })
        return z.NEVER
      }
    }
    return entries
  })

const EnvSchema = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  // Loopback unless told otherwise: a development server is not exposed to the network by
  // accident. Containers and deployments set HOST=0.0.0.0 (docker-compose.yml does).
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: port.default(3000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** The API role's connection (tenantry_app). Unset: an embedded PostgreSQL under DATA_DIR. */
  DATABASE_URL: url.optional(),
  /** The owner role's connection, used only to run migrations at boot. */
  DATABASE_OWNER_URL: url.optional(),
  /** A superuser, used only to create the roles and the database when they do not exist. */
  ROOT_DATABASE_URL: url.optional(),
  DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(500).default(20),
  /** Milliseconds one statement may run (lock waits included) before the request gets a 503. */
  DATABASE_STATEMENT_TIMEOUT: z.coerce.number().int().min(100).max(600_000).default(15_000),
  /** Milliseconds a request waits for a pooled connection before a 503. */
  DATABASE_CONNECTION_TIMEOUT: z.coerce.number().int().min(100).max(60_000).default(5_000),
  DATA_DIR: z.string().min(1).default('.data'),
  EMBEDDED_PG_PORT: port.default(54329),
  JWT_SECRET: z.string().optional(),
  JWT_ISSUER: z.string().min(1).default('tenantry'),
  JWT_AUDIENCE: z.string().min(1).default('tenantry-api'),
  ACCESS_TOKEN_TTL: seconds.default(15 * 60),
  REFRESH_TOKEN_TTL: seconds.default(30 * 24 * 60 * 60),
  INVITATION_TTL: seconds.default(7 * 24 * 60 * 60),
  /** Absolute lifetime of a session (refresh family), however often it is refreshed. */
  SESSION_MAX_AGE: seconds.default(90 * 24 * 60 * 60),
  /** Seconds during which the refresh token just rotated may be presented again; 0 = strict. */
  REFRESH_REUSE_INTERVAL: secondsOrZero.default(10),
  /** How often each instance tries to purge ended sessions and tokens; 0 = never. */
  SESSION_PURGE_INTERVAL: secondsOrZero.default(60 * 60),
  /** Bearer token of the platform admin API (/v1/admin); unset, that API does not exist. */
  PLATFORM_ADMIN_TOKEN: z.preprocess(
    (value) => (value === '' ? undefined : value),
    z
      .string()
      .refine((value) => Buffer.byteLength(value) >= 32, 'must be at least 32 bytes')
      .optional(),
  ),
  /**
   * Who raises a tenant's plan: `open`, its own admins; `platform`, only /v1/admin (or a billing
   * integration calling it), tenant admins may still downgrade. Default: platform in production.
   */
  PLAN_UPGRADES: z.enum(['open', 'platform']).optional(),
  /** Tenants one user may have created (register included) that still exist; checked in the database. */
  TENANTS_PER_USER: z.coerce.number().int().min(1).max(1_000_000).default(5),
  /** Tenants created per client address per day (register and POST /v1/tenants together). */
  TENANTS_PER_IP_PER_DAY: z.coerce.number().int().min(1).max(10_000_000).default(20),
  /** Requests per minute per client address to /v1/admin, failures included. */
  PLATFORM_ADMIN_RATE_LIMIT: z.coerce.number().int().min(1).default(60),
  BCRYPT_COST: z.coerce.number().int().min(10, 'must be at least 10').max(15).default(12),
  PASSWORD_HASH_THREADS: z.coerce.number().int().min(1).max(64).optional(),
  /** Origins whose pages may call the API from a browser (comma-separated); none by default. */
  CORS_ORIGINS: origins,
  /** Sign-ins waiting for a hash thread; beyond it they are refused with 503 at once. */
  PASSWORD_HASH_QUEUE: z.coerce.number().int().min(1).max(100_000).default(256),
  /** Most connections of the pool one tenant's requests may hold at once (default: half the pool). */
  DATABASE_POOL_PER_TENANT: z.coerce.number().int().min(1).max(500).optional(),
  /**
   * The same while this process's event loop is saturated and another tenant is active: the
   * busy tenant's work then stops piling up ahead of everyone else's. Equal to
   * DATABASE_POOL_PER_TENANT, it turns that off.
   */
  DATABASE_POOL_PER_TENANT_BUSY: z.coerce.number().int().min(1).max(500).default(1),
  TRUST_PROXY: TrustProxy.default(false),
  /** Requests per minute per client address, for every request without a valid access token. */
  RATE_LIMIT_PER_IP: perMinute.default(300),
  /** Login, register, refresh and invitation accept together, per client address per minute. */
  RATE_LIMIT_AUTH_PER_IP: perMinute.default(10),
  /** Password checks per account (per LOGIN_FAILURE_WINDOW) from clients without its device token. */
  LOGIN_FAILURES_PER_ACCOUNT: perMinute.default(10),
  LOGIN_FAILURE_WINDOW: seconds.default(15 * 60),
  /** How long a device token unused since its last authentication stays recognised. */
  DEVICE_TOKEN_TTL: seconds.default(180 * 24 * 60 * 60),
  /** Rate-limit counters shared by every API instance; unset: in-process counters. */
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL')
    .optional(),
  /** Prefix of every rate-limit key in Redis (instances sharing a budget use the same one). */
  REDIS_KEY_PREFIX: z.string().min(1).max(100).default('tenantry:rl:'),
  BODY_LIMIT: z.coerce
    .number()
    .int()
    .min(1024)
    .default(64 * 1024),
  /** Realtime: the backstop poll and socket re-validation interval (a lost NOTIFY costs at most this). */
  REALTIME_POLL_MS: z.coerce.number().int().min(50).max(60_000).default(1000),
  /** Realtime: a reconnecting socket further behind than this many events gets resync_required. */
  REALTIME_REPLAY_LIMIT: z.coerce.number().int().min(1).max(100_000).default(1000),
  /** Realtime: packets queued for one socket before it counts as a slow consumer and is cut. */
  REALTIME_MAX_BUFFERED: z.coerce.number().int().min(1).max(1_000_000).default(1000),
  /** Realtime: sockets one instance holds at most; beyond it a handshake gets /rate-limited. */
  REALTIME_MAX_SOCKETS: z.coerce.number().int().min(1).max(1_000_000).default(10_000),
  /** Realtime: sockets one user may hold at once on one instance. */
  REALTIME_SOCKETS_PER_USER: z.coerce.number().int().min(1).max(100_000).default(20),
  /** Realtime: sockets one client address (IPv6: its /64) may hold at once on one instance. */
  REALTIME_SOCKETS_PER_ADDRESS: z.coerce.number().int().min(1).max(100_000).default(100),
  /** Realtime: client events (`auth` and any other) one socket may send per minute before it is cut. */
  REALTIME_EVENTS_PER_MINUTE: perMinute.default(30),
  /** Mail: an smtp:// or smtps:// URL (nodemailer). Unset outside production: the dev mailbox (GET /dev/mail). */
  SMTP_URL: z.preprocess(
    (value) => (value === '' ? undefined : value),
    z
      .string()
      .regex(/^smtps?:\/\//, 'must be an smtp:// or smtps:// URL')
      .optional(),
  ),
  /** Mail: the From address of every mail. */
  MAIL_FROM: z.string().min(3).default('Tenantry <no-reply@localhost>'),
  /** The origin every mailed link starts with (never the request's Host). Default: http://localhost:PORT. */
  PUBLIC_URL: z.preprocess(
    (value) => (value === '' ? undefined : value),
    z
      .string()
      .regex(/^https?:\/\/[^/?#]+(\/[^?#]*)?$/, 'must be an http(s) URL such as https://app.example.com')
      .transform((value) => value.replace(/\/+$/, ''))
      .optional(),
  ),
  /** Refuse sign-in (/email-unverified) to addresses that were never verified; register then answers 202. */
  EMAIL_VERIFICATION_REQUIRED: z
    .enum(['true', 'false', '1', '0', ''])
    .default('false')
    .transform((value) => value === 'true' || value === '1'),
  /**
   * Whether `npm start` also runs the job worker (mail, purges) in-process; off where separate
   * `npm run worker` processes do it (docker-compose). The worker connects as DATABASE_OWNER_URL.
   */
  RUN_JOBS: z
    .enum(['true', 'false', '1', '0'])
    .default('true')
    .transform((value) => value === 'true' || value === '1'),
  /** Jobs (mail, purges) one worker process runs at once. */
  WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(100).default(5),
  /**
   * Webhooks may reach any address, and http: URLs (development, and the tests' loopback
   * receivers). Off: https only, and loopback, private, link-local and metadata addresses refused.
   */
  WEBHOOK_ALLOW_PRIVATE: z
    .enum(['true', 'false', '1', '0', ''])
    .default('false')
    .transform((value) => value === 'true' || value === '1'),
  /** One webhook attempt: its whole exchange (connect, send, answer), in milliseconds. */
  WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(10_000),
  /**
   * The first retry's delay (ms); each next one is 3× longer, at most 9 hours. With the default
   * 5 s and WEBHOOK_MAX_ATTEMPTS 11, an endpoint is given up (disabled) after about 23 hours.
   */
  WEBHOOK_RETRY_BASE_MS: z.coerce.number().int().min(1).max(3_600_000).default(5000),
  WEBHOOK_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(50).default(11),
  /** Realtime: /ready fails when pg_notification_queue_usage() is above this fraction. */
  REALTIME_NOTIFY_QUEUE_MAX: z.coerce.number().min(0).max(1).default(0.5),
})

export type Env = z.infer<typeof EnvSchema>
export type Config = Omit<Env, 'JWT_SECRET' | 'PLAN_UPGRADES' | 'PUBLIC_URL'> & {
  JWT_SECRET: string
  PLAN_UPGRADES: 'open' | 'platform'
  PUBLIC_URL: string
}

export class ConfigError extends Error {}

/**
 * Reads and validates the environment once, at boot. Every bad value is reported with its name;
 * nothing starts half-configured.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = EnvSchema.safeParse(env)
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => `  ${issue.path.join('.')}: ${issue.message}`)
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`)
  }
  const config = parsed.data
  if (config.NODE_ENV === 'production') refuseDevelopmentSecrets(config)
  const planUpgrades = config.PLAN_UPGRADES ?? (config.NODE_ENV === 'production' ? 'platform' : 'open')
  const secret = jwtSecret(config)
  if (config.NODE_ENV === 'production') {
    // Without them, mail would go nowhere, or carry links built from whatever Host a client sent.
    const missing = (['SMTP_URL', 'PUBLIC_URL'] as const).filter((name) => config[name] === undefined)
    if (missing.length > 0) {
      throw new ConfigError(
        `Invalid configuration:\n${missing.map((name) => `  ${name}: required in production`).join('\n')}`,
      )
    }
  }
  return {
    ...config,
    JWT_SECRET: secret,
    PLAN_UPGRADES: planUpgrades,
    PUBLIC_URL: config.PUBLIC_URL ?? `http://localhost:${config.PORT}`,
  }
}

/** The placeholder prefix of docker-compose.yml's passwords and secrets (`change-me-app`, …). */
const PLACEHOLDER = /change-me/i

/**
 * Production never runs on a secret that was not chosen for it: a `change-me-…` placeholder from
 * docker-compose.yml (in any setting, URLs' passwords included), or a secret that `npm start`
 * generated for development under DATA_DIR (the JWT secret, the embedded cluster's passwords),
 * which sits in a working copy and in every backup of it.
 */
function refuseDevelopmentSecrets(config: Env): void {
  const problems: string[] = []
  for (const [name, value] of Object.entries(config)) {
    if (typeof value === 'string' && PLACEHOLDER.test(value)) {
      problems.push(`  ${name}: holds a change-me placeholder; set a secret of your own in production`)
    }
  }
  const development = developmentSecrets(config.DATA_DIR)
  for (const name of [
    'JWT_SECRET',
    'PLATFORM_ADMIN_TOKEN',
    'DATABASE_URL',
    'DATABASE_OWNER_URL',
    'ROOT_DATABASE_URL',
  ] as const) {
    const value = config[name]
    if (value === undefined || problems.some((line) => line.startsWith(`  ${name}:`))) continue
    const secret = name.endsWith('_URL') ? urlPassword(value) : value
    if (secret && development.has(secret)) {
      problems.push(`  ${name}: is a development secret generated under ${config.DATA_DIR}; production needs its own`)
    }
  }
  if (problems.length > 0) throw new ConfigError(`Invalid configuration:\n${problems.join('\n')}`)
}

/** The secrets `npm start` generated under DATA_DIR, if any (none on a production machine). */
function developmentSecrets(dataDir: string): Set<string> {
  const found = new Set<string>()
  try {
    found.add(readFileSync(resolve(dataDir, 'jwt-secret'), 'utf8').trim())
  } catch {}
  try {
    const passwords = JSON.parse(readFileSync(resolve(dataDir, 'pg.credentials.json'), 'utf8')) as Record<
      string,
      string
    >
    for (const value of Object.values(passwords)) found.add(value)
  } catch {}
  found.delete('')
  return found
}

const urlPassword = (value: string): string => {
  try {
    return decodeURIComponent(new URL(value).password)
  } catch {
    return ''
  }
}

/**
 * HS256 needs at least 256 bits of key. Production must bring its own; development keeps a
 * generated one under DATA_DIR so tokens survive restarts. A short secret that someone set on
 * purpose is refused in every mode: a weak key in a "development" deployment forges tokens
 * just as well, and NODE_ENV defaults to development.
 */
function jwtSecret(config: Env): string {
  if (config.JWT_SECRET !== undefined) {
    if (Buffer.byteLength(config.JWT_SECRET) < 32) {
      throw new ConfigError('Invalid configuration:\n  JWT_SECRET: must be at least 32 bytes')
    }
    return config.JWT_SECRET
  }
  if (config.NODE_ENV === 'production') {
    throw new ConfigError('Invalid configuration:\n  JWT_SECRET: required in production (at least 32 bytes)')
  }
  if (config.NODE_ENV === 'test') return randomBytes(32).toString('base64url')
  const file = resolve(config.DATA_DIR, 'jwt-secret')
  try {
    return readFileSync(file, 'utf8').trim()
  } catch {
    const secret = randomBytes(48).toString('base64url')
    mkdirSync(dirname(file), { recursive: true })
    writeFileSync(file, secret, { mode: 0o600 })
    return secret
  }
}
