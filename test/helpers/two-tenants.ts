import type { Test } from 'tap'
import type { Role } from '../../src/roles.ts'
import { buildTestApp, call, factoriesOf, PASSWORD, type Session } from './app.ts'
import { invitationToken } from './mail.ts'
import { snapshot } from './snapshot.ts'

export type Method = 'GET' | 'HEAD' | 'POST' | 'PATCH' | 'PUT' | 'DELETE'
// biome-ignore lint/suspicious/noExplicitAny: response bodies, checked by shape
export type Json = any
export type Crew = Record<Role, Session>

export const ROLES_DOWN: Role[] = ['owner', 'admin', 'member', 'viewer']
export const SECRET_NAMES = ['password_hash', 'token_hash', 'passwordHash', 'tokenHash']
/** Where the contract puts tokens: token pairs from auth and accept; the invitation token only in mail. */
export const TOKEN_KEYS: Record<string, string[]> = {
  token: [],
  key: ['POST /v1/api-keys'],
  accessToken: [
    'POST /v1/auth/register',
    'POST /v1/auth/login',
    'POST /v1/auth/refresh',
    'POST /v1/auth/switch',
    'POST /v1/invitations/accept',
  ],
  refreshToken: [
    'POST /v1/auth/register',
    'POST /v1/auth/login',
    'POST /v1/auth/refresh',
    'POST /v1/auth/switch',
    'POST /v1/invitations/accept',
  ],
}

/** A problem without `instance`, which echoes the path (and so the id) back. */
export const problem = (body: Json) => {
  const { instance: _instance, ...rest } = body ?? {}
  return rest
}

/** Every string and number anywhere in a JSON value. */
export function leaves(value: unknown, into: (string | number)[] = []): (string | number)[] {
  if (typeof value === 'string' || typeof value === 'number') into.push(value)
  else if (Array.isArray(value)) for (const entry of value) leaves(entry, into)
  else if (value && typeof value === 'object') for (const entry of Object.values(value)) leaves(entry, into)
  return into
}

/** Every key anywhere in a JSON value, with its path. */
export function keyPaths(value: unknown, path = '$', into: { key: string; path: string }[] = []) {
  if (Array.isArray(value)) {
    for (const [i, entry] of value.entries()) keyPaths(entry, `${path}[${i}]`, into)
  } else if (value && typeof value === 'object') {
    for (const [key, entry] of Object.entries(value)) {
      into.push({ key, path: `${path}.${key}` })
      keyPaths(entry, `${path}.${key}`, into)
    }
  }
  return into
}

