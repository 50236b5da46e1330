/**
 * `npm run db:commit -- "message"`: turns migrations/current.sql into the next file under
 * migrations/committed/ with graphile-migrate, on a throwaway embedded PostgreSQL (nothing to
 * install, no server needed). graphile-migrate first applies the committed migrations and
 * current.sql to a fresh shadow database, so a migration that does not run is never committed.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as gm from 'graphile-migrate'
import { createDatabase, ensureRolesAndDatabase } from '../src/db/bootstrap.ts'
import { startEmbeddedPostgres } from '../src/db/embedded.ts'
import { freePort } from '../src/net.ts'

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
      migrationsFolder: fileURLToPath(new URL('../migrations', import.meta.url)),
      afterReset: ['!../db/after-reset.sql'],
    },
    message,
  )
  console.log('committed: see migrations/committed/')
} catch (error) {
  console.error(error)
  code = 1
} finally {
  await cluster.stop()
  rmSync(dataDir, { recursive: true, force: true })
  rmSync(`${dataDir}.credentials.json`, { force: true })
}
process.exit(code)
