// The pages a mailed link opens. The token is in the link's fragment (#token=…), which the
// browser never sends to a server; the page POSTs it only when the person submits the form, so
// a mail scanner that fetches the link consumes nothing. The fragment is then dropped from the
// address bar and history.

const page = document.body.dataset.page
const token = new URLSearchParams(location.hash.slice(1)).get('token')
if (token) history.replaceState(null, '', location.pathname)

const result = document.getElementById('result')
const say = (text, isError = false) => {
  result.textContent = text
  result.classList.toggle('error', isError)
  result.hidden = false
}

async function post(path, body) {
  const response = await fetch(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
  const json = response.status === 204 ? null : await response.json().catch(() => null)
  return { status: response.status, json }
}

const problem = (json, fallback) => json?.detail || json?.title || fallback

function bind(id, handler) {
  const form = document.getElementById(id)
  form.hidden = false
  form.addEventListener('submit', async (event) => {
    event.preventDefault()
    const button = form.querySelector('button')
    button.disabled = true
    try {
      await handler(Object.fromEntries(new FormData(form)), form)
    } catch {
      say('The server could not be reached; try again.', true)
    } finally {
      button.disabled = false
    }
  })
}

if (page === 'reset' && !token) {
  bind('forgot', async ({ email }, form) => {
    const { json } = await post('/v1/auth/password/forgot', { email })
    say(json?.message || 'If the address has an account, a reset link is on its way.')
    form.hidden = true
  })
} else if (page === 'reset') {
  bind('reset', async ({ password }, form) => {
    const { status, json } = await post('/v1/auth/password/reset', { token, password })
    if (status === 204) {
      form.hidden = true
      say('Your password is set, and every device was signed out. Sign in with the new password.')
    } else say(problem(json, 'The password could not be set.'), true)
  })
} else if (!token) {
  say('This page opens from a link in a mail; this address has no token in it.', true)
} else if (page === 'confirm') {
  bind('confirm', async (_fields, form) => {
    const { status, json } = await post('/v1/auth/email/confirm', { token })
    if (status === 204) {
      form.hidden = true
      say('Done. You can close this page.')
    } else say(problem(json, 'The link could not be used.'), true)
  })
} else if (page === 'accept') {
  bind('accept', async ({ name, password }, form) => {
    const body = { token, password, ...(name ? { name } : {}) }
    const { status, json } = await post('/v1/invitations/accept', body)
    if (status === 200) {
      form.hidden = true
      say(`Signed in as ${json.user.email} to ${json.tenant.name}.`)
    } else say(problem(json, 'The invitation could not be accepted.'), true)
  })
}
