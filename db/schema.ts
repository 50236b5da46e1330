/**
 * `npm run db:schema`: rewrites db/schema.sql from a freshly migrated database on a throwaway
 * embedded PostgreSQL (`npm run db:commit` does the same after each commit). `--check` writes
 * nothing and exits 1 when the file differs from a fresh migrate.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ensureRolesAndDatabase, migrate, withClient } from '../src/db/bootstrap.ts'
import { startEmbeddedPostgres } from '../src/db/embedded.ts'
import { freePort } from '../src/net.ts'
import { dumpSchema } from './schema-dump.ts'

export const SCHEMA_FILE = fileURLToPath(new URL('schema.sql', import.meta.url))

/** Migrates the empty database of `ownerUrl` as the test runner does, then dumps it. */
export async function dumpFreshDatabase(ownerUrl: string, rootUrl: string): Promise<string> {
  await migrate(ownerUrl, rootUrl)
  return withClient(ownerUrl, dumpSchema)
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const check = process.argv.includes('--check')
  const dataDir = mkdtempSync(join(tmpdir(), 'tenantry-schema-pg-'))
  const cluster = await startEmbeddedPostgres({ dataDir, port: await freePort() })
  let code = 0
  try {
    const urls = cluster.urls('tenantry_schema')
    await ensureRolesAndDatabase(urls)
    const dump = await dumpFreshDatabase(urls.owner, urls.root)
    if (!check) {
      writeFileSync(SCHEMA_FILE, dump)
      console.log('wrote db/schema.sql')
    } else if (readFileSync(SCHEMA_FILE, 'utf8') !== dump) {
      const file = readFileSync(SCHEMA_FILE, 'utf8').split('\n')
      const fresh = dump.split('\n')
      const only = (a: string[], b: string[]) => a.filter((line) => !b.includes(line)).slice(0, 5)
      for (const line of only(file, fresh)) console.error(`- ${line.slice(0, 160)}`)
      for (const line of only(fresh, file)) console.error(`+ ${line.slice(0, 160)}`)
      console.error('db/schema.sql (-) differs from a fresh migrate (+): run `npm run db:schema` and commit it')
      code = 1
    } else {
      console.log('db/schema.sql matches a fresh migrate')
    }
  } catch (error) {
    console.error(error)
    code = 2
  } finally {
    await cluster.stop()
    rmSync(dataDir, { recursive: true, force: true })
    rmSync(`${dataDir}.credentials.json`, { force: true })
  }
  process.exit(code)
}
