// The Tenantry dashboard: plain browser JavaScript, no build step. Everything it shows comes
// from the public API (REST for the initial state, Socket.IO for what changes), so it sees
// exactly what the signed-in member may see. Tokens live in memory only.

const $ = (selector) => document.querySelector(selector)
const FEED_LIMIT = 100
const ACTIVITY_TYPES = [
  'USER_JOINED',
  'USER_REMOVED',
  'ROLE_CHANGED',
  'PLAN_UPGRADED',
  'PLAN_DOWNGRADED',
  'BROADCAST_MESSAGE',
  'INVITATION_CREATED',
  'INVITATION_REVOKED',
  'TENANT_UPDATED',
  'TENANT_SUSPENDED',
  'TENANT_RESUMED',
  'ITEM_CREATED',
  'ITEM_UPDATED',
  'ITEM_DELETED',
]

const state = {
  session: null, // {accessToken, refreshToken, expiresIn, user, tenant, role}
  socket: null,
  lastEventId: null,
  seen: new Set(),
  refreshTimer: null,
}

// ---- API -----------------------------------------------------------------------------------

async function api(method, path, body) {
  const headers = {}
  if (body !== undefined) headers['content-type'] = 'application/json'
  if (state.session) headers.authorization = `Bearer ${state.session.accessToken}`
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
  if (response.status === 204) return null
  const data = await response.json().catch(() => null)
  if (!response.ok) {
    const error = new Error(data?.detail ?? `${method} ${path} failed (${response.status})`)
    error.problem = data
    throw error
  }
  return data
}

// ---- rendering -------------------------------------------------------------------------------

function show(element, visible) {
  element.hidden = !visible
}

function notice(message) {
  $('#notice').textContent = message ?? ''
  show($('#notice'), Boolean(message))
}

function setConnection(label) {
  const badge = $('#connection')
  badge.textContent = label
  badge.className = `state ${label.replace(' ', '-')}`
}

function describe(activity) {
  const p = activity.payload ?? {}
  switch (activity.type) {
    case 'BROADCAST_MESSAGE':
      return String(p.message ?? '')
    case 'ITEM_CREATED':
    case 'ITEM_UPDATED':
      return String(p.name ?? activity.target ?? '')
    case 'ROLE_CHANGED':
      return `${p.from ?? '?'} → ${p.to ?? '?'}`
    case 'PLAN_UPGRADED':
    case 'PLAN_DOWNGRADED':
      return `${p.from ?? '?'} → ${p.to ?? '?'}`
    case 'TENANT_UPDATED':
      return String(p.name ?? '')
    case 'INVITATION_CREATED':
      return String(p.email ?? '')
    default:
      return activity.target ?? ''
  }
}

function feedEntry(activity) {
  const li = document.createElement('li')
  li.dataset.id = String(activity.id)
  const type = document.createElement('span')
  type.className = 'type'
  type.textContent = activity.type
  const text = document.createElement('span')
  text.className = 'text'
  text.textContent = describe(activity)
  const time = document.createElement('time')
  time.dateTime = activity.createdAt
  time.textContent = new Date(activity.createdAt).toLocaleTimeString()
  li.append(type, text, time)
  return li
}

function addToFeed(activity, { prepend }) {
  if (state.seen.has(activity.id)) return
  state.seen.add(activity.id)
  const feed = $('#feed')
  if (prepend) feed.prepend(feedEntry(activity))
  else feed.append(feedEntry(activity))
  while (feed.children.length > FEED_LIMIT) feed.lastElementChild.remove()
}

function renderMembers(members) {
  const list = $('#members')
  list.replaceChildren(
    ...members.map((member) => {
      const li = document.createElement('li')
      li.dataset.userId = member.userId
      li.textContent = member.name
      const role = document.createElement('span')
      role.className = 'role'
      role.textContent = member.role
      li.append(role)
      return li
    }),
  )
}

function itemEntry(item) {
  const li = document.createElement('li')
  li.dataset.itemId = item.id
  li.textContent = item.name
  return li
}

function renderItems(items) {
  $('#items').replaceChildren(...items.map(itemEntry))
}

// ---- data ------------------------------------------------------------------------------------

async function loadAll() {
  const [members, items, feed] = await Promise.all([
    api('GET', '/v1/members?limit=100'),
    api('GET', '/v1/items?limit=100'),
    api('GET', `/v1/activities?limit=50`),
  ])
  renderMembers(members.data)
  renderItems(items.data)
  state.seen.clear()
  $('#feed').replaceChildren()
  for (const activity of feed.data) addToFeed(activity, { prepend: false })
  // Replay starts after the newest event shown; duplicates are dropped by id.
  if (state.lastEventId === null && feed.data.length > 0) state.lastEventId = feed.data[0].id
}

async function refreshMembers() {
  renderMembers((await api('GET', '/v1/members?limit=100')).data)
}

async function onItemEvent(activity) {
  const existing = document.querySelector(`#items li[data-item-id="${CSS.escape(activity.target ?? '')}"]`)
  if (activity.type === 'ITEM_DELETED') {
    existing?.remove()
    return
  }
  try {
    const item = await api('GET', `/v1/items/${encodeURIComponent(activity.target)}`)
    const entry = itemEntry(item)
    if (existing) existing.replaceWith(entry)
    else $('#items').prepend(entry)
  } catch {
    existing?.remove() // deleted since
  }
}

