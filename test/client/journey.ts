/*
 * A client developer's first afternoon, written against openapi-fetch and the types that
 * openapi-typescript generated from the served /docs/json (./openapi.d.ts exists only inside
 * test/http/client.test.ts's scratch folder, which is why the root tsconfig leaves this folder out).
 * The test type-checks this file with tsc, then runs it against the live server: the document,
 * the types and the server cannot drift apart.
 */
import createClient from 'openapi-fetch'
import type { components, paths } from './openapi.d.ts'

type Problem = components['schemas']['Problem']
type ProblemType = Problem['type']

// @ts-expect-error Problem types are an enum in the document: a typo does not compile.
const misspelt: ProblemType = '/problems/not-fuond'
void misspelt

/** What a UI would say for each problem; exhaustive, so a new problem type breaks the build. */
export function explain(problem: Problem): string {
  const type = problem.type
  switch (type) {
    case '/problems/validation-failed':
      return `check ${problem.errors?.map((error) => error.path).join(', ') ?? 'the form'}`
    case '/problems/unauthorized':
    case '/problems/invalid-token':
    case '/problems/token-reused':
      return 'sign in again'
    case '/problems/forbidden':
    case '/problems/tenant-suspended':
      return 'not allowed'
    case '/problems/plan-limit-exceeded':
      return 'upgrade your plan'
    case '/problems/not-found':
      return 'gone'
    case '/problems/method-not-allowed':
    case '/problems/unsupported-media-type':
    case '/problems/payload-too-large':
      return 'a bug in this client'
    case '/problems/conflict':
    case '/problems/precondition-failed':
      return 'someone else changed it: reload'
    case '/problems/last-owner':
      return 'name another owner first'
    case '/problems/email-unverified':
      return 'open the link we mailed you'
    case '/problems/token-expired':
      return 'ask for a new link'
    case '/problems/rate-limited':
    case '/problems/unavailable':
    case '/problems/internal':
      return 'try again later'
    default: {
      const unhandled: never = type
      return unhandled
    }
  }
}

function expect(condition: unknown, what: string): asserts condition {
  if (!condition) throw new Error(`journey: expected ${what}`)
}

export type JourneyReport = { steps: string[] }

/**
 * `mailedInvitation`: what the invitee finds in their mailbox for an invitation (its token); the
 * inviter's API never shows it.
 */