export async function twoTenants(t: Test) {
  const { app } = await buildTestApp(t)

  // Every response this app sends, for the secrets scan at the end.
  const responses: { route: string; status: number; contentType: string; body: string }[] = []
  app.addHook('onSend', async (request, reply, payload) => {
    responses.push({
      route: `${request.method} ${request.routeOptions.url ?? request.url}`,
      status: reply.statusCode,
      contentType: String(reply.getHeader('content-type') ?? ''),
      body: typeof payload === 'string' ? payload : Buffer.isBuffer(payload) ? payload.toString('utf8') : '',
    })
    return payload
  })
  const send = (session: Pick<Session, 'accessToken'> | null, method: Method, url: string, payload?: unknown) =>
    call(app, session, method, url, payload)

  const f = factoriesOf(app)
  const crew = async (slug: string): Promise<Crew> => {
    // Through the real register flow (the secrets scan below also reads its response).
    const registered = await send(null, 'POST', '/v1/auth/register', {
      email: `${slug}-owner@example.com`,
      password: PASSWORD,
      name: `Owner of ${slug}`,
      tenant: { name: slug, slug },
    })
    if (registered.statusCode !== 201) throw new Error(`register: ${registered.statusCode} ${registered.body}`)
    const owner: Session = registered.json()
    const plan = await send(owner, 'PUT', '/v1/tenant/plan', { plan: 'pro' })
    if (plan.statusCode !== 200) throw new Error(`plan: ${plan.statusCode} ${plan.body}`)
    const [admin, member, viewer] = await Promise.all([
      f.member(owner.tenant, 'admin', `${slug}-admin`),
      f.member(owner.tenant, 'member', `${slug}-member`),
      f.member(owner.tenant, 'viewer', `${slug}-viewer`),
    ])
    return { owner, admin: admin!, member: member!, viewer: viewer! }
  }
  const [A, B] = await Promise.all([crew('bola-a'), crew('bola-b')])

  // Rows in every resource, created through the API by the roles that may.
  const createItem = async (as: Session, name: string, payload: Record<string, unknown>): Promise<string> => {
    const res = await send(as, 'POST', '/v1/items', { name, payload })
    if (res.statusCode !== 201) throw new Error(`item: ${res.statusCode} ${res.body}`)
    return res.json().id
  }
  const invite = async (as: Session, email: string, role: Role = 'member'): Promise<{ id: string; token: string }> => {
    const res = await send(as, 'POST', '/v1/invitations', { email, role })
    if (res.statusCode !== 201) throw new Error(`invitation: ${res.statusCode} ${res.body}`)
    const { id } = res.json()
    return { id, token: await invitationToken(app, id) }
  }
  const aItems = [
    await createItem(A.member, 'a first', { owner: 'a' }),
    await createItem(A.member, 'a second', { owner: 'a' }),
  ]
  const bItems = [
    await createItem(B.member, 'b secret plans', { secret: 'b1' }),
    await createItem(B.member, 'b roadmap', { secret: 'b2' }),
  ]
  const aInvitation = await invite(A.admin, 'a-invitee@example.com')
  const bInvitations = [
    await invite(B.admin, 'b-invitee@example.com'),
    await invite(B.admin, 'b-second@example.com', 'viewer'),
  ]
  const createKey = async (as: Session, name: string): Promise<{ id: string; key: string }> => {
    const res = await send(as, 'POST', '/v1/api-keys', { name, role: 'admin' })
    if (res.statusCode !== 201) throw new Error(`API key: ${res.statusCode} ${res.body}`)
    return res.json()
  }
  const aApiKey = await createKey(A.admin, 'a machine')
  const bApiKeys = [await createKey(B.admin, 'b machine'), await createKey(B.owner, 'b deploys')]
  // Webhook endpoints (no worker runs in these files: nothing is ever sent) and a logged delivery of B's.
  const createWebhook = async (as: Session, url: string): Promise<{ id: string }> => {
    const res = await send(as, 'POST', '/v1/webhooks', { url, events: ['ITEM_CREATED'] })
    if (res.statusCode !== 201) throw new Error(`webhook: ${res.statusCode} ${res.body}`)
    return res.json()
  }
  const aWebhook = await createWebhook(A.admin, 'https://hooks.example.com/a')
  const bWebhooks = [await createWebhook(B.admin, 'https://hooks.example.com/b')]
  const bDeliveries = (
    await f.root.query<{ id: string }>(
      `insert into app_public.webhook_deliveries (tenant_id, endpoint_id, activity_id, event_type, status, attempts)
       values ($1, $2, 1, 'USER_JOINED', 'delivered', 1) returning id`,
      [B.owner.tenant.id, bWebhooks[0]!.id],
    )
  ).rows.map((row) => ({ id: row.id, endpointId: bWebhooks[0]!.id }))
  await send(A.admin, 'POST', '/v1/tenant/broadcasts', { message: 'hello A' })
  await send(B.admin, 'POST', '/v1/tenant/broadcasts', { message: 'hello B, confidential' })

  // Someone in both tenants: a member of A who is also a member of B.
  const both = await f.member(A.owner.tenant, 'member', 'bola-both')
  await f.join(both.user, B.owner.tenant, 'member')
  const bothInB = await f.signIn(both.user, B.owner.tenant)

  const bOnlyUsers = ROLES_DOWN.map((role) => B[role].user)
  // Activity ids are numbered per tenant: A has its own activity 1, 2, 3… B's log is made
  // longer than A's, and the probes use B's ids that exist nowhere in A.
  for (let i = 0; i < 5; i++) await send(B.admin, 'POST', '/v1/tenant/broadcasts', { message: `B only ${i}` })
  const aLastActivityId = (await send(A.owner, 'GET', '/v1/activities?limit=1')).json().data[0].id as number
  const bActivityIds = (await send(B.owner, 'GET', '/v1/activities?limit=100'))
    .json()
    .data.map((a: Json) => a.id as number)
    .filter((id: number) => id > aLastActivityId)
  /** Tenant B as its owner sees it through the API. */
  // B's own reads count against B's request rate: that part of its usage moves by design.
  const tenantOf = async () => {
    const { usage, ...tenant } = (await send(B.owner, 'GET', '/v1/tenant')).json()
    const { requestsPerMinute: _ownReads, ...quotas } = usage
    return { ...tenant, usage: quotas }
  }
  const viewOfB = async () => ({
    tenant: await tenantOf(),
    items: await Promise.all(bItems.map(async (id) => (await send(B.owner, 'GET', `/v1/items/${id}`)).json())),
    members: (await send(B.owner, 'GET', '/v1/members?limit=100')).json().data,
    invitations: (await send(B.owner, 'GET', '/v1/invitations?limit=100')).json().data,
    activities: (await send(B.owner, 'GET', '/v1/activities?limit=100')).json().data,
  })
  const bBefore = await viewOfB()
  const bRowsBefore = await snapshot(f.root, B.owner.tenant.id)
  t.equal(bBefore.items.length, 2, "tenant B's owner reads B's items")
  t.equal(bBefore.invitations.length, 2, "tenant B's owner sees B's two pending invitations")
  t.equal(bBefore.members.length, 5, "tenant B's owner sees B's five members")
  return {
    app,
    f,
    send,
    responses,
    A,
    B,
    aItems,
    bItems,
    aInvitation,
    bInvitations,
    aApiKey,
    bApiKeys,
    aWebhook,
    bWebhooks,
    bDeliveries,
    both,
    bothInB,
    bOnlyUsers,
    bActivityIds,
    invite,
    viewOfB,
    bBefore,
    bRowsBefore,
  }
}

