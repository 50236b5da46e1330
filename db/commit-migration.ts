/**
 * `npm run db:commit -- "message"`: turns migrations/current/ (one `NNNN-<concern>.sql` per
 * concern; a migrations/current.sql file works too) into the next file under
 * migrations/committed/ with graphile-migrate, on a throwaway embedded PostgreSQL (nothing to
 * install, no server needed). graphile-migrate first applies the committed migrations and the
 * current ones to a fresh shadow database, so a migration that does not run is never committed.
 * Then db/schema.sql is rewritten from a fresh migrate of the new history.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as gm from 'graphile-migrate'
import { createDatabase, ensureRolesAndDatabase } from '../src/db/bootstrap.ts'
import { startEmbeddedPostgres } from '../src/db/embedded.ts'
import { freePort } from '../src/net.ts'
import { dumpFreshDatabase, SCHEMA_FILE } from './schema.ts'

const migrationsFolder = fileURLToPath(new URL('../migrations', import.meta.url))
const currentFolder = join(migrationsFolder, 'current')

const message = process.argv.slice(2).join(' ').trim()
if (!message) {
  console.error('usage: npm run db:commit -- "what this migration does"')
  process.exit(2)
}

const port = await freePort()
const dataDir = mkdtempSync(join(tmpdir(), 'tenantry-commit-pg-'))
const cluster = await startEmbeddedPostgres({ dataDir, port })
let code = 0
try {
  const urls = cluster.urls('tenantry_commit')
  await ensureRolesAndDatabase(urls)
  await createDatabase(urls.root, 'tenantry_commit_shadow')
  const shadow = new URL(urls.owner)
  shadow.pathname = '/tenantry_commit_shadow'
  await gm.commit(
    {
      connectionString: urls.owner,
      shadowConnectionString: shadow.toString(),
      rootConnectionString: urls.root,
      migrationsFolder,
      afterReset: ['!../db/after-reset.sql'],
    },
    message,
  )
  console.log('committed: see migrations/committed/')
  // graphile-migrate leaves a blank `1-current.sql` placeholder in current/: the folder's README
  // keeps it in git, and an empty folder is an empty current migration.
  for (const file of existsSync(currentFolder) ? readdirSync(currentFolder) : []) {
    const path = join(currentFolder, file)
    if (file.endsWith('.sql') && readFileSync(path, 'utf8').trim() === '-- Enter migration here') rmSync(path)
  }
  await createDatabase(urls.root, 'tenantry_commit_schema')
  const schema = new URL(urls.owner)
  schema.pathname = '/tenantry_commit_schema'
  writeFileSync(SCHEMA_FILE, await dumpFreshDatabase(schema.toString(), urls.root))
  console.log('rewrote db/schema.sql')
} catch (error) {
  console.error(error)
  code = 1
} finally {
  await cluster.stop()
  rmSync(dataDir, { recursive: true, force: true })
  rmSync(`${dataDir}.credentials.json`, { force: true })
}
process.exit(code)
