/**
 * db/schema.sql is the schema a DBA reads: it must be exactly what a fresh migrate produces.
 * The template every test file clones is that fresh migrate (test/run.ts), so its dump is
 * compared with the committed file. Deparsed SQL differs between PostgreSQL majors, so the
 * comparison runs on the major named in the file's header (the embedded PostgreSQL); on a
 * TEST_DATABASE_URL server of another major (CI's PostgreSQL 15 pass) it is skipped with the
 * reason, and the checks below that prove the dump sees a change run everywhere.
 */
import { readFileSync } from 'node:fs'
import t from 'tap'
import { SCHEMA_FILE } from '../../db/schema.ts'
import { dumpSchema } from '../../db/schema-dump.ts'
import { connect, createTestDatabase } from '../helpers/db.ts'

const committed = readFileSync(SCHEMA_FILE, 'utf8')
const committedMajor = /^-- PostgreSQL major: (\d+)$/m.exec(committed)?.[1]

/** The lines of `after` that are not in `before`, for a short failure message. */
const added = (before: string, after: string) => {
  const old = new Set(before.split('\n'))
  return after.split('\n').filter((line) => !old.has(line))
}

t.test('db/schema.sql', async (t) => {
  const db = await createTestDatabase(t)
  const owner = await connect(t, db.ownerUrl)
  const fresh = await dumpSchema(owner)
  const major = /^-- PostgreSQL major: (\d+)$/m.exec(fresh)?.[1]

  // Skipped only on a server of our own choosing (TEST_DATABASE_URL) of another major: on the
  // embedded PostgreSQL a new major fails here until db/schema.sql is regenerated on it.
  const otherMajor = major !== committedMajor && Boolean(process.env.TEST_DATABASE_URL)
  t.ok(committedMajor, 'db/schema.sql names the PostgreSQL major it was made on')
  t.test(
    'is what a fresh migrate produces (else: `npm run db:schema`, and commit it)',
    { skip: otherMajor && `this server is PostgreSQL ${major}; db/schema.sql is compared on ${committedMajor}` },
    async (t) => {
      const missing = added(fresh, committed)
      const extra = added(committed, fresh)
      t.same(
        { 'in db/schema.sql only': missing, 'in a fresh migrate only': extra },
        { 'in db/schema.sql only': [], 'in a fresh migrate only': [] },
      )
      t.equal(fresh, committed, 'byte for byte, order included')
    },
  )

  t.test('the dump is stable: dumping twice gives the same text', async (t) => {
    t.equal(await dumpSchema(owner), fresh)
  })

  t.test('the dump sees a change of each kind a migration makes (so the check above can fail)', async (t) => {
    const root = await connect(t, db.rootUrl)
    const changes: [string, string][] = [
      [
        'a function body edited in the database',
        `create or replace function app_public.current_tenant_id() returns uuid language sql stable
           as $$ select null::uuid $$`,
      ],
      ['a comment changed', `comment on table app_public.items is 'edited'`],
      ['a policy dropped', 'drop policy delete_admin on app_public.items'],
      ['a column added', 'alter table app_public.items add column sabotage integer'],
      ['a grant added', 'grant select on app_private.sessions to tenantry_app'],
      ['an index added', 'create index sabotage_idx on app_public.items (name)'],
      ['a trigger dropped', 'drop trigger _900_activity on app_public.items'],
      ['row level security no longer forced', 'alter table app_public.items no force row level security'],
      ['a check constraint dropped', 'alter table app_public.items drop constraint items_name_check'],
      ['a view added', 'create view app_public.sabotage_view as select 1 as one'],
      ['an enum value added', `alter type app_public.membership_role add value 'sabotage'`],
    ]
    t.equal(await dumpSchema(root), fresh, 'the superuser dumps the same text as the owner')
    for (const [what, ddl] of changes) {
      await root.query('begin')
      try {
        await root.query(ddl)
        const after = await dumpSchema(root)
        t.not(after, fresh, `${what}: the dump differs`, { added: added(fresh, after).slice(0, 3) })
      } finally {
        await root.query('rollback')
      }
    }
    t.equal(await dumpSchema(owner), fresh, 'and everything was rolled back')
  })

  t.test("open_session's comment states what 000004's function does (000003's fix, lost by 000004)", async (t) => {
    const { rows } = await owner.query<{ comment: string }>(
      `select obj_description('app_private.open_session(uuid, text, bytea, interval)'::regprocedure, 'pg_proc') as comment`,
    )
    t.match(rows[0]?.comment, /not suspended/)
    t.match(rows[0]?.comment, /tenantless/)
    t.notMatch(rows[0]?.comment, /or their first\)/)
  })
})
