// What the dashboard says about each activity type: a short label, the family it is charted
// under, and a sentence with people named. A plain ES module with no DOM access, so the page
// imports it and a Node test imports the very same file (test/dashboard/events.test.ts): a type
// the API adds without a sentence here fails that test.

/** Families the overview chart counts by; each type belongs to one. */
export const FAMILIES = {
  items: { label: 'Items', color: '#0072b2' },
  members: { label: 'Members', color: '#d55e00' },
  invitations: { label: 'Invitations', color: '#009e73' },
  tenant: { label: 'Plan and tenant', color: '#cc79a7' },
  broadcasts: { label: 'Broadcasts', color: '#e69f00' },
}

const text = (value, fallback = '') => (typeof value === 'string' && value.length > 0 ? value : fallback)
const quoted = (value) => `“${text(value, 'untitled')}”`

/**
 * Per type: `label` (a heading for the row), `family`, and `sentence(activity, who)` where
 * `who(id)` names a user (a former member's id still gets a name: "a former member").
 */
export const EVENTS = {
  USER_JOINED: {
    label: 'Member joined',
    family: 'members',
    sentence: (a, who) => {
      const role = text(a.payload.role, 'member')
      // The joiner is the actor when they accepted an invitation or registered.
      if (!a.actor || a.actor === a.target) return `${who(a.target)} joined as ${role}`
      return `${who(a.actor)} added ${who(a.target)} as ${role}`
    },
  },
  USER_REMOVED: {
    label: 'Member left',
    family: 'members',
    sentence: (a, who) =>
      a.payload.left === true || a.actor === a.target
        ? `${who(a.target)} left the tenant`
        : `${who(a.actor)} removed ${who(a.target)}`,
  },
  ROLE_CHANGED: {
    label: 'Role changed',
    family: 'members',
    sentence: (a, who) =>
      `${who(a.actor)} changed ${who(a.target)}’s role from ${text(a.payload.from, '?')} to ${text(a.payload.to, '?')}`,
  },
  PLAN_UPGRADED: {
    label: 'Plan upgraded',
    family: 'tenant',
    sentence: (a) => `Plan upgraded to ${text(a.payload.to, '?')} (was ${text(a.payload.from, '?')})`,
  },
  PLAN_DOWNGRADED: {
    label: 'Plan downgraded',
    family: 'tenant',
    sentence: (a) => `Plan downgraded to ${text(a.payload.to, '?')} (was ${text(a.payload.from, '?')})`,
  },
  BROADCAST_MESSAGE: {
    label: 'Broadcast',
    family: 'broadcasts',
    sentence: (a, who) => `${who(a.actor)} broadcast: ${text(a.payload.message)}`,
  },
  INVITATION_CREATED: {
    label: 'Invitation sent',
    family: 'invitations',
    sentence: (a, who) =>
      `${who(a.actor)} invited ${text(a.payload.email, 'someone')} as ${text(a.payload.role, 'member')}`,
  },
  INVITATION_REVOKED: {
    label: 'Invitation revoked',
    family: 'invitations',
    sentence: (a, who) => `${who(a.actor)} revoked the invitation for ${text(a.payload.email, 'someone')}`,
  },
  TENANT_UPDATED: {
    label: 'Tenant renamed',
    family: 'tenant',
    sentence: (a, who) =>
      `${who(a.actor)} renamed the tenant from ${quoted(a.payload.previousName)} to ${quoted(a.payload.name)}`,
  },
  TENANT_SUSPENDED: {
    label: 'Tenant suspended',
    family: 'tenant',
    sentence: () => 'The tenant was suspended by the platform',
  },
  TENANT_RESUMED: {
    label: 'Tenant resumed',
    family: 'tenant',
    sentence: () => 'The tenant was resumed by the platform',
  },
  ITEM_CREATED: {
    label: 'Item created',
    family: 'items',
    sentence: (a, who) => `${who(a.actor)} created ${text(a.payload.name, 'an item')}`,
  },
  ITEM_UPDATED: {
    label: 'Item changed',
    family: 'items',
    sentence: (a, who) => `${who(a.actor)} changed ${text(a.payload.name, 'an item')}`,
  },
  ITEM_DELETED: {
    label: 'Item deleted',
    family: 'items',
    sentence: (a, who) => `${who(a.actor)} deleted ${text(a.payload.name, 'an item')}`,
  },
  API_KEY_CREATED: {
    label: 'Key created',
    family: 'tenant',
    sentence: (a, who) =>
      `${who(a.actor)} created the API key ${quoted(a.payload.name)} (${text(a.payload.role, 'member')})`,
  },
  API_KEY_UPDATED: {
    label: 'Key changed',
    family: 'tenant',
    sentence: (a, who) =>
      a.payload.previousRole !== a.payload.role
        ? `${who(a.actor)} changed the API key ${quoted(a.payload.name)} from ${text(a.payload.previousRole, '?')} to ${text(a.payload.role, '?')}`
        : `${who(a.actor)} renamed the API key ${quoted(a.payload.previousName)} to ${quoted(a.payload.name)}`,
  },
  API_KEY_REVOKED: {
    label: 'Key revoked',
    family: 'tenant',
    sentence: (a, who) => `${who(a.actor)} revoked the API key ${quoted(a.payload.name)}`,
  },
  WEBHOOK_DISABLED: {
    label: 'Webhook disabled',
    family: 'tenant',
    sentence: (a) => `Webhook deliveries to ${text(a.payload.url, 'an endpoint')} stopped after a day of failures`,
  },
}

/** Every type the page listens for: exactly the catalog's keys. */
export const ACTIVITY_TYPES = Object.keys(EVENTS)

const FORMER = 'a former member'
const PLATFORM = 'the platform'
const API_KEY = 'an API key'
// A sentence may open with a stand-in ("a former member …"); a person's own name is left as written.
const capitalize = (value) =>
  [FORMER, PLATFORM, API_KEY].some((standIn) => value.startsWith(standIn))
    ? value.charAt(0).toUpperCase() + value.slice(1)
    : value

/**
 * `names` maps user ids to display names. A null actor is an API key when `actorApiKey` names
 * one, else the platform (its admin API); an id no longer in the member list is "a former
 * member". An unknown type still reads as a sentence.
 */
export function describe(activity, names) {
  const who = (id) => {
    if (id === null || id === undefined) return activity.actorApiKey ? API_KEY : PLATFORM
    return names.get(id) ?? FORMER
  }
  const entry = EVENTS[activity.type]
  const safe = { ...activity, payload: activity.payload ?? {} }
  if (!entry) return { label: 'Activity', family: null, sentence: capitalize(`${who(activity.actor)} did something`) }
  return { label: entry.label, family: entry.family, sentence: capitalize(entry.sentence(safe, who)) }
}

const UNITS = [
  ['year', 365 * 24 * 3600],
  ['month', 30 * 24 * 3600],
  ['week', 7 * 24 * 3600],
  ['day', 24 * 3600],
  ['hour', 3600],
  ['minute', 60],
]

/** "just now", "3 minutes ago", "yesterday"; `now` and `then` in epoch milliseconds. */
export function relativeTime(then, now, locale = 'en') {
  const seconds = Math.round((then - now) / 1000)
  if (Math.abs(seconds) < 45) return 'just now'
  const format = new Intl.RelativeTimeFormat(locale, { numeric: 'auto' })
  for (const [unit, size] of UNITS) {
    if (Math.abs(seconds) >= size || unit === 'minute') return format.format(Math.round(seconds / size), unit)
  }
  return 'just now'
}
