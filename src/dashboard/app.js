// The Tenantry dashboard: plain browser JavaScript (an ES module), no build step. Everything it
// shows comes from the public API, REST for the state and Socket.IO for what changes, so it
// sees exactly what the signed-in member may see and offers only what their role may do.
//
// The session across a reload: the refresh token is kept in sessionStorage (this tab only,
// gone when the tab closes), the access token in memory only. A reload exchanges the refresh
// token for a new pair (rotation: the stored one is then spent), so what a script could read is
// a single-use token of this one session; presenting it twice after its rotation revokes the
// session (/token-reused). The CSP allows no inline or foreign script. The trade-off, against
// an HttpOnly cookie, is written up in the README ("The dashboard").

import { createChart } from './chart.js'
import { ACTIVITY_TYPES, describe, FAMILIES, relativeTime } from './events.js'

const $ = (selector) => document.querySelector(selector)
const ROLES = ['viewer', 'member', 'admin', 'owner']
const atLeast = (role, min) => ROLES.indexOf(role) >= ROLES.indexOf(min)
const plural = (n, noun) => `${n} ${noun}${n === 1 ? '' : 's'}`
const SESSION_KEY = 'tenantry.session'
const FEED_KEEP = 200
const HISTORY_PAGES = 5

const state = {
  session: null, // {accessToken, refreshToken, expiresIn, user, tenant, role, memberships}
  socket: null,
  lastEventId: null,
  feed: [], // activities shown, oldest first
  seen: new Set(),
  names: new Map(), // user id → name; kept for people who left, so old sentences still name them
  members: [],
  items: new Map(),
  refreshTimer: null,
  resumed: false, // the next connect replays what was missed while away
  refusals: 0, // handshakes refused in a row (the next retry waits longer)
  awayPending: false,
  away: null, // {li, count}
  resyncing: null, // during a resync: the live events that arrived meanwhile
  feedReady: false, // false while a session starts: nothing half-loaded overwrites the stored feed
}

const chart = createChart($('#chart'), $('#chart-totals'))

// ---- API -----------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(message, status, problem) {
    super(message)
    this.status = status
    this.problem = problem
  }
}

async function request(method, path, body, token) {
  const headers = {}
  if (body !== undefined) headers['content-type'] = 'application/json'
  if (token) headers.authorization = `Bearer ${token}`
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
  if (response.status === 204) return null
  const data = await response.json().catch(() => null)
  if (!response.ok) {
    throw new ApiError(data?.detail ?? `${method} ${path} failed (${response.status})`, response.status, data)
  }
  return data
}

/** A call as the signed-in member; an expired access token is refreshed once and the call repeated. */
async function api(method, path, body) {
  try {
    return await request(method, path, body, state.session?.accessToken)
  } catch (error) {
    if (error.status !== 401 || error.problem?.type !== '/problems/invalid-token' || !state.session) throw error
    await refreshSession()
    return request(method, path, body, state.session.accessToken)
  }
}

