/*
 * The request tables of the route × role conformance test (test/http/conformance.test.ts): one
 * fresh request per route and role, with the fixtures it needs. A route added to the app without
 * a row here fails that test.
 */
import type { FastifyInstance } from 'fastify'
import type { Role } from '../../src/roles.ts'
import { call, PASSWORD, type Session, uniqueName } from './app.ts'
import type { Factories } from './factories.ts'
import { queuedToken } from './mail.ts'

export type Method = 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE'
// biome-ignore lint/suspicious/noExplicitAny: response bodies, checked by shape below
export type Json = any

export type Request = {
  caller: Pick<Session, 'accessToken'> | null
  url: string
  payload?: unknown
  /** Lists: is the row the fixture guarantees in the answer? RLS hides rows instead of refusing. */
  shows?: (body: Json) => boolean
}

export type Case = {
  /** `METHOD url` exactly as in app.routeCatalog. */
  route: `${Method} /${string}`
  does: string
  /** The status of a successful request. */
  status: number
  /** Set when this fixture's row-level rule is stricter than the route's declared access. */
  rule?: { access: Role; because: string }
  /** Fresh fixtures for one request as a member of `role` (called once per app). */
  prepare: (role: Role) => Promise<Request>
}

export type PublicCase = {
  route: `${Method} /${string}`
  does: string
  status: number
  prepare: () => Promise<Request>
}

export type CaseFixtures = {
  api: FastifyInstance
  f: Factories
  owner: Session
  tenant: Session['tenant']
  caller: (role: Role) => Promise<Session>
  item: () => Promise<{ id: string }>
  invitation: () => Promise<{ id: string; token: string }>
}