// ---- realtime --------------------------------------------------------------------------------

function connectSocket() {
  disconnectSocket()
  setConnection('catching up')
  // The callback form of auth: every reconnect sends the current token and the last event seen.
  const socket = window.io({
    path: '/socket.io',
    auth: (send) => send({ token: state.session?.accessToken, lastEventId: state.lastEventId }),
  })
  state.socket = socket
  socket.on('connect', () => setConnection('catching up'))
  socket.on('live', () => setConnection('live'))
  socket.on('disconnect', (reason) => {
    // The server ends a connection only when access is gone ('revoked' explains it).
    setConnection(reason === 'io server disconnect' ? 'offline' : 'reconnecting')
  })
  socket.on('connect_error', (error) => {
    setConnection('reconnecting')
    if (error?.data?.status === 401 || error?.data?.status === 403) {
      socket.disconnect()
      lostAccess(error.data)
    }
  })
  socket.on('resync_required', () => {
    state.lastEventId = null
    loadAll().catch((error) => notice(error.message))
  })
  socket.on('revoked', (problem) => {
    if (problem?.type === '/problems/invalid-token') {
      refreshSession().then(connectSocket, () => lostAccess(problem))
      return
    }
    lostAccess(problem)
  })
  for (const type of ACTIVITY_TYPES) {
    socket.on(type, (activity) => onActivity(activity))
  }
}

function disconnectSocket() {
  state.socket?.removeAllListeners()
  state.socket?.disconnect()
  state.socket = null
}

function onActivity(activity) {
  state.lastEventId = activity.id
  addToFeed(activity, { prepend: true })
  if (activity.type.startsWith('ITEM_')) onItemEvent(activity).catch(() => {})
  if (['USER_JOINED', 'USER_REMOVED', 'ROLE_CHANGED'].includes(activity.type)) {
    if (activity.target === state.session?.user.id && activity.type === 'ROLE_CHANGED') {
      state.session.role = activity.payload?.to ?? state.session.role
      renderSession()
    }
    if (!(activity.type === 'USER_REMOVED' && activity.target === state.session?.user.id)) {
      refreshMembers().catch(() => {})
    }
  }
}

function lostAccess(problem) {
  disconnectSocket()
  setConnection('offline')
  $('#feed').replaceChildren()
  $('#items').replaceChildren()
  $('#members').replaceChildren()
  show($('#workspace'), false)
  notice(`You no longer have access to this tenant: ${problem?.detail ?? 'access was revoked'}`)
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
      notice(`Your session ended: ${error.message}`)
    }
  }, seconds * 1000)
}

async function refreshSession() {
  const next = await api('POST', '/v1/auth/refresh', { refreshToken: state.session.refreshToken })
  state.session = { ...state.session, ...next }
  scheduleRefresh()
}

async function startSession(session) {
  state.session = session
  state.lastEventId = null
  notice(null)
  scheduleRefresh()
  const me = await api('GET', '/v1/me')
  state.session.memberships = me.memberships
  renderSession()
  show($('#sign-in'), false)
  show($('#workspace'), true)
  await loadAll()
  connectSocket()
}

function renderSession() {
  const { user, tenant, role, memberships = [] } = state.session
  $('#who').textContent = `${user.name} · ${role}`
  const select = $('#tenant-switch')
  select.replaceChildren(
    ...memberships.map((membership) => {
      const option = document.createElement('option')
      option.value = membership.tenant.slug
      option.textContent = membership.tenant.name
      option.selected = membership.tenant.slug === tenant.slug
      return option
    }),
  )
  show($('#broadcast'), role === 'admin' || role === 'owner')
  show($('#session'), true)
}

function signOut() {
  const session = state.session
  disconnectSocket()
  clearTimeout(state.refreshTimer)
  if (session) api('POST', '/v1/auth/logout').catch(() => {})
  state.session = null
  show($('#session'), false)
  show($('#workspace'), false)
  show($('#sign-in'), true)
  setConnection('offline')
}

// ---- wiring ----------------------------------------------------------------------------------

$('#sign-in').addEventListener('submit', async (event) => {
  event.preventDefault()
  const form = new FormData(event.target)
  const body = { email: form.get('email'), password: form.get('password') }
  if (form.get('tenant')) body.tenant = form.get('tenant')
  try {
    await startSession(await api('POST', '/v1/auth/login', body))
  } catch (error) {
    notice(error.message)
  }
})

$('#tenant-switch').addEventListener('change', async (event) => {
  try {
    await startSession(await api('POST', '/v1/auth/switch', { tenant: event.target.value }))
  } catch (error) {
    notice(error.message)
  }
})

$('#broadcast').addEventListener('submit', async (event) => {
  event.preventDefault()
  const input = event.target.elements.message
  try {
    await api('POST', '/v1/tenant/broadcasts', { message: input.value })
    input.value = ''
  } catch (error) {
    notice(error.message)
  }
})

$('#sign-out').addEventListener('click', signOut)
