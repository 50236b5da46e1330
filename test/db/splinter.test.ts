/** Supabase's splinter lints (postgrestools dblint) against the migrated schema, with a canary. */
import t from 'tap'
import { runSplinter } from '../../db/audit.ts'
import { connect, createTestDatabase } from '../helpers/db.ts'

t.test('splinter (postgrestools dblint) reports nothing on the schema, and is live', async (t) => {
  const db = await createTestDatabase(t)
  const started = Date.now()
  const clean = await runSplinter(db.ownerUrl)
  t.same(clean.findings, [], `no lint finding (${Date.now() - started} ms)`)
  t.equal(clean.skipped, 0)

  // Proof it really linted this database: a definer function with a mutable search_path is
  // reported (and the catalog views agree).
  const owner = await connect(t, db.ownerUrl)
  await owner.query(
    `create function app_private.lint_canary() returns integer language sql security definer as 'select 1'`,
  )
  try {
    const canary = await runSplinter(db.ownerUrl)
    t.ok(
      canary.findings.some(
        (f) => f.category === 'splinter/security/functionSearchPathMutable' && f.message.includes('lint_canary'),
      ),
      'the canary is reported',
    )
  } finally {
    await owner.query('drop function app_private.lint_canary()')
  }
})
