/**
 * Lists that both PostgreSQL and TypeScript must know (roles, plans, activity types, the
 * invitation lifetime, the broadcast length). The database is the authority; the TypeScript
 * copies exist because zod validates requests and documents them before any SQL runs. This
 * test reads the catalog of the migrated schema and fails on any difference, so a migration
 * that adds an activity type or a plan cannot ship without the API learning it (and the reverse).
 */
import t from 'tap'
import { ACTIVITY_TYPES } from '../../src/activities/schemas.ts'
import { loadConfig } from '../../src/config.ts'
import { ROLES } from '../../src/roles.ts'
import { BroadcastBody, PLANS } from '../../src/tenant/schemas.ts'
import { buildTestApp, call, registerTenant } from '../helpers/app.ts'
import { connect, createTestDatabase } from '../helpers/db.ts'

// A plain JS module of the page; imported by URL so TypeScript does not look for its types.
const dashboardEvents = new URL('../../src/dashboard/events.js', import.meta.url).href

t.test('TypeScript and the catalog agree on every shared list', async (t) => {
  const db = await createTestDatabase(t)
  const owner = await connect(t, db.ownerUrl)
  const rows = async <T>(text: string, values: unknown[] = []) => (await owner.query(text, values)).rows as T[]

  const roles = await rows<{ label: string }>(
    `select enumlabel as label from pg_enum where enumtypid = 'app_public.membership_role'::regtype order by enumsortorder`,
  )
  t.same(
    roles.map((r) => r.label),
    [...ROLES],
    'roles, in rank order: enum app_public.membership_role = ROLES (src/roles.ts)',
  )

  const plans = await rows<{ id: string }>('select id from app_public.plans order by rank')
  t.same(
    plans.map((p) => p.id),
    [...PLANS],
    'plans, in rank order: rows of app_public.plans = PLANS (src/tenant/schemas.ts)',
  )

  const [typeCheck] = await rows<{ def: string }>(
    `select pg_get_constraintdef(oid) as def from pg_constraint
     where conrelid = 'app_public.activities'::regclass and contype = 'c'
       and pg_get_constraintdef(oid) ~ '^CHECK \\(\\(type = ANY'`,
  )
  const sqlTypes = [...(typeCheck?.def ?? '').matchAll(/'([A-Z_]+)'::text/g)].map((m) => m[1]).sort()
  t.ok(sqlTypes.length > 0, 'found the activity type check')
  t.same(sqlTypes, [...ACTIVITY_TYPES].sort(), 'activity types: the check on activities.type = ACTIVITY_TYPES')
  // The dashboard is static JavaScript (no build step), so it keeps its own catalog: tie it here.
  const dashboard = (await import(dashboardEvents)) as { ACTIVITY_TYPES: string[] }
  t.same(
    [...dashboard.ACTIVITY_TYPES].sort(),
    [...ACTIVITY_TYPES].sort(),
    'activity types: the dashboard has a sentence for, and listens for, every one of them',
  )

  const [ttlDefault] = await rows<{ seconds: number }>(
    `select extract(epoch from ((regexp_match(pg_get_expr(d.adbin, d.adrelid), '''([^'']+)''::interval'))[1])::interval)::int as seconds
     from pg_attrdef d join pg_attribute a on a.attrelid = d.adrelid and a.attnum = d.adnum
     where d.adrelid = 'app_public.invitations'::regclass and a.attname = 'expires_at'`,
  )
  t.equal(
    ttlDefault?.seconds,
    loadConfig({ NODE_ENV: 'test' }).INVITATION_TTL,
    'invitation lifetime: the default of invitations.expires_at = the INVITATION_TTL default',
  )

  const [broadcast] = await rows<{ def: string }>(
    `select pg_get_constraintdef(oid) as def from pg_constraint where conname = 'activities_broadcast_message'`,
  )
  const sqlMax = Number(/char_length\(\(payload ->> 'message'::text\)\) <= (\d+)/.exec(broadcast?.def ?? '')?.[1])
  t.equal(
    sqlMax,
    BroadcastBody.shape.message.maxLength,
    'broadcast length: activities_broadcast_message = BroadcastBody',
  )
})

t.test('a broadcast the schema accepts is stored, and one it refuses names the field', async (t) => {
  const { app } = await buildTestApp(t)
  const owner = await registerTenant(app)
  // 1,000 control characters: 6 bytes each as JSON text. It used to pass zod and fail in SQL.
  const longest = await call(app, owner, 'POST', '/v1/tenant/broadcasts', { message: '\u0001'.repeat(1000) })
  t.equal(longest.statusCode, 201, 'the longest message the API allows is stored')
  t.equal(longest.json().payload.message.length, 1000)
  const tooLong = await call(app, owner, 'POST', '/v1/tenant/broadcasts', { message: 'x'.repeat(1001) })
  t.equal(tooLong.statusCode, 400)
  t.same(
    tooLong.json().errors.map((e: { path: string }) => e.path),
    ['body.message'],
  )
})