/** Every page of a list (members, invitations), up to `pages` pages of 100. */
async function all(path, pages = 10) {
  const rows = []
  let cursor = null
  for (let i = 0; i < pages; i++) {
    const page = await api('GET', `${path}?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)
    rows.push(...page.data)
    cursor = page.nextCursor
    if (!cursor) break
  }
  return rows
}

// ---- notices ---------------------------------------------------------------------------------

function show(element, visible) {
  element.hidden = !visible
}

function notice(message) {
  $('#notice').textContent = message ?? ''
  show($('#notice'), Boolean(message))
}

/** A refused action is a notice, never a broken page: a 403 for the role says which role. */
function report(error) {
  if (error?.problem?.type === '/problems/forbidden') {
    notice(`Not allowed: ${error.message}. Your role here is ${state.session?.role ?? 'unknown'}.`)
  } else if (error?.status === 403) {
    notice(`Not allowed: ${error.message}.`)
  } else if (error?.status === 429) {
    notice(`Too many requests: ${error.message}. Try again in a moment.`)
  } else {
    notice(error?.message ?? String(error))
  }
}

/** Runs a user action: clears the last notice, reports a failure. */
async function act(action) {
  notice(null)
  try {
    await action()
  } catch (error) {
    report(error)
  }
}

function setConnection(label) {
  const badge = $('#connection')
  badge.textContent = label
  badge.className = `state ${label.replace(' ', '-')}`
}

// ---- persistence (this tab only) ---------------------------------------------------------------

const feedKey = () => `tenantry.feed.${state.session.tenant.id}.${state.session.user.id}`

// "Duplicate tab" copies sessionStorage, so two tabs may hold one session's refresh token.
// Each rotation is announced to the tabs of the same chain (an id made at sign-in and copied
// with the storage): they keep the newest token, and neither presents a spent one (which would
// revoke the session as a replay).
const tabs = 'BroadcastChannel' in window ? new BroadcastChannel('tenantry.session') : null
tabs?.addEventListener('message', ({ data }) => {
  if (!state.session || !data?.chain || data.chain !== state.session.chain) return
  state.session.refreshToken = data.refreshToken
  sessionStorage.setItem(SESSION_KEY, JSON.stringify({ refreshToken: data.refreshToken, chain: data.chain }))
})

const newChain = () => Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16)).join('')

function storeSession() {
  const { refreshToken, chain } = state.session
  sessionStorage.setItem(SESSION_KEY, JSON.stringify({ refreshToken, chain }))
  tabs?.postMessage({ chain, refreshToken })
}

function storedSession() {
  try {
    return JSON.parse(sessionStorage.getItem(SESSION_KEY) ?? 'null')
  } catch {
    return null
  }
}

let feedSaveTimer = null
/** The feed, its cursor and the chart's buckets, so a reload resumes over the socket. */
function storeFeed() {
  clearTimeout(feedSaveTimer)
  feedSaveTimer = setTimeout(() => {
    if (!state.session?.tenant || !state.feedReady) return
    const saved = {
      lastEventId: state.lastEventId,
      feed: state.feed.slice(-FEED_KEEP),
      names: [...state.names],
      buckets: chart.saved(),
    }
    sessionStorage.setItem(feedKey(), JSON.stringify(saved))
  }, 50)
}

function storedFeed() {
  try {
    return JSON.parse(sessionStorage.getItem(feedKey()) ?? 'null')
  } catch {
    return null
  }
}

function forgetEverything() {
  clearTimeout(feedSaveTimer)
  sessionStorage.clear()
}

// ---- feed ------------------------------------------------------------------------------------

function feedEntry(activity) {
  const li = document.createElement('li')
  li.dataset.id = String(activity.id)
  li.dataset.type = activity.type
  const { label, sentence, family } = describe(activity, state.names)
  const tag = document.createElement('span')
  tag.className = `label family-${family ?? 'other'}`
  tag.textContent = label
  const text = document.createElement('span')
  text.className = 'text'
  text.textContent = sentence
  const time = document.createElement('time')
  time.dateTime = activity.createdAt
  time.title = new Date(activity.createdAt).toLocaleString()
  time.textContent = relativeTime(Date.parse(activity.createdAt), Date.now())
  li.append(tag, ' ', text, ' ', time)
  return li
}

function scrollFeedIfAtEnd(wasAtEnd) {
  const feed = $('#feed')
  if (wasAtEnd) feed.scrollTop = feed.scrollHeight
}

const feedAtEnd = () => {
  const feed = $('#feed')
  return feed.scrollHeight - feed.scrollTop - feed.clientHeight < 40
}

/** Appends one activity (oldest first); returns false for one already shown. */
function addToFeed(activity) {
  if (state.seen.has(activity.id)) return false
  state.seen.add(activity.id)
  state.feed.push(activity)
  const feed = $('#feed')
  const atEnd = feedAtEnd()
  feed.append(feedEntry(activity))
  while (state.feed.length > FEED_KEEP) {
    const dropped = state.feed.shift()
    feed.querySelector(`li[data-id="${dropped.id}"]`)?.remove()
  }
  scrollFeedIfAtEnd(atEnd)
  return true
}

function renderFeed(activities) {
  state.feed = []
  state.seen.clear()
  state.away = null
  $('#feed').replaceChildren()
  for (const activity of activities) addToFeed(activity)
  $('#feed').scrollTop = $('#feed').scrollHeight
}

/** Names changed (a member list arrived): sentences are said again with them. */
function renameFeed() {
  for (const li of $('#feed').querySelectorAll('li[data-id]')) {
    const activity = state.feed.find((a) => String(a.id) === li.dataset.id)
    if (activity) li.querySelector('.text').textContent = describe(activity, state.names).sentence
  }
}

/** Where "while you were away" begins: one marker, before the first event the replay brought. */
function markAway() {
  state.away?.li.remove()
  const li = document.createElement('li')
  li.className = 'away'
  li.id = 'away-marker'
  $('#feed').append(li)
  state.away = { li, count: 0 }
}

function countAway() {
  state.away.count += 1
  const n = state.away.count
  state.away.li.textContent = `While you were away: ${plural(n, 'new event')}`
}

setInterval(() => {
  const now = Date.now()
  for (const time of document.querySelectorAll('time[datetime]')) {
    time.textContent = relativeTime(Date.parse(time.dateTime), now)
  }
}, 30_000)

// ---- items -----------------------------------------------------------------------------------

function itemRow(item) {
  const li = document.createElement('li')
  li.dataset.itemId = item.id
  const name = document.createElement('span')
  name.className = 'name'
  li.append(name)
  const role = state.session.role
  const controls = document.createElement('span')
  controls.className = 'controls'
  const current = () => state.items.get(item.id) ?? item
  if (atLeast(role, 'member')) {
    const rename = button('Rename', 'Rename', () => startRename(li, current()))
    rename.className = 'rename'
    controls.append(rename)
  }
  if (atLeast(role, 'admin')) {
    const remove = button('Delete', 'Delete', () =>
      act(async () => {
        if (!window.confirm(`Delete “${current().name}”?`)) return
        await api('DELETE', `/v1/items/${encodeURIComponent(item.id)}`)
      }),
    )
    remove.className = 'delete danger'
    controls.append(remove)
  }
  li.append(controls)
  nameItemRow(li, item)
  return li
}

/** Names a row in place, so a focused button keeps its focus when someone renames the item. */
function nameItemRow(li, item) {
  li.querySelector('.name').textContent = item.name
  li.querySelector('.rename')?.setAttribute('aria-label', `Rename ${item.name}`)
  li.querySelector('.delete')?.setAttribute('aria-label', `Delete ${item.name}`)
}

function startRename(li, item) {
  const form = document.createElement('form')
  form.className = 'row rename-form'
  const label = document.createElement('label')
  label.className = 'grow'
  label.append(`New name for ${item.name} `)
  const input = document.createElement('input')
  input.name = 'name'
  input.required = true
  input.maxLength = 200
  input.value = item.name
  label.append(input)
  const save = document.createElement('button')
  save.type = 'submit'
  save.textContent = 'Save'
  const finish = () => {
    const row = itemRow(state.items.get(item.id) ?? item)
    li.replaceWith(row)
    row.querySelector('.rename')?.focus()
  }
  const cancel = button('Cancel', `Cancel renaming ${item.name}`, finish)
  form.append(label, save, cancel)
  form.addEventListener('submit', (event) => {
    event.preventDefault()
    act(async () => {
      const changed = await api('PATCH', `/v1/items/${encodeURIComponent(item.id)}`, { name: input.value })
      state.items.set(changed.id, { id: changed.id, name: changed.name })
      finish()
    })
  })
  form.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') finish()
  })
  li.replaceChildren(form)
  input.select()
}

function upsertItem(item) {
  state.items.set(item.id, item)
  const existing = document.querySelector(`#items li[data-item-id="${CSS.escape(item.id)}"]`)
  // Someone renaming this row keeps their form; the new name shows when they finish.
  if (existing?.querySelector('form')) return
  if (existing) nameItemRow(existing, item)
  else $('#items').prepend(itemRow(item))
}

function removeItem(id) {
  state.items.delete(id)
  document.querySelector(`#items li[data-item-id="${CSS.escape(id)}"]`)?.remove()
}

function renderItems() {
  $('#items').replaceChildren(...[...state.items.values()].map(itemRow))
}

// ---- members and invitations -------------------------------------------------------------------

function button(text, label, onClick) {
  const element = document.createElement('button')
  element.type = 'button'
  element.textContent = text
  if (label !== text) element.setAttribute('aria-label', label)
  element.addEventListener('click', onClick)
  return element
}

/** The roles `role` may hand out: only an owner grants owner. */
const grantable = (role) => (role === 'owner' ? ROLES : ROLES.filter((r) => r !== 'owner'))

function memberRow(member) {
  const me = state.session.user.id
  const myRole = state.session.role
  const li = document.createElement('li')
  li.dataset.userId = member.userId
  const name = document.createElement('span')
  name.className = 'name'
  name.textContent = member.name
  const email = document.createElement('span')
  email.className = 'muted'
  email.textContent = member.email
  li.append(name, ' ', email, ' ')
  // Admins manage members and admins; only an owner manages an owner.
  const manageable = member.userId !== me && atLeast(myRole, 'admin') && (member.role !== 'owner' || myRole === 'owner')
  if (manageable) {
    const select = document.createElement('select')
    select.className = 'role-select'
    select.setAttribute('aria-label', `Role of ${member.name}`)
    for (const role of grantable(myRole)) select.append(new Option(role, role, false, role === member.role))
    select.addEventListener('change', () =>
      act(async () => {
        try {
          await api('PATCH', `/v1/members/${encodeURIComponent(member.userId)}`, { role: select.value })
        } finally {
          await loadMembers()
        }
      }),
    )
    const remove = button('Remove', `Remove ${member.name}`, () =>
      act(async () => {
        if (!window.confirm(`Remove ${member.name} from this tenant?`)) return
        await api('DELETE', `/v1/members/${encodeURIComponent(member.userId)}`)
      }),
    )
    remove.className = 'danger'
    li.append(select, ' ', remove)
  } else {
    const role = document.createElement('span')
    role.className = 'role'
    role.textContent = member.role
    li.append(role)
    if (member.userId === me) {
      const leave = button('Leave', 'Leave this tenant', () =>
        act(async () => {
          if (!window.confirm('Leave this tenant? You will need a new invitation to come back.')) return
          await api('DELETE', `/v1/members/${encodeURIComponent(me)}`)
        }),
      )
      leave.className = 'danger'
      li.append(' ', leave)
    }
  }
  return li
}

async function loadMembers() {
  state.members = await all('/v1/members')
  for (const member of state.members) state.names.set(member.userId, member.name)
  $('#members').replaceChildren(...state.members.map(memberRow))
  renameFeed()
  storeFeed()
}

function invitationRow(invitation) {
  const li = document.createElement('li')
  li.dataset.invitationId = invitation.id
  li.append(`${invitation.email} · ${invitation.role} · expires `)
  const time = document.createElement('time')
  time.dateTime = invitation.expiresAt
  time.title = new Date(invitation.expiresAt).toLocaleString()
  time.textContent = relativeTime(Date.parse(invitation.expiresAt), Date.now())
  li.append(time, ' ')
  const revoke = button('Revoke', `Revoke the invitation for ${invitation.email}`, () =>
    act(() => api('DELETE', `/v1/invitations/${encodeURIComponent(invitation.id)}`)),
  )
  // The invitee's link goes by mail only; a resend mails a fresh one (the old link stops working).
  const resend = button('Resend', `Send the invitation to ${invitation.email} again`, () =>
    act(async () => {
      await api('POST', `/v1/invitations/${encodeURIComponent(invitation.id)}/resend`)
      // 202 whether or not a mail goes out now: one invitation mail per recipient per minute.
      notice(`A fresh link goes to ${invitation.email} (at most one mail a minute).`)
    }),
  )
  li.append(revoke, ' ', resend)
  return li
}

async function loadInvitations() {
  if (!atLeast(state.session.role, 'admin')) {
    $('#invitations').replaceChildren()
    return
  }
  const invitations = await all('/v1/invitations')
  $('#invitations').replaceChildren(...invitations.map(invitationRow))
}

// ---- tenant, plan and usage ------------------------------------------------------------------

/** One line of usage; `limit` null is unlimited, undefined a figure with no limit. */
function usageRow(label, used, limit, extra) {
  const dt = document.createElement('dt')
  dt.textContent = label
  const dd = document.createElement('dd')
  dd.textContent = `${used} of ${limit ?? 'unlimited'}${extra ? ` (${extra})` : ''}`
  if (limit === undefined) dd.textContent = String(used)
  if (limit !== null && limit !== undefined) {
    const meter = document.createElement('meter')
    meter.min = 0
    meter.max = limit
    meter.value = Math.min(used, limit)
    meter.high = limit * 0.8
    meter.setAttribute('aria-label', `${label}: ${used} of ${limit}`)
    dd.append(' ', meter)
  }
  return [dt, dd]
}

async function loadTenant() {
  const tenant = await api('GET', '/v1/tenant')
  state.session.tenant = { ...state.session.tenant, name: tenant.name, slug: tenant.slug }
  $('#plan-name').textContent = tenant.plan
  $('#plan-change').elements.plan.value = tenant.plan
  const u = tenant.usage
  $('#usage').replaceChildren(
    ...usageRow(
      'Members',
      u.members.used,
      u.members.limit,
      `${plural(u.members.pendingInvitations, 'invitation')} pending`,
    ),
    ...usageRow('Items', u.items.used, u.items.limit),
    ...usageRow('Requests this minute', u.requestsPerMinute.used, u.requestsPerMinute.limit),
    ...usageRow('Largest item payload', `${Math.round(u.itemPayloadBytes.limit / 1024)} KiB`),
  )
}

/** Several events in a burst cost one reload of what they change. */
const debounced = (load) => {
  let timer = null
  return () => {
    clearTimeout(timer)
    timer = setTimeout(() => load().catch(() => {}), 300)
  }
}
const soon = {
  members: debounced(() => loadMembers()),
  invitations: debounced(() => loadInvitations()),
  tenant: debounced(() => loadTenant()),
}

// ---- state -----------------------------------------------------------------------------------

/** Members, items, tenant and invitations over REST: the state, not the events. */
async function loadState() {
  const [, items] = await Promise.all([
    loadMembers(),
    api('GET', '/v1/items?limit=100'),
    loadTenant(),
    loadInvitations(),
  ])
  state.items = new Map(items.data.map((item) => [item.id, { id: item.id, name: item.name }]))
  show($('#items-more'), items.nextCursor !== null)
  renderItems()
}

/** A fresh start: the newest events over REST, and enough of the last hour for the chart. */
async function loadHistory() {
  const rows = []
  let cursor = null
  for (let i = 0; i < HISTORY_PAGES; i++) {
    const page = await api('GET', `/v1/activities?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)
    rows.push(...page.data)
    cursor = page.nextCursor
    const oldest = page.data.at(-1)
    if (!cursor || !oldest || Date.parse(oldest.createdAt) < chart.oldestMinuteMs()) break
  }
  chart.reset()
  for (const activity of rows) chart.add(activity, describe(activity, state.names).family)
  renderFeed(rows.slice(0, 100).reverse())
  return rows[0]?.id ?? null
}

function applyRole() {
  const role = state.session.role
  for (const element of document.querySelectorAll('[data-min-role]')) {
    show(element, atLeast(role, element.dataset.minRole))
  }
  const invite = $('#invite').elements.role
  invite.replaceChildren(...grantable(role).map((r) => new Option(r, r, false, r === 'member')))
}

// ---- realtime --------------------------------------------------------------------------------

function connectSocket() {
  disconnectSocket()
  setConnection('connecting')
  state.refusals = 0
  // The callback form of auth: every reconnect sends the current token and the last event seen.
  const socket = window.io({
    path: '/socket.io',
    auth: (send) => send({ token: state.session?.accessToken, lastEventId: state.lastEventId }),
  })
  state.socket = socket
  socket.on('connect', () => {
    setConnection('catching up')
    state.awayPending = state.resumed
  })
  socket.on('live', (info) => {
    state.refusals = 0
    if (state.lastEventId === null && typeof info?.lastEventId === 'number') state.lastEventId = info.lastEventId
    state.resumed = false
    state.awayPending = false
    setConnection('live')
    storeFeed()
  })
  socket.on('disconnect', (reason) => {
    state.resumed = true
    // The server ends a connection only when access is gone ('revoked' explains it).
    setConnection(reason === 'io server disconnect' ? 'offline' : 'reconnecting')
  })
  socket.on('connect_error', (error) => {
    setConnection('reconnecting')
    const problem = error?.data
    if (problem?.type === '/problems/invalid-token' && state.session) {
      socket.disconnect()
      refreshSession().then(connectSocket, () => lostAccess(problem))
    } else if (problem?.status === 401 || problem?.status === 403) {
      socket.disconnect()
      lostAccess(problem)
    } else if (!socket.active) {
      // Refused for now (429: the instance or the tenant is busy; 503): socket.io-client retries
      // a lost connection by itself, never a refusal, so the page tries again, backing off.
      const delay = Math.min(30_000, 1000 * 2 ** state.refusals) * (0.5 + Math.random())
      state.refusals++
      setTimeout(() => {
        if (state.socket === socket) socket.connect()
      }, delay)
    }
  })
  socket.on('resync_required', () => {
    // Too far behind for a replay: reload the state and the feed over REST; `live` names the
    // new cursor. Live events that arrive meanwhile are kept and shown again after the reload.
    state.resyncing = []
    state.lastEventId = null
    state.awayPending = false
    Promise.all([loadState(), loadHistory()])
      .then(() => {
        for (const activity of state.resyncing ?? []) {
          if (addToFeed(activity)) chart.add(activity, describe(activity, state.names).family)
        }
      })
      .catch(report)
      .finally(() => {
        state.resyncing = null
        storeFeed()
      })
  })
  socket.on('revoked', (problem) => {
    if (problem?.type === '/problems/invalid-token') {
      refreshSession().then(connectSocket, () => lostAccess(problem))
      return
    }
    lostAccess(problem)
  })
  for (const type of ACTIVITY_TYPES) socket.on(type, onActivity)
}

function disconnectSocket() {
  state.socket?.removeAllListeners()
  state.socket?.disconnect()
  state.socket = null
}

function onActivity(activity) {
  state.lastEventId = activity.id
  state.resyncing?.push(activity)
  if (state.seen.has(activity.id)) return
  if (state.awayPending) {
    markAway()
    state.awayPending = false
  }
  const { family } = describe(activity, state.names)
  addToFeed(activity)
  if (state.away && $('#connection').classList.contains('catching-up')) countAway()
  chart.add(activity, family)
  storeFeed()
  const self = state.session.user.id
  switch (activity.type) {
    case 'ITEM_CREATED':
    case 'ITEM_UPDATED':
      upsertItem({ id: activity.target, name: String(activity.payload?.name ?? '') })
      soon.tenant()
      break
    case 'ITEM_DELETED':
      removeItem(activity.target)
      soon.tenant()
      break
    case 'ROLE_CHANGED':
      if (activity.target === self) {
        state.session.role = activity.payload?.to ?? state.session.role
        renderSession()
        applyRole()
        renderItems()
        soon.invitations()
      }
      soon.members()
      break
    case 'USER_JOINED':
    case 'USER_REMOVED':
      if (!(activity.type === 'USER_REMOVED' && activity.target === self)) soon.members()
      soon.tenant()
      break
    case 'INVITATION_CREATED':
    case 'INVITATION_REVOKED':
      soon.invitations()
      soon.tenant()
      break
    case 'PLAN_UPGRADED':
    case 'PLAN_DOWNGRADED':
    case 'TENANT_UPDATED':
      soon.tenant()
      break
  }
}

/** Access to the tenant is gone (removed, suspended, session revoked): this page signs out. */
function lostAccess(problem) {
  endLocally()
  notice(`You are signed out of this tenant: ${problem?.detail ?? 'access was revoked'}`)
}

// ---- session ---------------------------------------------------------------------------------

function scheduleRefresh() {
  clearTimeout(state.refreshTimer)
  const seconds = Math.max(5, (state.session.expiresIn ?? 900) * 0.8)
  state.refreshTimer = setTimeout(async () => {
    try {
      await refreshSession()
      // Tell the live socket before its token expires, so it is not disconnected.
      state.socket?.emit('auth', { token: state.session.accessToken }, () => {})
    } catch (error) {
      lostAccess(error.problem)
    }
  }, seconds * 1000)
}

let refreshing = null
/** One refresh at a time: two callers share it, so a token is never presented twice. */
function refreshSession() {
  refreshing ??= (async () => {
    try {
      const next = await request('POST', '/v1/auth/refresh', { refreshToken: state.session.refreshToken })
      state.session = { ...state.session, ...next }
      storeSession()
      scheduleRefresh()
    } finally {
      refreshing = null
    }
  })()
  return refreshing
}

/** Signed in (login, switch or a resumed tab): load the state, then go live over the socket. */
async function startSession(session, { resume = false, chain = newChain() } = {}) {
  state.feedReady = false
  if (!session.tenant) {
    // A tenantless session (no membership left): nothing to show here.
    await request('POST', '/v1/auth/logout', undefined, session.accessToken).catch(() => {})
    endLocally()
    notice('You belong to no tenant: accept an invitation or create a tenant first.')
    return
  }
  state.session = { ...session, chain }
  storeSession()
  scheduleRefresh()
  state.names = new Map([[session.user.id, session.user.name]])
  const saved = resume ? storedFeed() : null
  if (saved) for (const [id, name] of saved.names ?? []) state.names.set(id, name)
  renderSession()
  applyRole()
  show($('#sign-in'), false)
  show($('#booting'), false)
  show($('#workspace'), true)
  // All in parallel: the session answer already names the user, tenant and role; /v1/me adds
  // the other tenants for the switch.
  const history = saved ? null : loadHistory()
  const me = api('GET', '/v1/me').then((me) => {
    state.session.memberships = me.memberships
    renderSession()
  })
  await Promise.all([loadState(), history, me])
  if (saved) {
    // A reload: what was shown comes back from this tab's storage; what was missed comes
    // back over the socket, replayed after saved.lastEventId.
    chart.reset(saved.buckets)
    renderFeed(saved.feed ?? [])
    state.lastEventId = saved.lastEventId ?? null
    state.resumed = state.lastEventId !== null
  } else {
    state.lastEventId = await history
    state.resumed = false
  }
  state.feedReady = true
  storeFeed()
  connectSocket()
}

function renderSession() {
  const { user, tenant, role, memberships = [] } = state.session
  $('#who').textContent = `${user.name} · ${role}`
  const select = $('#tenant-switch')
  select.replaceChildren(
    ...memberships.map(
      (m) => new Option(`${m.tenant.name} (${m.role})`, m.tenant.slug, false, m.tenant.slug === tenant.slug),
    ),
  )
  show($('#session'), true)
}

/** Forgets the session in this page (the server side is the caller's business). */
function endLocally() {
  disconnectSocket()
  clearTimeout(state.refreshTimer)
  state.feedReady = false
  forgetEverything()
  state.session = null
  state.lastEventId = null
  state.feed = []
  state.seen.clear()
  state.items.clear()
  for (const list of ['#feed', '#items', '#members', '#invitations', '#usage']) $(list).replaceChildren()
  show($('#session'), false)
  show($('#workspace'), false)
  show($('#booting'), false)
  show($('#sign-in'), true)
  setConnection('offline')
}

async function signOut() {
  const session = state.session
  endLocally()
  if (!session) return
  try {
    // Ends the session on the server: its refresh token and access token stop working.
    await request('POST', '/v1/auth/logout', undefined, session.accessToken)
    notice('Signed out.')
  } catch (error) {
    notice(`Signed out here, but the server did not confirm it: ${error.message}`)
  }
  $('#sign-in').elements.email.focus()
}

/** A reload: the stored refresh token, if any, brings the session back. */
async function resume() {
  const stored = storedSession()
  if (!stored?.refreshToken) {
    show($('#sign-in'), true)
    return
  }
  show($('#booting'), true)
  try {
    const next = await request('POST', '/v1/auth/refresh', { refreshToken: stored.refreshToken })
    await startSession(next, { resume: true, chain: stored.chain ?? newChain() })
  } catch (error) {
    endLocally()
    if (error instanceof ApiError) notice(`Please sign in again: ${error.message}`)
    else report(error)
  }
}

// ---- wiring ----------------------------------------------------------------------------------

$('#sign-in').addEventListener('submit', (event) => {
  event.preventDefault()
  const form = new FormData(event.target)
  const body = { email: form.get('email'), password: form.get('password') }
  if (form.get('tenant')) body.tenant = form.get('tenant')
  act(async () => {
    forgetEverything()
    await startSession(await request('POST', '/v1/auth/login', body))
    event.target.reset()
  })
})

$('#tenant-switch').addEventListener('change', (event) =>
  act(async () => {
    const previous = state.session
    const next = await api('POST', '/v1/auth/switch', { tenant: event.target.value })
    disconnectSocket()
    forgetEverything()
    // The switch opened a new session; the old one is ended rather than left to expire.
    request('POST', '/v1/auth/logout', undefined, previous.accessToken).catch(() => {})
    await startSession(next)
  }),
)

$('#broadcast').addEventListener('submit', (event) => {
  event.preventDefault()
  const input = event.target.elements.message
  act(async () => {
    await api('POST', '/v1/tenant/broadcasts', { message: input.value })
    input.value = ''
  })
})

$('#item-create').addEventListener('submit', (event) => {
  event.preventDefault()
  const input = event.target.elements.name
  act(async () => {
    const item = await api('POST', '/v1/items', { name: input.value })
    upsertItem({ id: item.id, name: item.name })
    input.value = ''
  })
})

$('#invite').addEventListener('submit', (event) => {
  event.preventDefault()
  const form = event.target
  act(async () => {
    await api('POST', '/v1/invitations', { email: form.elements.email.value, role: form.elements.role.value })
    form.elements.email.value = ''
    await loadInvitations()
  })
})

$('#plan-change').addEventListener('submit', (event) => {
  event.preventDefault()
  act(async () => {
    await api('PUT', '/v1/tenant/plan', { plan: event.target.elements.plan.value })
    await loadTenant()
  })
})

$('#sign-out').addEventListener('click', () => act(signOut))

// The chart legend's swatches take their colours from the catalog, not from inline styles.
for (const [family, { color }] of Object.entries(FAMILIES)) {
  document.documentElement.style.setProperty(`--family-${family}`, color)
}

resume()