export function conformanceCases(fixtures: CaseFixtures): { cases: Case[]; publicCases: PublicCase[] } {
  const { api, f, owner, tenant, caller, item, invitation } = fixtures
  const webhook = async (): Promise<{ id: string }> => {
    const created = await call(api, owner, 'POST', '/v1/webhooks', {
      url: 'https://hooks.example.com/conformance',
      events: ['ITEM_CREATED'],
    })
    if (created.statusCode !== 201) throw new Error(`webhook fixture: ${created.statusCode} ${created.body}`)
    return created.json()
  }
  /** A delivery in the log (written as the worker would: no worker runs here, nothing is sent). */
  const delivery = async (): Promise<{ endpointId: string; id: string }> => {
    const endpoint = await webhook()
    const { rows } = await f.root.query(
      `insert into app_public.webhook_deliveries (tenant_id, endpoint_id, activity_id, event_type, status, attempts)
       values ($1, $2, 1, 'USER_JOINED', 'delivered', 1) returning id`,
      [tenant.id, endpoint.id],
    )
    return { endpointId: endpoint.id, id: rows[0].id }
  }
  const apiKey = async (): Promise<{ id: string }> => {
    const created = await call(api, owner, 'POST', '/v1/api-keys', { name: uniqueName('key'), role: 'viewer' })
    if (created.statusCode !== 201) throw new Error(`API key fixture: ${created.statusCode} ${created.body}`)
    return created.json()
  }
  const cases: Case[] = [
    {
      route: 'POST /v1/auth/logout',
      does: 'end own session',
      status: 204,
      prepare: async (role) => ({ caller: await caller(role), url: '/v1/auth/logout' }),
    },
    {
      route: 'POST /v1/auth/switch',
      does: 'new session in own tenant',
      status: 200,
      prepare: async (role) => ({
        caller: await caller(role),
        url: '/v1/auth/switch',
        payload: { tenant: tenant.slug },
      }),
    },
    {
      route: 'GET /v1/me',
      does: 'read own profile',
      status: 200,
      prepare: async (role) => ({ caller: await caller(role), url: '/v1/me' }),
    },
    {
      route: 'DELETE /v1/me',
      does: 'delete own account',
      status: 204,
      prepare: async (role) => ({ caller: await caller(role), url: '/v1/me', payload: { password: PASSWORD } }),
    },
    {
      route: 'POST /v1/me/email/verification',
      does: 'mail own confirmation link again',
      status: 202,
      prepare: async (role) => ({ caller: await caller(role), url: '/v1/me/email/verification' }),
    },
    {
      route: 'PUT /v1/me/password',
      does: 'change own password',
      status: 204,
      prepare: async (role) => ({
        caller: await caller(role),
        url: '/v1/me/password',
        payload: { currentPassword: PASSWORD, password: 'a brand new passphrase' },
      }),
    },
    {
      route: 'PUT /v1/me/email',
      does: 'ask to change own address',
      status: 202,
      prepare: async (role) => ({
        caller: await caller(role),
        url: '/v1/me/email',
        payload: { email: `${uniqueName('moved')}@example.com`, password: PASSWORD },
      }),
    },
    {
      route: 'POST /v1/tenants',
      does: 'create another tenant',
      status: 201,
      prepare: async (role) => {
        const slug = uniqueName('own')
        return { caller: await caller(role), url: '/v1/tenants', payload: { name: slug, slug } }
      },
    },
    {
      route: 'GET /v1/tenant',
      does: 'read the tenant',
      status: 200,
      prepare: async (role) => ({ caller: await caller(role), url: '/v1/tenant' }),
    },
    {
      route: 'PATCH /v1/tenant',
      does: 'rename the tenant',
      status: 200,
      prepare: async (role) => ({
        caller: await caller(role),
        url: '/v1/tenant',
        payload: { name: uniqueName('Renamed') },
      }),
    },
    {
      // A tenant of its own each time, so every request is a real change (free → pro).
      route: 'PUT /v1/tenant/plan',
      does: 'upgrade free to pro',
      status: 200,
      prepare: async (role) => {
        const own = await f.tenant({ plan: 'free' })
        return {
          caller: role === 'owner' ? own : await f.member(own.tenant, role),
          url: '/v1/tenant/plan',
          payload: { plan: 'pro' },
        }
      },
    },
    {
      route: 'POST /v1/tenant/broadcasts',
      does: 'broadcast a message',
      status: 201,
      prepare: async (role) => ({
        caller: await caller(role),
        url: '/v1/tenant/broadcasts',
        payload: { message: 'hello everyone' },
      }),
    },
    {
      route: 'GET /v1/members',
      does: 'list members',
      status: 200,
      prepare: async (role) => ({
        caller: await caller(role),
        url: '/v1/members?limit=100',
        shows: (body) => body.data.some((m: Json) => m.userId === owner.user.id),
      }),
    },
    {
      route: 'PATCH /v1/members/:userId',
      does: 'demote a plain member to viewer',
      status: 200,
      prepare: async (role) => {
        const target = await f.member(tenant, 'member')
        return { caller: await caller(role), url: `/v1/members/${target.user.id}`, payload: { role: 'viewer' } }
      },
    },
    {
      route: 'PATCH /v1/members/:userId',
      does: 'promote a plain member to owner',
      status: 200,
      rule: { access: 'owner', because: 'only an owner grants owner (policy update_admin on memberships, WITH CHECK)' },
      prepare: async (role) => {
        const target = await f.member(tenant, 'member')
        return { caller: await caller(role), url: `/v1/members/${target.user.id}`, payload: { role: 'owner' } }
      },
    },
    {
      route: 'PATCH /v1/members/:userId',
      does: 'demote another owner to admin',
      status: 200,
      rule: { access: 'owner', because: 'only an owner takes owner away (policy update_admin on memberships, USING)' },
      prepare: async (role) => {
        const target = await f.member(tenant, 'owner')
        return { caller: await caller(role), url: `/v1/members/${target.user.id}`, payload: { role: 'admin' } }
      },
    },
    {
      route: 'DELETE /v1/members/:userId',
      does: 'leave (own membership)',
      status: 204,
      prepare: async (role) => {
        const me = await caller(role)
        return { caller: me, url: `/v1/members/${me.user.id}` }
      },
    },
    {
      route: 'DELETE /v1/members/:userId',
      does: 'remove a plain member',
      status: 204,
      rule: {
        access: 'admin',
        because:
          'declared viewer so anyone can leave; removing someone else takes an admin (policy delete_admin_or_self)',
      },
      prepare: async (role) => {
        const target = await f.member(tenant, 'member')
        return { caller: await caller(role), url: `/v1/members/${target.user.id}` }
      },
    },
    {
      route: 'DELETE /v1/members/:userId',
      does: 'remove another owner',
      status: 204,
      rule: { access: 'owner', because: 'only owners remove owners (policy delete_admin_or_self)' },
      prepare: async (role) => {
        const target = await f.member(tenant, 'owner')
        return { caller: await caller(role), url: `/v1/members/${target.user.id}` }
      },
    },
    {
      route: 'POST /v1/invitations',
      does: 'invite an owner',
      status: 201,
      rule: { access: 'owner', because: 'only an owner invites an owner (policy insert_admin on invitations)' },
      prepare: async (role) => ({
        caller: await caller(role),
        url: '/v1/invitations',
        payload: { email: `${uniqueName('invitee')}@example.com`, role: 'owner' },
      }),
    },
    {
      route: 'POST /v1/invitations',
      does: 'invite a new email',
      status: 201,
      prepare: async (role) => ({
        caller: await caller(role),
        url: '/v1/invitations',
        payload: { email: `${uniqueName('invitee')}@example.com`, role: 'member' },
      }),
    },
    {
      route: 'GET /v1/invitations',
      does: 'list pending invitations',
      status: 200,
      prepare: async (role) => {
        const pending = await invitation()
        return {
          caller: await caller(role),
          url: '/v1/invitations?limit=100',
          shows: (body) => body.data.some((i: Json) => i.id === pending.id),
        }
      },
    },
    {
      route: 'GET /v1/invitations/:id',
      does: 'read a pending invitation',
      status: 200,
      prepare: async (role) => ({ caller: await caller(role), url: `/v1/invitations/${(await invitation()).id}` }),
    },
    {
      route: 'DELETE /v1/invitations/:id',
      does: 'revoke a pending invitation',
      status: 204,
      prepare: async (role) => ({ caller: await caller(role), url: `/v1/invitations/${(await invitation()).id}` }),
    },
    {
      route: 'POST /v1/api-keys',
      does: 'create an API key',
      status: 201,
      prepare: async (role) => ({
        caller: await caller(role),
        url: '/v1/api-keys',
        payload: { name: uniqueName('key'), role: 'member' },
      }),
    },
    {
      route: 'GET /v1/api-keys',
      does: 'list API keys',
      status: 200,
      prepare: async (role) => {
        const key = await apiKey()
        return {
          caller: await caller(role),
          url: '/v1/api-keys?limit=100',
          shows: (body) => body.data.some((k: Json) => k.id === key.id),
        }
      },
    },
    {
      route: 'GET /v1/api-keys/:id',
      does: 'read an API key',
      status: 200,
      prepare: async (role) => ({ caller: await caller(role), url: `/v1/api-keys/${(await apiKey()).id}` }),
    },
    {
      route: 'PATCH /v1/api-keys/:id',
      does: "change an API key's role",
      status: 200,
      prepare: async (role) => ({
        caller: await caller(role),
        url: `/v1/api-keys/${(await apiKey()).id}`,
        payload: { role: 'viewer' },
      }),
    },
    {
      route: 'DELETE /v1/api-keys/:id',
      does: 'revoke an API key',
      status: 204,
      prepare: async (role) => ({ caller: await caller(role), url: `/v1/api-keys/${(await apiKey()).id}` }),
    },
    {
      route: 'POST /v1/webhooks',
      does: 'add a webhook endpoint',
      status: 201,
      prepare: async (role) => ({
        caller: await caller(role),
        url: '/v1/webhooks',
        payload: { url: 'https://hooks.example.com/new', events: ['ITEM_CREATED'] },
      }),
    },
    {
      route: 'GET /v1/webhooks',
      does: 'list webhook endpoints',
      status: 200,
      prepare: async (role) => {
        const endpoint = await webhook()
        return {
          caller: await caller(role),
          url: '/v1/webhooks?limit=100',
          shows: (body) => body.data.some((e: Json) => e.id === endpoint.id),
        }
      },
    },
    {
      route: 'GET /v1/webhooks/:id',
      does: 'read a webhook endpoint',
      status: 200,
      prepare: async (role) => ({ caller: await caller(role), url: `/v1/webhooks/${(await webhook()).id}` }),
    },
    {
      route: 'PATCH /v1/webhooks/:id',
      does: 'disable a webhook endpoint',
      status: 200,
      prepare: async (role) => ({
        caller: await caller(role),
        url: `/v1/webhooks/${(await webhook()).id}`,
        payload: { enabled: false },
      }),
    },
    {
      route: 'DELETE /v1/webhooks/:id',
      does: 'delete a webhook endpoint',
      status: 204,
      prepare: async (role) => ({ caller: await caller(role), url: `/v1/webhooks/${(await webhook()).id}` }),
    },
    {
      route: 'POST /v1/webhooks/:id/secret',
      does: "rotate a webhook endpoint's secret",
      status: 200,
      prepare: async (role) => ({ caller: await caller(role), url: `/v1/webhooks/${(await webhook()).id}/secret` }),
    },
    {
      route: 'GET /v1/webhooks/:id/deliveries',
      does: 'read the delivery log',
      status: 200,
      prepare: async (role) => {
        const logged = await delivery()
        return {
          caller: await caller(role),
          url: `/v1/webhooks/${logged.endpointId}/deliveries`,
          shows: (body) => body.data.some((d: Json) => d.id === logged.id),
        }
      },
    },
    {
      route: 'POST /v1/webhooks/:id/deliveries/:deliveryId/retry',
      does: 'retry a delivery',
      status: 202,
      prepare: async (role) => {
        const logged = await delivery()
        return { caller: await caller(role), url: `/v1/webhooks/${logged.endpointId}/deliveries/${logged.id}/retry` }
      },
    },
    {
      route: 'POST /v1/invitations/:id/resend',
      does: 'mail a pending invitation again',
      status: 202,
      prepare: async (role) => ({
        caller: await caller(role),
        url: `/v1/invitations/${(await invitation()).id}/resend`,
      }),
    },
    {
      route: 'GET /v1/activities',
      does: 'read the activity log',
      status: 200,
      prepare: async (role) => {
        const me = await caller(role)
        const created = await item()
        return {
          caller: me,
          url: '/v1/activities?type=ITEM_CREATED&limit=100',
          shows: (body) => body.data.some((a: Json) => a.target === created.id),
        }
      },
    },
    {
      route: 'GET /v1/activities/:id',
      does: 'read one activity',
      status: 200,
      prepare: async (role) => {
        const me = await caller(role)
        const broadcast = await call(api, owner, 'POST', '/v1/tenant/broadcasts', { message: uniqueName('hello') })
        if (broadcast.statusCode !== 201)
          throw new Error(`broadcast fixture: ${broadcast.statusCode} ${broadcast.body}`)
        return { caller: me, url: `/v1/activities/${broadcast.json().id}` }
      },
    },
    {
      route: 'GET /v1/items',
      does: 'list items',
      status: 200,
      prepare: async (role) => {
        const me = await caller(role)
        const created = await item()
        return {
          caller: me,
          url: '/v1/items?limit=100',
          shows: (body) => body.data.some((i: Json) => i.id === created.id),
        }
      },
    },
    {
      route: 'POST /v1/items',
      does: 'create an item',
      status: 201,
      prepare: async (role) => ({
        caller: await caller(role),
        url: '/v1/items',
        payload: { name: uniqueName('new'), payload: { a: 1 } },
      }),
    },
    {
      route: 'GET /v1/items/:id',
      does: 'read an item',
      status: 200,
      prepare: async (role) => ({ caller: await caller(role), url: `/v1/items/${(await item()).id}` }),
    },
    {
      route: 'PATCH /v1/items/:id',
      does: 'change an item',
      status: 200,
      prepare: async (role) => ({
        caller: await caller(role),
        url: `/v1/items/${(await item()).id}`,
        payload: { name: 'changed', payload: { b: 2 } },
      }),
    },
    {
      route: 'DELETE /v1/items/:id',
      does: 'delete an item',
      status: 204,
      prepare: async (role) => ({ caller: await caller(role), url: `/v1/items/${(await item()).id}` }),
    },
  ]

  // Anyone, without a token. Exercised once on each app.
  const anonymous = (url: string, payload?: unknown) => async (): Promise<Request> => ({
    caller: null,
    url,
    ...(payload ? { payload } : {}),
  })
  const publicCases: PublicCase[] = [
    { route: 'GET /', does: 'redirects to the docs', status: 302, prepare: anonymous('/') },
    { route: 'GET /health', does: 'liveness', status: 200, prepare: anonymous('/health') },
    { route: 'GET /ready', does: 'readiness', status: 200, prepare: anonymous('/ready') },
    { route: 'GET /dashboard', does: 'dashboard page', status: 200, prepare: anonymous('/dashboard') },
    { route: 'GET /dashboard/app.js', does: 'dashboard script', status: 200, prepare: anonymous('/dashboard/app.js') },
    {
      route: 'GET /dashboard/style.css',
      does: 'dashboard styles',
      status: 200,
      prepare: anonymous('/dashboard/style.css'),
    },
    ...(['events.js', 'chart.js', 'uplot.iife.min.js', 'uplot.min.css'] as const).map(
      (file): PublicCase => ({
        route: `GET /dashboard/${file}`,
        does: `dashboard ${file}`,
        status: 200,
        prepare: anonymous(`/dashboard/${file}`),
      }),
    ),
    {
      route: 'GET /dashboard/socket.io.min.js',
      does: 'Socket.IO browser client',
      status: 200,
      prepare: anonymous('/dashboard/socket.io.min.js'),
    },
    { route: 'GET /docs', does: 'Swagger UI page', status: 200, prepare: anonymous('/docs') },
    { route: 'GET /account/reset', does: 'password reset page', status: 200, prepare: anonymous('/account/reset') },
    { route: 'GET /account/confirm', does: 'confirmation page', status: 200, prepare: anonymous('/account/confirm') },
    { route: 'GET /account/accept', does: 'invitation page', status: 200, prepare: anonymous('/account/accept') },
    {
      route: 'GET /account/account.js',
      does: 'account pages script',
      status: 200,
      prepare: anonymous('/account/account.js'),
    },
    {
      route: 'GET /account/style.css',
      does: 'account pages styles',
      status: 200,
      prepare: anonymous('/account/style.css'),
    },
    {
      route: 'GET /dev/mail',
      does: 'the dev mailbox (not in production)',
      status: 200,
      prepare: anonymous('/dev/mail'),
    },
    {
      route: 'GET /docs/static/index.html',
      does: 'Swagger UI (redirects to /docs)',
      status: 302,
      prepare: anonymous('/docs/static/index.html'),
    },
    {
      route: 'GET /docs/static/swagger-initializer.js',
      does: 'Swagger UI config',
      status: 200,
      prepare: anonymous('/docs/static/swagger-initializer.js'),
    },
    {
      route: 'GET /docs/static/*',
      does: 'Swagger UI assets',
      status: 200,
      prepare: anonymous('/docs/static/swagger-ui.css'),
    },
    { route: 'GET /docs/json', does: 'OpenAPI document', status: 200, prepare: anonymous('/docs/json') },
    { route: 'GET /problems/', does: 'problem types index', status: 200, prepare: anonymous('/problems/') },
    {
      route: 'GET /problems/:slug',
      does: 'problem type page',
      status: 200,
      prepare: anonymous('/problems/last-owner'),
    },
    { route: 'GET /docs/yaml', does: 'OpenAPI document', status: 200, prepare: anonymous('/docs/yaml') },
    {
      route: 'POST /v1/auth/register',
      does: 'create an account and tenant',
      status: 201,
      prepare: async () => {
        const name = uniqueName('reg')
        return {
          caller: null,
          url: '/v1/auth/register',
          payload: { email: `${name}@example.com`, password: PASSWORD, name, tenant: { name, slug: name } },
        }
      },
    },
    {
      route: 'POST /v1/auth/login',
      does: 'sign in',
      status: 200,
      prepare: async () => {
        const user = (await f.member(tenant, 'viewer')).user
        return {
          caller: null,
          url: '/v1/auth/login',
          payload: { email: user.email, password: PASSWORD, tenant: tenant.slug },
        }
      },
    },
    {
      route: 'POST /v1/auth/refresh',
      does: 'rotate a refresh token',
      status: 200,
      prepare: async () => ({
        caller: null,
        url: '/v1/auth/refresh',
        payload: { refreshToken: (await f.member(tenant, 'viewer')).refreshToken },
      }),
    },
    {
      route: 'POST /v1/auth/password/forgot',
      does: 'ask for a reset link',
      status: 202,
      prepare: anonymous('/v1/auth/password/forgot', { email: 'whoever@example.com' }),
    },
    {
      route: 'POST /v1/auth/password/reset',
      does: 'reset a password with a mailed token',
      status: 204,
      prepare: async () => {
        const user = await f.member(tenant, 'viewer')
        await call(api, null, 'POST', '/v1/auth/password/forgot', { email: user.user.email })
        const token = await queuedToken(api, `reset_password:${user.user.id}`)
        return { caller: null, url: '/v1/auth/password/reset', payload: { token, password: 'a brand new passphrase' } }
      },
    },
    {
      route: 'POST /v1/auth/email/confirm',
      does: 'confirm an address with a mailed token',
      status: 204,
      prepare: async () => {
        const user = await f.member(tenant, 'viewer')
        await call(api, user, 'POST', '/v1/me/email/verification')
        const token = await queuedToken(api, `verify_email:${user.user.id}`)
        return { caller: null, url: '/v1/auth/email/confirm', payload: { token } }
      },
    },
    {
      route: 'POST /v1/invitations/accept',
      does: 'accept an invitation as a new user',
      status: 200,
      prepare: async () => ({
        caller: null,
        url: '/v1/invitations/accept',
        payload: { token: (await invitation()).token, name: 'Invitee', password: PASSWORD },
      }),
    },
  ]
  return { cases, publicCases }
}
