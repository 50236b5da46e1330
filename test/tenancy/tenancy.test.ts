import { createHash } from 'node:crypto'
import t from 'tap'
import { addMember, buildTestApp, call, PASSWORD, registerTenant } from '../helpers/app.ts'
import { connect } from '../helpers/db.ts'
import { invitationToken } from '../helpers/mail.ts'

t.test('tenancy domain', async (t) => {
  const { app, db } = await buildTestApp(t)
  const accept = (payload: Record<string, unknown>) =>
    app.inject({ method: 'POST', url: '/v1/invitations/accept', payload })

  t.test('tenant: read, rename, plans and their limits', async (t) => {
    const owner = await registerTenant(app)
    const tenant = (await call(app, owner, 'GET', '/v1/tenant')).json()
    t.match(tenant, {
      id: owner.tenant.id,
      slug: owner.tenant.slug,
      plan: 'free',
      memberLimit: 3,
      memberCount: 1,
      createdAt: String,
    })
    const renamed = await call(app, owner, 'PATCH', '/v1/tenant', { name: '  New name  ' })
    t.equal(renamed.json().name, 'New name', 'names are trimmed')
    t.equal((await call(app, owner, 'PATCH', '/v1/tenant', { name: '' })).statusCode, 400)
    t.equal(
      (await call(app, owner, 'PATCH', '/v1/tenant', { slug: 'other' })).statusCode,
      400,
      'the slug is not writable',
    )
    t.match((await call(app, owner, 'PUT', '/v1/tenant/plan', { plan: 'enterprise' })).json(), {
      plan: 'enterprise',
      memberLimit: null,
    })
    await Promise.all([
      addMember(app, owner, 'member'),
      addMember(app, owner, 'member'),
      addMember(app, owner, 'viewer'),
    ])
    const down = await call(app, owner, 'PUT', '/v1/tenant/plan', { plan: 'free' })
    t.equal(down.statusCode, 403)
    t.equal(down.json().type, '/problems/plan-limit-exceeded')
    t.match(down.json().detail, /free plan allows 3 members; this tenant has 4/)
    t.match((await call(app, owner, 'PUT', '/v1/tenant/plan', { plan: 'pro' })).json(), {
      plan: 'pro',
      memberLimit: 10,
      memberCount: 4,
    })
    t.equal((await call(app, owner, 'PUT', '/v1/tenant/plan', { plan: 'platinum' })).statusCode, 400)
  })

  t.test('broadcasts are activities for everyone in the tenant', async (t) => {
    const owner = await registerTenant(app)
    const viewer = await addMember(app, owner, 'viewer')
    const sent = await call(app, owner, 'POST', '/v1/tenant/broadcasts', { message: 'Maintenance at 10:00' })
    t.equal(sent.statusCode, 201)
    t.match(sent.json(), {
      type: 'BROADCAST_MESSAGE',
      tenantId: owner.tenant.id,
      actor: owner.user.id,
      payload: { message: 'Maintenance at 10:00' },
    })
    const seen = (await call(app, viewer, 'GET', '/v1/activities?type=BROADCAST_MESSAGE')).json().data
    t.same(
      seen.map((a: { id: number }) => a.id),
      [sent.json().id],
    )
    t.equal((await call(app, owner, 'POST', '/v1/tenant/broadcasts', { message: 'x'.repeat(1001) })).statusCode, 400)
  })

  t.test('members: roles, owners and leaving', async (t) => {
    const owner = await registerTenant(app)
    await call(app, owner, 'PUT', '/v1/tenant/plan', { plan: 'pro' })
    const admin = await addMember(app, owner, 'admin')
    const member = await addMember(app, owner, 'member')
    const list = (await call(app, member, 'GET', '/v1/members')).json().data
    t.same(
      list.map((m: { userId: string; role: string }) => [m.userId, m.role]),
      [
        [owner.user.id, 'owner'],
        [admin.user.id, 'admin'],
        [member.user.id, 'member'],
      ],
      'oldest first, visible to every member',
    )
    t.match(list[0], { email: owner.user.email, name: owner.user.name, joinedAt: String })

    const promote = await call(app, admin, 'PATCH', `/v1/members/${member.user.id}`, { role: 'owner' })
    t.equal(promote.statusCode, 403, 'an admin cannot grant owner')
    t.equal(
      (await call(app, admin, 'PATCH', `/v1/members/${owner.user.id}`, { role: 'member' })).statusCode,
      403,
      'nor demote an owner',
    )
    t.equal((await call(app, admin, 'DELETE', `/v1/members/${owner.user.id}`)).statusCode, 403, 'nor remove one')
    t.equal(
      (await call(app, admin, 'PATCH', `/v1/members/${member.user.id}`, { role: 'viewer' })).json().role,
      'viewer',
    )

    const lastOwner = await call(app, owner, 'PATCH', `/v1/members/${owner.user.id}`, { role: 'admin' })
    t.equal(lastOwner.statusCode, 409)
    t.equal(lastOwner.json().type, '/problems/last-owner')
    const leave = await call(app, owner, 'DELETE', `/v1/members/${owner.user.id}`)
    t.equal(leave.json().type, '/problems/last-owner', 'the last owner cannot leave')

    t.equal(
      (await call(app, owner, 'PATCH', `/v1/members/${admin.user.id}`, { role: 'owner' })).json().role,
      'owner',
      'an owner grants owner',
    )
    t.equal(
      (await call(app, owner, 'PATCH', `/v1/members/${owner.user.id}`, { role: 'admin' })).statusCode,
      200,
      'with a second owner, the first may step down',
    )
    t.equal((await call(app, member, 'DELETE', `/v1/members/${member.user.id}`)).statusCode, 204, 'anyone may leave')
    t.equal((await call(app, member, 'GET', '/v1/me')).statusCode, 401, 'and is out at once')
    t.equal(
      (await call(app, admin, 'DELETE', `/v1/members/${member.user.id}`)).statusCode,
      404,
      'a former member is not found',
    )
    t.equal((await call(app, admin, 'PATCH', `/v1/members/${member.user.id}`, { role: 'superuser' })).statusCode, 400)
  })

  t.test('invitations: single use, hashed, expiring, bound to the email, role fixed', async (t) => {
    const owner = await registerTenant(app)
    const root = await connect(t, db.rootUrl)
    const created = await call(app, owner, 'POST', '/v1/invitations', {
      email: 'New.Person@Example.com',
      role: 'viewer',
    })
    t.equal(created.statusCode, 201)
    const invitation = { ...created.json(), token: await invitationToken(app, created.json().id) }
    t.match(created.json(), { email: 'new.person@example.com', role: 'viewer' })
    t.notOk('token' in created.json(), 'the inviter never sees the token: it goes to the invitee by mail')
    t.match(invitation.token, /^[\w-]{43}$/)
    const days = (Date.parse(invitation.expiresAt) - Date.now()) / 86_400_000
    t.ok(days > 6.9 && days <= 7, `expires in 7 days (${days.toFixed(2)})`)
    const stored = await root.query(
      `select encode(token_hash, 'hex') as h, email, date_trunc('milliseconds', expires_at) = $2::timestamptz as same_expiry
       from app_private.email_tokens where invitation_id = $1 and purpose = 'invitation'`,
      [invitation.id, invitation.expiresAt],
    )
    t.equal(stored.rows[0].h, createHash('sha256').update(invitation.token).digest('hex'), 'only its SHA-256 is stored')
    t.match(stored.rows[0], { email: 'new.person@example.com', same_expiry: true }, 'bound to the address, same expiry')
    t.notOk(
      JSON.stringify((await call(app, owner, 'GET', '/v1/invitations')).json()).includes(invitation.token),
      'no response shows the token',
    )

    t.equal(
      (await call(app, owner, 'POST', '/v1/invitations', { email: 'new.person@example.com', role: 'member' })).json()
        .type,
      '/problems/conflict',
      'one pending invitation per email',
    )
    t.equal(
      (await call(app, owner, 'POST', '/v1/invitations', { email: owner.user.email, role: 'member' })).json().type,
      '/problems/conflict',
      'members are not invited',
    )

    t.equal(
      (await accept({ token: invitation.token, password: PASSWORD })).statusCode,
      400,
      'a new account needs a name',
    )
    const joined = await accept({ token: invitation.token, name: 'New Person', password: PASSWORD, role: 'owner' })
    t.equal(joined.statusCode, 400, 'the role cannot be chosen at accept time')
    const ok = await accept({ token: invitation.token, name: 'New Person', password: PASSWORD })
    t.equal(ok.statusCode, 200)
    t.match(ok.json(), {
      role: 'viewer',
      tenant: { id: owner.tenant.id },
      user: { email: 'new.person@example.com', name: 'New Person' },
    })
    t.equal((await accept({ token: invitation.token, name: 'Again', password: PASSWORD })).statusCode, 404, 'used')
    t.equal((await accept({ token: 'x'.repeat(43), name: 'Nobody', password: PASSWORD })).statusCode, 404, 'unknown')

    const revoked = (
      await call(app, owner, 'POST', '/v1/invitations', { email: 'revoked@example.com', role: 'member' })
    ).json()
    revoked.token = await invitationToken(app, revoked.id)
    t.equal((await call(app, owner, 'DELETE', `/v1/invitations/${revoked.id}`)).statusCode, 204)
    t.equal((await call(app, owner, 'DELETE', `/v1/invitations/${revoked.id}`)).statusCode, 404, 'revoking twice')
    t.equal((await accept({ token: revoked.token, name: 'Revoked', password: PASSWORD })).statusCode, 404, 'revoked')

    await call(app, owner, 'PUT', '/v1/tenant/plan', { plan: 'pro' })
    const expired = (
      await call(app, owner, 'POST', '/v1/invitations', { email: 'expired@example.com', role: 'member' })
    ).json()
    expired.token = await invitationToken(app, expired.id)
    await root.query(
      `update app_public.invitations set created_at = now() - interval '8 days', expires_at = now() - interval '1 day' where id = $1`,
      [expired.id],
    )
    t.equal((await accept({ token: expired.token, name: 'Late', password: PASSWORD })).statusCode, 404, 'expired')
    t.same(
      (await call(app, owner, 'GET', '/v1/invitations')).json().data,
      [],
      'expired, revoked and accepted invitations are not pending',
    )
  })

  t.test('invitations: an existing account joins with its own password', async (t) => {
    const owner = await registerTenant(app)
    const existing = await registerTenant(app)
    const invitation = (
      await call(app, owner, 'POST', '/v1/invitations', { email: existing.user.email, role: 'admin' })
    ).json()
    invitation.token = await invitationToken(app, invitation.id)
    t.equal((await accept({ token: invitation.token })).statusCode, 400, 'password required')
    const wrong = await accept({ token: invitation.token, password: 'wrong password!' })
    t.equal(wrong.statusCode, 401)
    const ok = await accept({ token: invitation.token, password: PASSWORD, name: 'ignored for existing accounts' })
    t.equal(ok.statusCode, 200)
    t.match(ok.json(), {
      user: { id: existing.user.id, name: existing.user.name },
      tenant: { id: owner.tenant.id },
      role: 'admin',
    })
    const me = (await call(app, ok.json(), 'GET', '/v1/me')).json()
    t.equal(me.memberships.length, 2)
  })

  t.test('invitations: admins invite, only owners invite owners', async (t) => {
    const owner = await registerTenant(app)
    const admin = await addMember(app, owner, 'admin')
    t.equal(
      (await call(app, admin, 'POST', '/v1/invitations', { email: 'o@example.com', role: 'owner' })).statusCode,
      403,
    )
    t.equal(
      (await call(app, admin, 'POST', '/v1/invitations', { email: 'm@example.com', role: 'member' })).statusCode,
      201,
    )
    t.equal(
      (await call(app, owner, 'POST', '/v1/invitations', { email: 'o@example.com', role: 'owner' })).statusCode,
      403,
      'the free plan is full with 2 members + 1 pending',
    )
    await call(app, owner, 'PUT', '/v1/tenant/plan', { plan: 'pro' })
    t.equal(
      (await call(app, owner, 'POST', '/v1/invitations', { email: 'o@example.com', role: 'owner' })).statusCode,
      201,
    )
  })

  t.test('items: viewers read, members write, admins delete', async (t) => {
    const owner = await registerTenant(app)
    await call(app, owner, 'PUT', '/v1/tenant/plan', { plan: 'pro' })
    const [admin, member, viewer] = await Promise.all([
      addMember(app, owner, 'admin'),
      addMember(app, owner, 'member'),
      addMember(app, owner, 'viewer'),
    ])
    const created = await call(app, member!, 'POST', '/v1/items', {
      name: 'Widget',
      payload: { color: 'blue', tags: ['a'] },
    })
    t.equal(created.statusCode, 201)
    const item = created.json()
    t.match(item, {
      name: 'Widget',
      payload: { color: 'blue', tags: ['a'] },
      createdBy: member!.user.id,
      createdAt: String,
      updatedAt: String,
    })
    t.same((await call(app, viewer!, 'GET', `/v1/items/${item.id}`)).json(), item)
    t.equal((await call(app, viewer!, 'POST', '/v1/items', { name: 'nope' })).statusCode, 403)
    t.equal((await call(app, viewer!, 'PATCH', `/v1/items/${item.id}`, { name: 'nope' })).statusCode, 403)

    const patched = (await call(app, member!, 'PATCH', `/v1/items/${item.id}`, { payload: { color: 'red' } })).json()
    t.match(patched, { name: 'Widget', payload: { color: 'red' } })
    t.ok(Date.parse(patched.updatedAt) > Date.parse(item.updatedAt), 'updatedAt moves forward')
    t.equal(patched.createdAt, item.createdAt)
    t.equal(
      (await call(app, member!, 'PATCH', `/v1/items/${item.id}`, {})).statusCode,
      400,
      'an empty patch is refused',
    )
    t.equal((await call(app, member!, 'DELETE', `/v1/items/${item.id}`)).statusCode, 403)
    t.equal((await call(app, admin!, 'DELETE', `/v1/items/${item.id}`)).statusCode, 204)
    t.equal((await call(app, viewer!, 'GET', `/v1/items/${item.id}`)).statusCode, 404)
    t.equal((await call(app, admin!, 'DELETE', `/v1/items/${item.id}`)).statusCode, 404)
    t.equal(
      (await call(app, member!, 'POST', '/v1/items', { name: 'x', payload: [1, 2] })).statusCode,
      400,
      'payload must be an object',
    )
  })
})
