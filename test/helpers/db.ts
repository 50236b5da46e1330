import { randomBytes } from 'node:crypto'
import pg from 'pg'
import type { Test } from 'tap'
import { createDatabase, withClient } from '../../src/db/bootstrap.ts'

const env = (name: string): string => {
  const value = process.env[name]
  if (!value) throw new Error(`${name} is not set: run the suite with \`npm test\``)
  return value
}

export type TestDatabase = {
  name: string
  /** Superuser, owner role and API role URLs for this database. */
  rootUrl: string
  ownerUrl: string
  appUrl: string
}

const forDatabase = (url: string, database: string) => {
  const parsed = new URL(url)
  parsed.pathname = `/${database}`
  return parsed.toString()
}

/** A fresh database cloned from the migrated template, dropped when the test ends. */
export async function createTestDatabase(t: Test): Promise<TestDatabase> {
  const name = `tenantry_test_${randomBytes(6).toString('hex')}`
  const rootUrl = env('TENANTRY_TEST_ROOT_URL')
  // CREATE DATABASE ... TEMPLATE fails (55006) while another clone is reading the template; retry.
  for (let attempt = 0; ; attempt++) {
    try {
      await createDatabase(rootUrl, name, env('TENANTRY_TEST_TEMPLATE'))
      break
    } catch (error) {
      if ((error as { code?: string }).code !== '55006' || attempt > 50) throw error
      await new Promise((resolve) => setTimeout(resolve, 50 + Math.random() * 100))
    }
  }
  t.teardown(() => withClient(rootUrl, (client) => client.query(`drop database if exists ${name} with (force)`)))
  return {
    name,
    rootUrl: forDatabase(rootUrl, name),
    ownerUrl: forDatabase(env('TENANTRY_TEST_OWNER_URL'), name),
    appUrl: forDatabase(env('TENANTRY_TEST_APP_URL'), name),
  }
}

/** A plain pg client (no pool), closed at teardown. */
export async function connect(t: Test, url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  t.teardown(() => client.end())
  return client
}
