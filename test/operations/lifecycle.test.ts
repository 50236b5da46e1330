/**
 * Account lifecycle: membership changes end what they should (sessions, invitations), nobody is
 * stranded (tenantless sign-in, POST /v1/tenants), and an account can be deleted.
 */
import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { addMember, buildTestApp, call, PASSWORD, registerTenant, type Session } from '../helpers/app.ts'
import { connect } from '../helpers/db.ts'
import { decodeJwt } from '../helpers/jwt.ts'
import { invitationToken } from '../helpers/mail.ts'
import { snapshot } from '../helpers/snapshot.ts'

const login = (app: FastifyInstance, email: string, tenant?: string) =>
  app.inject({ method: 'POST', url: '/v1/auth/login', payload: { email, password: PASSWORD, tenant } })
const refresh = (app: FastifyInstance, refreshToken: string) =>
  app.inject({ method: 'POST', url: '/v1/auth/refresh', payload: { refreshToken } })
const accept = (app: FastifyInstance, token: string, extra: Record<string, unknown> = { password: PASSWORD }) =>
  app.inject({ method: 'POST', url: '/v1/invitations/accept', payload: { token, ...extra } })

/** Invites an existing user (by email) into the admin's tenant and accepts with their password. */
async function join(app: FastifyInstance, admin: Session, user: Session['user'], role: string): Promise<Session> {
  const invite = await call(app, admin, 'POST', '/v1/invitations', { email: user.email, role })
  if (invite.statusCode !== 201) throw new Error(`invite failed: ${invite.body}`)
  const accepted = await accept(app, await invitationToken(app, invite.json().id))
  if (accepted.statusCode !== 200) throw new Error(`accept failed: ${accepted.body}`)
  return accepted.json()
}