export async function journey(
  baseUrl: string,
  runId: string,
  mailedInvitation: (invitationId: string) => Promise<string>,
): Promise<JourneyReport> {
  const steps: string[] = []
  const step = (line: string) => steps.push(line)
  const anonymous = createClient<paths>({ baseUrl })
  const as = (token: string) => createClient<paths>({ baseUrl, headers: { authorization: `Bearer ${token}` } })
  const password = 'correct horse battery'

  // Register: a 201 with the session and a Location.
  const registered = await anonymous.POST('/v1/auth/register', {
    body: { email: `ann-${runId}@example.com`, password, name: 'Ann', tenant: { name: 'Acme', slug: `acme-${runId}` } },
  })
  expect(registered.data && 'accessToken' in registered.data, `register to sign in, got ${registered.response.status}`)
  expect(registered.response.status === 201, 'register: 201')
  expect(registered.response.headers.get('location') === '/v1/me', 'register: Location /v1/me')
  const owner = as(registered.data.accessToken)
  step(`registered ${registered.data.user.email} as ${registered.data.role} of ${registered.data.tenant?.slug}`)

  // The same slug again: a conflict, switched on its type.
  const again = await anonymous.POST('/v1/auth/register', {
    body: { email: `bob-${runId}@example.com`, password, name: 'Bob', tenant: { name: 'Acme', slug: `acme-${runId}` } },
  })
  expect(again.error?.type === '/problems/conflict', 'a taken slug: /problems/conflict')
  expect(again.response.headers.get('content-type')?.startsWith('application/problem+json'), 'problem+json')
  step(`a taken slug: ${again.error.status} ${again.error.type} → "${explain(again.error)}"`)

  // Items, then every page through the cursors.
  const created: string[] = []
  for (let i = 0; i < 5; i++) {
    const item = await owner.POST('/v1/items', { body: { name: `item ${i}`, payload: { position: i } } })
    expect(item.data && item.response.headers.get('location') === `/v1/items/${item.data.id}`, 'item Location')
    created.push(item.data.id)
  }
  const listed: string[] = []
  let cursor: string | undefined
  let pages = 0
  do {
    const page = await owner.GET('/v1/items', { params: { query: { limit: 2, ...(cursor ? { cursor } : {}) } } })
    expect(page.data, 'a page of items')
    listed.push(...page.data.data.map((item) => item.id))
    cursor = page.data.nextCursor ?? undefined
    pages++
  } while (cursor)
  expect(pages === 3, `5 items in pages of 2: 3 pages, got ${pages}`)
  expect(JSON.stringify(listed) === JSON.stringify([...created].reverse()), 'newest first, each once')
  step(`5 items listed in ${pages} pages through nextCursor`)

  // Optimistic concurrency: edit with the ETag; a stale one is refused.
  const first = created[0]!
  const read = await owner.GET('/v1/items/{id}', { params: { path: { id: first } } })
  const etag = read.response.headers.get('etag')
  expect(read.data && etag, 'an item with its ETag')
  const edited = await owner.PATCH('/v1/items/{id}', {
    params: { path: { id: first }, header: { 'if-match': etag } },
    body: { name: 'renamed' },
  })
  expect(edited.data?.name === 'renamed', 'the edit with the current ETag applies')
  const stale = await owner.PATCH('/v1/items/{id}', {
    params: { path: { id: first }, header: { 'if-match': etag } },
    body: { name: 'lost update' },
  })
  expect(stale.error?.type === '/problems/precondition-failed', 'a stale ETag: 412')
  step(`a stale If-Match: ${stale.error.status} → "${explain(stale.error)}"`)

  // Invite, accept as a new user, and see each other.
  const invitation = await owner.POST('/v1/invitations', {
    body: { email: `bob-${runId}@example.com`, role: 'member' },
  })
  expect(invitation.data && invitation.response.status === 201, 'an invitation')
  const pending = await owner.GET('/v1/invitations/{id}', { params: { path: { id: invitation.data.id } } })
  expect(pending.data?.email === `bob-${runId}@example.com`, 'its Location resolves')
  const token = await mailedInvitation(invitation.data.id)
  const accepted = await anonymous.POST('/v1/invitations/accept', {
    body: { token, name: 'Bob', password },
  })
  expect(accepted.data?.role === 'member', 'Bob joins as a member')
  const bob = as(accepted.data.accessToken)
  const members = await bob.GET('/v1/members', { params: { query: {} } })
  expect(members.data?.data.length === 2, 'two members')
  step(`invited and accepted: ${members.data.data.map((member) => `${member.name} (${member.role})`).join(', ')}`)

  // The token works once.
  const reused = await anonymous.POST('/v1/invitations/accept', {
    body: { token, name: 'Mallory', password },
  })
  expect(reused.error?.type === '/problems/not-found', 'a used invitation: 404')
  step(`the invitation again: ${reused.error.status} → "${explain(reused.error)}"`)

  // Roles: a member may not delete; the problem says so.
  const refused = await bob.DELETE('/v1/items/{id}', { params: { path: { id: first } } })
  expect(refused.error?.type === '/problems/forbidden' && refused.response.status === 403, 'member delete: 403')
  step(`a member deletes: ${refused.error.status} → "${explain(refused.error)}"`)

  // Validation: field paths to show next to the form.
  const invalid = await owner.POST('/v1/items', { body: { name: '' } })
  expect(invalid.error?.type === '/problems/validation-failed', 'an empty name: 400')
  expect(invalid.error.errors?.[0]?.path === 'body.name', 'the error names body.name')
  step(`an empty name: ${invalid.error.status} → "${explain(invalid.error)}"`)

  // The log, typed per event: switching on `type` narrows the payload, no cast.
  const log = await owner.GET('/v1/activities', { params: { query: { limit: 100 } } })
  expect(log.data, 'the activity log')
  const said = log.data.data.map((activity) => {
    switch (activity.type) {
      case 'ITEM_UPDATED':
        return `item renamed to ${activity.payload.name}`
      case 'USER_JOINED':
        return `${activity.payload.role} joined`
      default:
        return activity.type
    }
  })
  expect(said.includes('item renamed to renamed') && said.includes('member joined'), 'typed payloads')
  step(`the log, read through typed payloads: ${said.length} events, e.g. "${said[0]}"`)

  // A machine client: an API key, shown once, works on tenant routes at its role.
  const apiKey = await owner.POST('/v1/api-keys', { body: { name: 'journey', role: 'viewer' } })
  expect(apiKey.data && apiKey.response.status === 201, 'an API key')
  const machine = as(apiKey.data.key)
  const seen = await machine.GET('/v1/items', { params: { query: {} } })
  expect(seen.data && seen.data.data.length > 0, 'the key reads items')
  const denied = await machine.POST('/v1/items', { body: { name: 'no' } })
  expect(denied.error?.type === '/problems/forbidden', 'a viewer key cannot write')
  step(
    `an API key (${apiKey.data.prefix}, viewer): reads ${seen.data.data.length} items, writes → ${denied.error.status}`,
  )

  // Signing out ends the session; the next call says which header to fix.
  const out = await bob.POST('/v1/auth/logout')
  expect(out.response.status === 204, 'logout: 204')
  const after = await bob.GET('/v1/me')
  expect(after.error?.type === '/problems/unauthorized', 'after logout: 401')
  expect(after.response.headers.get('www-authenticate')?.includes('invalid_token'), 'WWW-Authenticate')
  step(`after logout: ${after.error.status} → "${explain(after.error)}"`)
  return { steps }
}
