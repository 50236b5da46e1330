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

/** Whose request context to take: ids as begin_request needs them. */
export type Who = { tenantId: string; userId: string; sessionId: string }

/** The request context of a signed-in session (its tenant, its user, its session family). */
export const whoOf = (session: { tenant: { id: string }; user: { id: string }; accessToken: string }): Who => ({
  tenantId: session.tenant.id,
  userId: session.user.id,
  sessionId: JSON.parse(Buffer.from(session.accessToken.split('.')[1]!, 'base64url').toString()).sid,
})

/**
 * Runs `fn` in one transaction as the API role with `who`'s request context, exactly as a
 * request does (BEGIN; begin_request; …), then rolls back unless `commit`. `client` is either
 * connected as tenantry_app, or a superuser client (`asSuperuser`) that first runs `before`
 * (e.g. DDL that sabotages a policy) and then becomes tenantry_app for the rest of the
 * transaction.
 */
export async function withApiRole<T>(
  client: pg.Client | pg.PoolClient,
  who: Who,
  fn: () => Promise<T>,
  options: { commit?: boolean; asSuperuser?: boolean; before?: string } = {},
): Promise<T> {
  await client.query('begin')
  try {
    if (options.before) await client.query(options.before)
    if (options.asSuperuser) await client.query('set local role tenantry_app')
    await client.query('select app_private.begin_request($1, $2, $3)', [who.tenantId, who.userId, who.sessionId])
    const result = await fn()
    await client.query(options.commit ? 'commit' : 'rollback')
    return result
  } catch (error) {
    await client.query('rollback')
    throw error
  }
}
