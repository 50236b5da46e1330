import { randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { z } from 'zod'

const port = z.coerce.number().int().min(1).max(65535)
const seconds = z.coerce.number().int().positive()
const url = z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// connection URL')

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
  BCRYPT_COST: z.coerce.number().int().min(10, 'must be at least 10').max(15).default(12),
  PASSWORD_HASH_THREADS: z.coerce.number().int().min(1).max(64).optional(),
  BODY_LIMIT: z.coerce
    .number()
    .int()
    .min(1024)
    .default(64 * 1024),
})

export type Env = z.infer<typeof EnvSchema>
export type Config = Omit<Env, 'JWT_SECRET'> & { JWT_SECRET: string }

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
  return { ...config, JWT_SECRET: jwtSecret(config) }
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