export type TwoTenants = Awaited<ReturnType<typeof twoTenants>>

/** The closing checks of every BOLA file: B unchanged, and no secret in any response. */
export function bIsUntouched(t: Test, ctx: TwoTenants, tokensSeen: string[]) {
  const { f, B, viewOfB, bBefore, bRowsBefore, responses } = ctx
  t.test("after every attempt in this file, tenant B's data is unchanged", async (t) => {
    const bAfter = await viewOfB()
    t.same(bAfter.items, bBefore.items, "B's items keep their name, payload and updatedAt")
    t.same(bAfter.members, bBefore.members, "B's members keep their roles, and none is missing")
    t.same(bAfter.invitations, bBefore.invitations, "B's invitations are still pending")
    t.same(bAfter.activities, bBefore.activities, 'no new activity in B')
    t.same(bAfter.tenant, bBefore.tenant, "B's tenant is unchanged")
    t.same(
      await snapshot(f.root, B.owner.tenant.id),
      bRowsBefore,
      'every row of tenant B, read as the superuser, is unchanged',
    )
  })

  t.test(
    'no response in this file carries a password or token hash; tokens appear only where the contract puts them',
    async (t) => {
      t.ok(responses.length > 30, `${responses.length} responses scanned`)
      const leaks: string[] = []
      const seen = new Set<string>()
      for (const { route, status, contentType, body } of responses) {
        for (const name of SECRET_NAMES) if (body.includes(name)) leaks.push(`${route} ${status}: mentions ${name}`)
        if (/\$2[aby]\$\d\d\$/.test(body)) leaks.push(`${route} ${status}: carries a bcrypt hash`)
        if (!contentType.includes('json') || body === '') continue
        for (const { key, path } of keyPaths(JSON.parse(body))) {
          const allowed = TOKEN_KEYS[key]
          if (!allowed) continue
          if (allowed.includes(route) && path === `$.${key}`) seen.add(`${route} ${key}`)
          else leaks.push(`${route} ${status}: ${path}`)
        }
      }
      t.same(leaks, [], 'no secret and no misplaced token in any response')
      for (const expected of tokensSeen) {
        t.ok(seen.has(expected), `the scan saw ${expected} (where it belongs)`)
      }
    },
  )
}
