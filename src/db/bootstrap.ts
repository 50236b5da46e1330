import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import * as gm from 'graphile-migrate'
import { runMigrations as installJobQueue, Logger as WorkerLogger } from 'graphile-worker'
import pg from 'pg'

const root = (path: string) => fileURLToPath(new URL(`../../${path}`, import.meta.url))

export const OWNER_ROLE = 'tenantry_owner'
export const APP_ROLE = 'tenantry_app'

/**
 * As a superuser: creates the two roles and the database owned by the owner role. Idempotent.
 *
 * `existingRoles: 'reassert'` (npm start, docker-compose: the server is ours) re-asserts every
 * role attribute and sets both passwords from the URLs. `'leave'` (the test runner on someone
 * else's server) touches roles that already exist not at all — they are cluster-wide and may
 * serve another deployment — and sets passwords only on roles it has just created.
 */
export async function ensureRolesAndDatabase(
  urls: { root: string; owner: string; app: string },
  options: { existingRoles: 'reassert' | 'leave' } = { existingRoles: 'reassert' },
): Promise<void> {
  const owner = new URL(urls.owner)
  const app = new URL(urls.app)
  const database = decodeURIComponent(owner.pathname.slice(1))
  await withClient(urls.root, async (client) => {
    const existing = new Set(
      (
        await client.query<{ name: string }>('select rolname as name from pg_roles where rolname = any($1::text[])', [
          [OWNER_ROLE, APP_ROLE],
        ])
      ).rows.map((row) => row.name),
    )
    const leave = options.existingRoles === 'leave'
    if (!leave || existing.size < 2) await client.query(readFileSync(root('db/roles.sql'), 'utf8'))
    for (const url of [owner, app]) {
      const role = decodeURIComponent(url.username)
      if (url.password === '' || (leave && existing.has(role))) continue
      // Role names and passwords cannot be bind parameters in DDL; format() quotes them server-side.
      const { rows } = await client.query<{ ddl: string }>(
        `select format('alter role %I password %L', $1::text, $2::text) as ddl`,
        [role, decodeURIComponent(url.password)],
      )
      await client.query(rows[0]!.ddl)
    }
    const exists = await client.query('select 1 from pg_database where datname = $1', [database])
    if (exists.rowCount === 0) await createDatabase(urls.root, database)
  })
}

/** CREATE DATABASE (optionally from a template) owned by the owner role, with its grants. */
export async function createDatabase(rootUrl: string, database: string, template?: string): Promise<void> {
  await withClient(rootUrl, async (client) => {
    const { rows } = await client.query<{ ddl: string }>(
      `select format('create database %I owner %I', $1::text, $2::text)
              || case when $3::text is null then '' else format(' template %I', $3::text) end as ddl`,
      [database, OWNER_ROLE, template ?? null],
    )
    await client.query(rows[0]!.ddl)
  })
  await applyDatabaseGrants(rootUrl, database)
}

/** db/after-reset.sql against one database (CREATE DATABASE ... TEMPLATE does not copy ACLs). */
async function applyDatabaseGrants(rootUrl: string, database: string): Promise<void> {
  const sqlText = readFileSync(root('db/after-reset.sql'), 'utf8')
  const url = new URL(rootUrl)
  url.pathname = `/${encodeURIComponent(database)}`
  await withClient(url.toString(), async (client) => {
    const { rows } = await client.query<{ name: string; owner: string }>(
      'select quote_ident($1) as name, quote_ident($2) as owner',
      [database, OWNER_ROLE],
    )
    const { name, owner } = rows[0]!
    await client.query(sqlText.replaceAll(':DATABASE_NAME', name).replaceAll(':DATABASE_OWNER', owner))
  })
}

/**
 * graphile-migrate keeps its pool for 200 ms after a command (POOL_KEEPALIVE in its pgReal.js), and
 * that pool's error handler exits the process with 1. A cluster stopped within those 200 ms ends the
 * pool's idle connection, so a command that succeeded exited 1: `npm run db:schema -- --check`
 * printed "matches" and failed CI that way. The embedded cluster's stop() waits this out first.
 */
let migratedAt = 0
export async function migrationPoolsReleased(): Promise<void> {
  const wait = migratedAt + 300 - Date.now()
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
}

/**
 * Installs or upgrades the job queue (graphile-worker's own schema `graphile_worker`, its own
 * migrations) as the owner role, then applies committed migrations (graphile-migrate, same
 * settings as .gmrc), then db/audit.sql. The queue comes first: our definer functions enqueue
 * into it and app_audit.mail_queue reads it. forceActions: the audit views are re-applied on every migrate, not only when
 * a migration ran, so they always match this PostgreSQL's catalog (the file is idempotent, and
 * graphile-migrate's advisory lock serialises instances booting together).
 */
export async function migrate(ownerUrl: string, rootUrl?: string): Promise<void> {
  await installJobQueue({ connectionString: ownerUrl, logger: quietWorkerLogger })
  // PostgreSQL grants EXECUTE on new functions to PUBLIC. tenantry_app has no USAGE on the
  // schema anyway; still, no one but the owner may call the queue's functions (our definer
  // functions enqueue), including functions a later graphile-worker release adds.
  await withClient(ownerUrl, (client) =>
    client.query(`
      revoke all on schema graphile_worker from public;
      revoke all on all functions in schema graphile_worker from public;
      alter default privileges in schema graphile_worker revoke execute on functions from public;
    `),
  )
  try {
    await gm.migrate(
      {
        connectionString: ownerUrl,
        ...(rootUrl ? { rootConnectionString: rootUrl } : {}),
        migrationsFolder: root('migrations'),
        afterReset: ['!../db/after-reset.sql'],
        afterAllMigrations: ['../db/audit.sql'],
        logger: quietLogger,
      },
      false,
      true,
    )
  } finally {
    migratedAt = Date.now()
  }
}

export async function withClient<T>(
  config: string | pg.ClientConfig,
  fn: (client: pg.Client) => Promise<T>,
): Promise<T> {
  const client = new pg.Client(typeof config === 'string' ? { connectionString: config } : config)
  await client.connect()
  try {
    return await fn(client)
  } finally {
    await client.end()
  }
}

// graphile-migrate logs every step at info; keep warnings and errors only.
const quietLogger = new (gm as unknown as { Logger: new (f: unknown) => gm.Logger }).Logger(
  (_scope: unknown) => (level: string, message: string) => {
    if (level === 'error' || level === 'warning') console.error(`graphile-migrate: ${message}`)
  },
)

const quietWorkerLogger = new WorkerLogger(() => (level, message) => {
  if (level === 'error' || level === 'warning') console.error(`graphile-worker: ${message}`)
})
