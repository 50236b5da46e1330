/*
 * The dashboard's event catalog (src/dashboard/events.js, the very module the page imports):
 * every activity type of the API has a label, a family the chart counts it under, and a
 * sentence that names people instead of showing ids. A type added to the API without a
 * sentence fails here.
 */
import t from 'tap'
import { ACTIVITY_TYPES } from '../../src/activities/schemas.ts'

type Activity = {
  id: number
  type: string
  actor: string | null
  actorApiKey?: string | null
  target: string | null
  payload: Record<string, unknown>
  createdAt: string
}
type Catalog = {
  EVENTS: Record<string, { label: string; family: string }>
  FAMILIES: Record<string, { label: string; color: string }>
  ACTIVITY_TYPES: string[]
  describe: (a: Activity, names: Map<string, string>) => { label: string; family: string | null; sentence: string }
  relativeTime: (then: number, now: number) => string
}
// Imported by URL so TypeScript does not look for the plain JS module's types.
const catalog = (await import(new URL('../../src/dashboard/events.js', import.meta.url).href)) as Catalog

const ANN = '00000000-0000-4000-8000-00000000000a'
const BOB = '00000000-0000-4000-8000-00000000000b'
const GONE = '00000000-0000-4000-8000-0000000000ff'
const ITEM = '00000000-0000-4000-8000-000000000123'
const TENANT = '00000000-0000-4000-8000-000000000777'
const KEY = '00000000-0000-4000-8000-000000000888'
const names = new Map([
  [ANN, 'Ann'],
  [BOB, 'Bob'],
])

/** The activity each type's trigger writes (see db/schema.sql), with Ann acting on Bob. */
const samples: Record<(typeof ACTIVITY_TYPES)[number], Partial<Activity>> = {
  USER_JOINED: { actor: BOB, target: BOB, payload: { userId: BOB, role: 'member' } },
  USER_REMOVED: { target: BOB, payload: { userId: BOB, role: 'member', left: false } },
  ROLE_CHANGED: { target: BOB, payload: { userId: BOB, from: 'member', to: 'admin' } },
  PLAN_UPGRADED: { target: TENANT, payload: { from: 'free', to: 'pro' } },
  PLAN_DOWNGRADED: { target: TENANT, payload: { from: 'pro', to: 'free' } },
  BROADCAST_MESSAGE: { target: null, payload: { message: 'Maintenance at 22:00' } },
  INVITATION_CREATED: { target: 'inv', payload: { email: 'carol@example.com', role: 'viewer' } },
  INVITATION_REVOKED: { target: 'inv', payload: { email: 'carol@example.com' } },
  TENANT_UPDATED: { target: TENANT, payload: { name: 'Acme', previousName: 'Acme Ltd' } },
  TENANT_SUSPENDED: { actor: null, target: TENANT, payload: { suspendedAt: '2026-12-01T00:00:00Z' } },
  TENANT_RESUMED: { actor: null, target: TENANT, payload: {} },
  ITEM_CREATED: { target: ITEM, payload: { itemId: ITEM, name: 'Quarterly report' } },
  ITEM_UPDATED: { target: ITEM, payload: { itemId: ITEM, name: 'Quarterly report' } },
  ITEM_DELETED: { target: ITEM, payload: { itemId: ITEM, name: 'Quarterly report' } },
  API_KEY_CREATED: { target: KEY, payload: { apiKeyId: KEY, name: 'CI', prefix: 'ab12cd34', role: 'member' } },
  API_KEY_UPDATED: {
    target: KEY,
    payload: {
      apiKeyId: KEY,
      name: 'CI',
      prefix: 'ab12cd34',
      role: 'viewer',
      previousName: 'CI',
      previousRole: 'member',
    },
  },
  API_KEY_REVOKED: { target: KEY, payload: { apiKeyId: KEY, name: 'CI', prefix: 'ab12cd34' } },
  WEBHOOK_DISABLED: {
    actor: null,
    target: KEY,
    payload: { webhookId: KEY, url: 'https://hooks.example.com/in', reason: 'HTTP 500' },
  },
}
const activity = (type: string): Activity => ({
  id: 1,
  type,
  actor: ANN,
  target: null,
  payload: {},
  createdAt: '2026-12-01T12:00:00Z',
  ...samples[type as keyof typeof samples],
})

