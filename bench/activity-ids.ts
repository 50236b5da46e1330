/**
 * `npx node bench/activity-ids.ts` (never part of `npm test`): what per-tenant activity ids cost the
 * write path. Each activity is numbered from its tenant's row (tenants.last_activity_id, updated
 * under the tenant-row lock, migration 000007) instead of one global identity. Two variants,
 * alternating in slices of the same run so a busy host hits both alike:
 *   per-tenant  the migration as it is (the trigger _200_number);
 *   global      that trigger disabled and id drawn from the global sequence (what main did).
 * Two loads: POST /v1/items on a random tenant (the main bench's write scenario; items already
 * lock the tenant row), and POST /v1/tenant/broadcasts on one tenant (the worst case: before,
 * broadcasts of one tenant did not wait for each other).
 * Knobs: BENCH_TENANTS (default 200), BENCH_SECONDS (measured seconds per variant and load,
 * default 10), BENCH_ROUNDS (slices per variant, default 5).
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Request } from 'autocannon'
import pg from 'pg'
import { buildApp } from '../src/app.ts'
import { loadConfig } from '../src/config.ts'
import { ensureRolesAndDatabase, migrate, withClient } from '../src/db/bootstrap.ts'
import { startEmbeddedPostgres } from '../src/db/embedded.ts'
import { freePort } from '../src/net.ts'
import { machineBusy } from './cpu.ts'
import { closedLoop, combine, type LoadResult, type Slice } from './load.ts'
import { startServer } from './processes.ts'
import { seed } from './seed.ts'

const int = (name: string, fallback: number) => Number(process.env[name] ?? fallback)
const tenants = int('BENCH_TENANTS', 200)
const seconds = int('BENCH_SECONDS', 10)
const rounds = int('BENCH_ROUNDS', 5)
const connections = 50
const log = (message: string) => console.log(message)
const apiScript = fileURLToPath(new URL('../src/server.ts', import.meta.url))

/** SQL that switches the database to a variant; `sequence`: the global identity behind seq. */
const VARIANTS = {
  'per-tenant': (sequence: string) => `alter table app_public.activities enable trigger _200_number;
    alter table app_public.activities alter column id drop default;
    revoke usage on sequence ${sequence} from tenantry_app;`,
  // The API role inserts broadcasts itself: a nextval() default needs the sequence's USAGE
  // (an identity column did not). Granted only for this variant's slices.
  global: (sequence: string) => `alter table app_public.activities disable trigger _200_number;
    alter table app_public.activities alter column id set default pg_catalog.nextval('${sequence}');
    grant usage on sequence ${sequence} to tenantry_app;`,
} as const
type Variant = keyof typeof VARIANTS

const dataDir = mkdtempSync(join(tmpdir(), 'tenantry-bench-ids-'))
const cluster = await startEmbeddedPostgres({ dataDir, port: await freePort() })
try {
  const urls = cluster.urls('tenantry')
  await ensureRolesAndDatabase(urls)
  await migrate(urls.owner, urls.root)
  const rootDbUrl = Object.assign(new URL(urls.root), { pathname: '/tenantry' }).toString()
  const busy = await machineBusy(1000)
  log(`# ${busy === null ? '?' : busy.toFixed(2)} cores busy before the run (other work on the host)`)

  const env: NodeJS.ProcessEnv = { ...process.env }
  for (const name of ['DATABASE_URL', 'DATABASE_OWNER_URL', 'ROOT_DATABASE_URL', 'REDIS_URL']) delete env[name]
  Object.assign(env, {
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    JWT_SECRET: randomBytes(32).toString('base64url'),
    ACCESS_TOKEN_TTL: '3600',
    DATABASE_URL: urls.app,
    RATE_LIMIT_PER_IP: '10000000',
    RATE_LIMIT_AUTH_PER_IP: '10000000',
    LOGIN_FAILURES_PER_ACCOUNT: '10000000',
    SMTP_URL: 'smtp://127.0.0.1:9', // production requires both; no mail leaves the bench
    PUBLIC_URL: 'http://localhost',
  })
  const config = loadConfig(env)
  const signer = await buildApp({
    config: { ...config, DATABASE_POOL_SIZE: 1, PASSWORD_HASH_THREADS: 1 },
    logger: false,
  })
  const identities = await seed({
    rootUrl: rootDbUrl,
    tenants,
    itemsPerTenant: 10,
    passwordHash: await signer.passwords.hash('bench password 1234'),
    log: (m) => log(`  ${m}`),
  })
  await withClient(rootDbUrl, (client) =>
    client.query('update app_public.plans set requests_per_minute = 100000000, item_limit = null'),
  )
  const tokens = identities.map((id) =>
    signer.jwt.sign({ sub: id.userId, tenant_id: id.tenantId, role: 'owner', sid: id.sessionId }),
  )
  await signer.close()
  const server = await startServer(apiScript, env)
  const root = new pg.Pool({ connectionString: rootDbUrl, max: 1 })
  try {
    const sequence: string = (
      await root.query(`select pg_catalog.pg_get_serial_sequence('app_public.activities', 'seq') as name`)
    ).rows[0].name
    const loads: Record<string, Request[]> = {
      'POST /v1/items, random tenant': [
        {
          method: 'POST',
          path: '/v1/items',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ name: 'bench item', payload: { colour: 'red', size: 3 } }),
          setupRequest: (request) => {
            request.headers = {
              ...request.headers,
              authorization: `Bearer ${tokens[Math.floor(Math.random() * tokens.length)]}`,
            }
            return request
          },
        },
      ],
      'POST /v1/tenant/broadcasts, one tenant': [
        {
          method: 'POST',
          path: '/v1/tenant/broadcasts',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${tokens[0]}` },
          body: JSON.stringify({ message: 'bench' }),
        },
      ],
    }
    const sliceSeconds = Math.max(1, Math.round(seconds / rounds))
    for (const [label, requests] of Object.entries(loads)) {
      await closedLoop({ url: server.url, connections, seconds: 1, requests }) // warm-up
      const slices: Record<Variant, Slice[]> = { 'per-tenant': [], global: [] }
      for (let round = 0; round < rounds; round++) {
        const order: Variant[] = round % 2 === 0 ? ['per-tenant', 'global'] : ['global', 'per-tenant']
        for (const variant of order) {
          await root.query(VARIANTS[variant](sequence))
          slices[variant].push(await closedLoop({ url: server.url, connections, seconds: sliceSeconds, requests }))
        }
      }
      await root.query(VARIANTS['per-tenant'](sequence))
      const result = (variant: Variant): LoadResult => combine(slices[variant])
      const [perTenant, global] = [result('per-tenant'), result('global')]
      const line = (name: string, r: LoadResult) =>
        `  ${name}: ${r.rps.toFixed(0)}/s, p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, ${r.ok} ok, ${r.failed} failed`
      log(`\n## ${label}, ${connections} connections, ${rounds} × ${sliceSeconds} s per variant`)
      log(line('per-tenant ids (this branch)', perTenant))
      log(line('global ids (main)           ', global))
      log(`  throughput ratio per-tenant / global = ${(perTenant.rps / global.rps).toFixed(2)}`)
    }
  } finally {
    await root.end()
    await server.stop()
  }
} finally {
  await cluster.stop().catch(() => {})
  rmSync(dataDir, { recursive: true, force: true })
  rmSync(`${dataDir}.credentials.json`, { force: true })
}