t.test('account lifecycle', async (t) => {
  const { app, db } = await buildTestApp(t)
  const root = await connect(t, db.rootUrl)
  const activities = async (tenantId: string, type: string) =>
    (
      await root.query<{ target: string; actor_id: string | null }>(
        'select target, actor_id from app_public.activities where tenant_id = $1 and type = $2 order by id',
        [tenantId, type],
      )
    ).rows

  t.test(
    'removing a member revokes their sessions for that tenant only; re-invitation revives no old token',
    async (t) => {
      const owner = await registerTenant(app)
      const member = await addMember(app, owner, 'member')
      const elsewhere = await registerTenant(app)
      const inOther = await join(app, elsewhere, member.user, 'member')
      t.equal((await call(app, owner, 'DELETE', `/v1/members/${member.user.id}`)).statusCode, 204)

      t.equal((await call(app, member, 'GET', '/v1/me')).statusCode, 401, 'the old access token is dead')
      t.equal(
        (await refresh(app, member.refreshToken)).json().type,
        '/problems/invalid-token',
        'so is the refresh token',
      )
      t.equal((await call(app, inOther, 'GET', '/v1/me')).statusCode, 200, 'the session of the other tenant lives on')

      const reinvited = await call(app, owner, 'POST', '/v1/invitations', { email: member.user.email, role: 'admin' })
      t.equal(
        (await accept(app, await invitationToken(app, reinvited.json().id))).statusCode,
        200,
        're-invited and accepted',
      )
      t.equal((await call(app, member, 'GET', '/v1/me')).statusCode, 401, 'the old access token stays dead')
      t.equal((await refresh(app, member.refreshToken)).statusCode, 401, 'and the old refresh token too')
    },
  )

  t.test('leaving revokes your own sessions for that tenant', async (t) => {
    const owner = await registerTenant(app)
    const member = await addMember(app, owner, 'viewer')
    const second = await login(app, member.user.email, owner.tenant.slug)
    t.equal((await call(app, member, 'DELETE', `/v1/members/${member.user.id}`)).statusCode, 204)
    t.equal((await refresh(app, member.refreshToken)).statusCode, 401)
    t.equal(
      (await call(app, second.json(), 'GET', '/v1/me')).statusCode,
      401,
      'every session for it, not just this one',
    )
  })

  t.test(
    'removal revokes the pending invitations the removed admin created, one INVITATION_REVOKED each',
    async (t) => {
      const owner = await registerTenant(app)
      await call(app, owner, 'PUT', '/v1/tenant/plan', { plan: 'pro' })
      const admin = await addMember(app, owner, 'admin')
      const mine = await call(app, owner, 'POST', '/v1/invitations', { email: 'kept@example.com', role: 'member' })
      const theirs = await Promise.all(
        ['self-admin@example.com', 'friend@example.com'].map(async (email, i) =>
          (await call(app, admin, 'POST', '/v1/invitations', { email, role: i === 0 ? 'admin' : 'member' })).json(),
        ),
      )
      t.equal((await call(app, owner, 'DELETE', `/v1/members/${admin.user.id}`)).statusCode, 204)

      for (const invitation of theirs) {
        const res = await accept(app, await invitationToken(app, invitation.id), { name: 'Anyone', password: PASSWORD })
        t.equal(res.statusCode, 404, `${invitation.email}: the token no longer admits anyone`)
      }
      const pending = (await call(app, owner, 'GET', '/v1/invitations')).json().data.map((i: { id: string }) => i.id)
      t.same(pending, [mine.json().id], "only the owner's own invitation is still pending")
      const revoked = await activities(owner.tenant.id, 'INVITATION_REVOKED')
      t.same(
        revoked.map((a) => a.target).sort(),
        theirs.map((i) => i.id).sort(),
        'one INVITATION_REVOKED per invitation',
      )
      t.ok(
        revoked.every((a) => a.actor_id === owner.user.id),
        'by the owner who removed the admin',
      )
    },
  )

  t.test(
    'demotion below admin revokes their invitations; an owner demoted to admin loses only owner ones',
    async (t) => {
      const owner = await registerTenant(app)
      await call(app, owner, 'PUT', '/v1/tenant/plan', { plan: 'pro' })
      const admin = await addMember(app, owner, 'admin')
      const coOwner = await addMember(app, owner, 'owner')
      const byAdmin = (
        await call(app, admin, 'POST', '/v1/invitations', { email: 'a1@example.com', role: 'admin' })
      ).json()
      const ownerInvite = (
        await call(app, coOwner, 'POST', '/v1/invitations', { email: 'o1@example.com', role: 'owner' })
      ).json()
      const memberInvite = (
        await call(app, coOwner, 'POST', '/v1/invitations', { email: 'm1@example.com', role: 'member' })
      ).json()

      t.equal((await call(app, owner, 'PATCH', `/v1/members/${admin.user.id}`, { role: 'member' })).statusCode, 200)
      t.equal((await call(app, owner, 'PATCH', `/v1/members/${coOwner.user.id}`, { role: 'admin' })).statusCode, 200)

      const pending = (await call(app, owner, 'GET', '/v1/invitations')).json().data.map((i: { id: string }) => i.id)
      t.same(pending, [memberInvite.id], 'only the invitation the demoted owner may still issue is pending')
      t.same(
        (await activities(owner.tenant.id, 'INVITATION_REVOKED')).map((a) => a.target).sort(),
        [byAdmin.id, ownerInvite.id].sort(),
      )
      t.equal(
        (await accept(app, await invitationToken(app, byAdmin.id), { name: 'X', password: PASSWORD })).statusCode,
        404,
      )
      t.equal(
        (await accept(app, await invitationToken(app, ownerInvite.id), { name: 'X', password: PASSWORD })).statusCode,
        404,
      )
      t.equal((await call(app, admin, 'GET', '/v1/me')).statusCode, 200, 'a demotion ends no session')
    },
  )

  t.test('a user who belongs to no tenant signs in tenantless, creates a tenant and switches to it', async (t) => {
    const owner = await registerTenant(app)
    const member = await addMember(app, owner, 'member')
    await call(app, member, 'DELETE', `/v1/members/${member.user.id}`)

    const signIn = await login(app, member.user.email)
    t.equal(signIn.statusCode, 200, 'no longer a member anywhere, and still signs in')
    const tenantless = signIn.json() as Session
    t.match(tenantless, { user: { id: member.user.id }, tenant: null, role: null })
    t.match(decodeJwt(tenantless.accessToken), { sub: member.user.id, tenant_id: null, role: null })
    t.match((await call(app, tenantless, 'GET', '/v1/me')).json(), { tenant: null, role: null, memberships: [] })
    const items = await call(app, tenantless, 'GET', '/v1/items')
    t.equal(items.statusCode, 403, 'tenant routes refuse a tenantless token')
    t.equal(items.json().type, '/problems/forbidden')
    t.match(items.json().detail, /POST \/v1\/tenants/)
    t.equal((await login(app, member.user.email, owner.tenant.slug)).statusCode, 401, 'not into the tenant they left')
    const refreshed = await refresh(app, tenantless.refreshToken)
    t.equal(refreshed.statusCode, 200, 'a tenantless session refreshes')
    t.equal(refreshed.json().tenant, null)

    const slug = `own-${member.user.id.slice(0, 8)}`
    const created = await call(app, refreshed.json(), 'POST', '/v1/tenants', { name: 'My own', slug })
    t.equal(created.statusCode, 201)
    t.match(created.json(), { slug, name: 'My own', plan: 'free', memberCount: 1, memberLimit: 3 })
    const switched = await call(app, refreshed.json(), 'POST', '/v1/auth/switch', { tenant: slug })
    t.equal(switched.statusCode, 200)
    t.match(switched.json(), { tenant: { slug }, role: 'owner' })
    t.equal((await call(app, switched.json(), 'GET', '/v1/items')).statusCode, 200)
    const next = await login(app, member.user.email)
    t.equal(next.json().tenant.slug, slug, 'the next sign-in lands in the new tenant')
    t.equal((await call(app, tenantless, 'POST', '/v1/auth/logout')).statusCode, 204, 'a tenantless session signs out')
    t.equal((await refresh(app, refreshed.json().refreshToken)).statusCode, 401)
  })

  t.test('a tenantless user accepts an invitation with their password', async (t) => {
    const owner = await registerTenant(app)
    const member = await addMember(app, owner, 'member')
    await call(app, member, 'DELETE', `/v1/members/${member.user.id}`)
    const other = await registerTenant(app)
    const joined = await join(app, other, member.user, 'admin')
    t.match(joined, { tenant: { id: other.tenant.id }, role: 'admin' })
  })

  t.test('POST /v1/tenants: any member creates one and owns it; a taken or bad slug is refused', async (t) => {
    const owner = await registerTenant(app)
    const viewer = await addMember(app, owner, 'viewer')
    const created = await call(app, viewer, 'POST', '/v1/tenants', { name: 'Side project', slug: `side-${Date.now()}` })
    t.equal(created.statusCode, 201)
    const me = (await call(app, viewer, 'GET', '/v1/me')).json()
    t.same(
      me.memberships.map((m: { tenant: { id: string }; role: string }) => [m.tenant.id, m.role]),
      [
        [owner.tenant.id, 'viewer'],
        [created.json().id, 'owner'],
      ],
    )
    const taken = await call(app, viewer, 'POST', '/v1/tenants', { name: 'Taken', slug: owner.tenant.slug })
    t.equal(taken.statusCode, 409)
    t.equal(taken.json().type, '/problems/conflict')
    const bad = await call(app, viewer, 'POST', '/v1/tenants', { name: 'Bad', slug: 'Not A Slug' })
    t.equal(bad.statusCode, 400)
    t.equal((await call(app, null, 'POST', '/v1/tenants', { name: 'x', slug: 'nobody-s' })).statusCode, 401)
  })

  t.test('POST /v1/tenants: 5 users racing for one slug, exactly one gets it, every time', async (t) => {
    const users = await Promise.all(Array.from({ length: 5 }, () => registerTenant(app)))
    for (let round = 0; round < 5; round++) {
      const s = `race-${users[0]!.user.id.slice(0, 8)}-${round}`
      const results = await Promise.all(users.map((u) => call(app, u, 'POST', '/v1/tenants', { name: s, slug: s })))
      t.same(results.map((r) => r.statusCode).sort(), [201, 409, 409, 409, 409], `round ${round}: one 201, four 409`)
      const { rows } = await root.query<{ n: number }>(
        `select count(*)::int as n from app_public.memberships m join app_public.tenants t on t.id = m.tenant_id
         where t.slug = $1`,
        [s],
      )
      t.equal(rows[0]!.n, 1, `round ${round}: one tenant with one owner`)
    }
  })

  t.test('DELETE /v1/me needs the password, and changes nothing without it', async (t) => {
    const owner = await registerTenant(app)
    const before = await snapshot(root, owner.tenant.id)
    const wrong = await call(app, owner, 'DELETE', '/v1/me', { password: 'not my password' })
    t.equal(wrong.statusCode, 403)
    t.equal(wrong.json().type, '/problems/forbidden')
    t.equal((await call(app, owner, 'DELETE', '/v1/me')).statusCode, 400, 'no body: 400')
    t.same(await snapshot(root, owner.tenant.id), before, 'nothing changed')
  })

  t.test('DELETE /v1/me is refused for the last owner of a tenant with other members', async (t) => {
    const owner = await registerTenant(app)
    await addMember(app, owner, 'admin')
    const before = await snapshot(root, owner.tenant.id)
    const refused = await call(app, owner, 'DELETE', '/v1/me', { password: PASSWORD })
    t.equal(refused.statusCode, 409)
    t.equal(refused.json().type, '/problems/last-owner')
    t.match(refused.json().detail, owner.tenant.slug)
    t.same(await snapshot(root, owner.tenant.id), before, 'nothing changed')
  })

  t.test('DELETE /v1/me deletes the account and the tenants where you were alone; others keep theirs', async (t) => {
    const alone = await registerTenant(app)
    const shared = await registerTenant(app)
    await call(app, shared, 'PUT', '/v1/tenant/plan', { plan: 'pro' })
    const coOwner = await addMember(app, shared, 'owner')
    const sharedSession = await join(app, shared, alone.user, 'member')
    await call(app, coOwner, 'PATCH', `/v1/members/${alone.user.id}`, { role: 'owner' })
    const ownInvitation = (
      await call(app, sharedSession, 'POST', '/v1/invitations', { email: 'pending-of-deleted@example.com' })
    ).json()

    t.equal((await call(app, alone, 'DELETE', '/v1/me', { password: PASSWORD })).statusCode, 204)
    t.equal((await call(app, alone, 'GET', '/v1/me')).statusCode, 401, 'every session ended')
    t.equal((await refresh(app, sharedSession.refreshToken)).statusCode, 401)
    t.equal((await login(app, alone.user.email)).statusCode, 401, 'the account is gone')
    const { rows } = await root.query('select id from app_public.tenants where id = $1', [alone.tenant.id])
    t.same(rows, [], 'the tenant where they were the only member went with them')
    const members = (await call(app, coOwner, 'GET', '/v1/members'))
      .json()
      .data.map((m: { userId: string }) => m.userId)
    t.notOk(members.includes(alone.user.id), 'they left the shared tenant')
    t.same(
      (await activities(shared.tenant.id, 'USER_REMOVED')).map((a) => a.target),
      [alone.user.id],
      'USER_REMOVED in the shared tenant',
    )
    t.same(
      (await activities(shared.tenant.id, 'INVITATION_REVOKED')).map((a) => a.target),
      [ownInvitation.id],
      'and their pending invitation was revoked',
    )
    const again = await app.inject({
      method: 'POST',
      url: '/v1/auth/register',
      payload: {
        email: alone.user.email,
        password: PASSWORD,
        name: 'Again',
        tenant: { name: 'Again', slug: `again-${Date.now()}` },
      },
    })
    t.equal(again.statusCode, 201, 'the email can be registered again')
  })

  t.test('the only two owners deleting their accounts at once: exactly one succeeds, every time', async (t) => {
    for (let round = 0; round < 5; round++) {
      const first = await registerTenant(app)
      const second = await addMember(app, first, 'owner')
      await addMember(app, first, 'member')
      const results = await Promise.all(
        [first, second].map((owner) => call(app, owner, 'DELETE', '/v1/me', { password: PASSWORD })),
      )
      t.same(results.map((r) => r.statusCode).sort(), [204, 409], `round ${round}: one 204, one 409`)
      const { rows } = await root.query<{ n: number }>(
        `select count(*)::int as n from app_public.memberships where tenant_id = $1 and role = 'owner'`,
        [first.tenant.id],
      )
      t.equal(rows[0]!.n, 1, `round ${round}: the tenant keeps one owner`)
    }
  })
})