t.test('every activity type of the API has a label, a family and a sentence without ids', async (t) => {
  t.same([...catalog.ACTIVITY_TYPES].sort(), [...ACTIVITY_TYPES].sort(), 'the catalog covers exactly the API types')
  for (const type of ACTIVITY_TYPES) {
    const entry = catalog.EVENTS[type]
    t.ok(entry, `${type} is in the catalog`)
    if (!entry) continue
    t.ok(catalog.FAMILIES[entry.family], `${type} belongs to a charted family`)
    const { label, sentence } = catalog.describe(activity(type), names)
    t.match(label, /^[A-Z][a-z]/, `${type}: label "${label}"`)
    t.notMatch(label, /_/, `${type}: the label is not the code`)
    t.ok(sentence.length > 10, `${type}: "${sentence}"`)
    t.notMatch(sentence, /undefined|null|\[object|[0-9a-f]{8}-[0-9a-f]{4}/, `${type}: no raw values or ids`)
  }
})

t.test('sentences read as the issue asks, and name people from the member list', async (t) => {
  const say = (type: string, extra: Partial<Activity> = {}, known = names) =>
    catalog.describe({ ...activity(type), ...extra }, known).sentence
  t.equal(say('ITEM_CREATED'), 'Ann created Quarterly report')
  t.equal(say('USER_JOINED'), 'Bob joined as member')
  t.equal(say('USER_JOINED', { actor: ANN }), 'Ann added Bob as member')
  t.equal(say('PLAN_UPGRADED'), 'Plan upgraded to pro (was free)')
  t.equal(say('ROLE_CHANGED'), 'Ann changed Bob’s role from member to admin')
  t.equal(say('USER_REMOVED'), 'Ann removed Bob')
  t.equal(say('USER_REMOVED', { actor: BOB, payload: { left: true } }), 'Bob left the tenant')
  t.equal(say('ITEM_DELETED', { actor: GONE }), 'A former member deleted Quarterly report', 'unknown ids')
  t.equal(say('ROLE_CHANGED', { target: GONE }), 'Ann changed a former member’s role from member to admin')
  t.equal(say('TENANT_UPDATED'), 'Ann renamed the tenant from “Acme Ltd” to “Acme”')
  t.equal(say('BROADCAST_MESSAGE', { actor: null }), 'The platform broadcast: Maintenance at 22:00')
  t.equal(catalog.describe(activity('SOMETHING_NEW'), names).sentence, 'Ann did something', 'unknown types')
  t.equal(say('ITEM_CREATED', { actor: null, actorApiKey: KEY }), 'An API key created Quarterly report', 'a key acted')
  t.equal(say('API_KEY_UPDATED'), 'Ann changed the API key “CI” from member to viewer')
  t.equal(say('API_KEY_REVOKED'), 'Ann revoked the API key “CI”')
  t.equal(
    say('ITEM_CREATED', { actor: 'x' }, new Map([['x', 'eve']])),
    'eve created Quarterly report',
    'names as written',
  )
})

t.test('times read relative to now', async (t) => {
  const now = Date.parse('2026-12-01T12:00:00Z')
  t.equal(catalog.relativeTime(now - 10_000, now), 'just now')
  t.equal(catalog.relativeTime(now - 3 * 60_000, now), '3 minutes ago')
  t.equal(catalog.relativeTime(now - 2 * 3600_000, now), '2 hours ago')
  t.equal(catalog.relativeTime(now - 26 * 3600_000, now), 'yesterday')
  t.equal(catalog.relativeTime(now + 6 * 24 * 3600_000, now), 'in 6 days')
})
