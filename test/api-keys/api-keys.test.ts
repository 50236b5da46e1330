/**
 * API keys (issue 22; DESIGN.md, "Integrations"): machine clients of one tenant. The key's
 * tenant and role are read from the database on every request (begin_key_request), through the
 * one-statement read path and the transaction write path alike, so revocation, expiry, a role
 * change and a suspension take effect on the very next request.
 */
import { createHash } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { addMember, buildTestApp, call, registerTenant, type Session } from '../helpers/app.ts'
import { connectSocket, listen } from '../helpers/realtime.ts'

type Key = { id: string; key: string; prefix: string; role: string; lastUsedAt: string | null }
const asKey = (key: string) => ({ accessToken: key })

async function createKey(app: FastifyInstance, admin: Session, body: Record<string, unknown>): Promise<Key> {
  const res = await call(app, admin, 'POST', '/v1/api-keys', body)
  if (res.statusCode !== 201) throw new Error(`create key: ${res.statusCode} ${res.body}`)
  return res.json()
}

t.test('API keys', async (t) => {
  const { app, factories } = await buildTestApp(t)
  const { root } = factories

  t.test('a key is tnt_<prefix>_<secret>, shown once, stored as its SHA-256 only', async (t) => {
    const owner = await registerTenant(app)
    const res = await call(app, owner, 'POST', '/v1/api-keys', { name: 'CI', role: 'member' })
    t.equal(res.statusCode, 201)
    const created = res.json() as Key
    const match = /^tnt_([a-z0-9]{8})_([A-Za-z0-9_-]+)$/.exec(created.key)
    t.ok(match, `format: ${created.key.slice(0, 14)}…`)
    t.equal(match?.[1], created.prefix, 'the prefix is the key’s public part')
    t.ok(Buffer.from(match?.[2] ?? '', 'base64url').length * 8 >= 128, 'the secret has at least 128 bits (256)')
    const { rows } = await root.query(
      `select k.*, h.key_hash from app_public.api_keys k
       join app_private.api_key_hashes h on h.tenant_id = k.tenant_id and h.api_key_id = k.id where k.id = $1`,
      [created.id],
    )
    t.same(rows[0].key_hash, createHash('sha256').update(created.key).digest(), 'the database keeps SHA-256(key)')
    t.notMatch(JSON.stringify(rows[0]), match?.[2] ?? '-', 'and never the secret')
    const listed = await call(app, owner, 'GET', '/v1/api-keys')
    t.equal(listed.statusCode, 200)
    t.same(
      listed.json().data.map((k: Key) => [k.id, 'key' in k]),
      [[created.id, false]],
      'lists never show the key again',
    )
    const again = await call(app, owner, 'GET', `/v1/api-keys/${created.id}`)
    t.notOk('key' in again.json(), 'nor does the key itself')
  })

  t.test('only admins manage keys; a key never has the owner role', async (t) => {
    const owner = await registerTenant(app)
    const member = await addMember(app, owner, 'member')
    t.equal((await call(app, member, 'POST', '/v1/api-keys', { name: 'x', role: 'viewer' })).statusCode, 403)
    t.equal((await call(app, member, 'GET', '/v1/api-keys')).statusCode, 403)
    const asOwner = await call(app, owner, 'POST', '/v1/api-keys', { name: 'x', role: 'owner' })
    t.equal(asOwner.statusCode, 400, 'role owner is refused')
    const { rows } = await root.query(`select count(*)::int as n from app_public.api_keys where tenant_id = $1`, [
      owner.tenant.id,
    ])
    t.equal(rows[0].n, 0, 'and nothing was stored')
    const past = await call(app, owner, 'POST', '/v1/api-keys', {
      name: 'x',
      role: 'viewer',
      expiresAt: '2020-01-01T00:00:00Z',
    })
    t.equal(past.statusCode, 400, 'an expiry in the past is refused')
  })

  t.test('a key works on tenant routes at its role, through reads and writes', async (t) => {
    const owner = await registerTenant(app)
    const member = await createKey(app, owner, { name: 'worker', role: 'member' })
    const viewer = await createKey(app, owner, { name: 'reader', role: 'viewer' })
    const admin = await createKey(app, owner, { name: 'ops', role: 'admin' })

    const made = await call(app, asKey(member.key), 'POST', '/v1/items', { name: 'from a key' })
    t.equal(made.statusCode, 201, 'member key: creates an item (write path)')
    t.equal(made.json().createdBy, null, 'created by no user')
    const list = await call(app, asKey(viewer.key), 'GET', '/v1/items')
    t.equal(list.statusCode, 200, 'viewer key: lists items (one-statement read path)')
    t.equal(list.json().data[0].id, made.json().id)
    t.equal((await call(app, asKey(viewer.key), 'GET', `/v1/items/${made.json().id}`)).statusCode, 200)
    t.equal((await call(app, asKey(viewer.key), 'GET', '/v1/tenant')).statusCode, 200, 'reads its tenant')
    t.equal((await call(app, asKey(viewer.key), 'GET', '/v1/members')).statusCode, 200, 'reads the members')
    t.equal(
      (await call(app, asKey(viewer.key), 'POST', '/v1/items', { name: 'no' })).statusCode,
      403,
      'viewer: no writes',
    )
    const del = await call(app, asKey(member.key), 'DELETE', `/v1/items/${made.json().id}`)
    t.equal(del.statusCode, 403, 'member key: deleting needs admin')
    t.equal(
      (await call(app, asKey(admin.key), 'DELETE', `/v1/items/${made.json().id}`)).statusCode,
      204,
      'admin key: deletes',
    )
    t.equal((await call(app, asKey(admin.key), 'PATCH', '/v1/tenant', { name: 'Renamed by a key' })).statusCode, 200)
    const invited = await call(app, asKey(admin.key), 'POST', '/v1/invitations', {
      email: 'k@example.com',
      role: 'member',
    })
    t.equal(invited.statusCode, 201, 'admin key: invites')
    t.equal(invited.json().invitedBy ?? null, null)
    t.equal(
      (await call(app, asKey(admin.key), 'POST', '/v1/invitations', { email: 'o@example.com', role: 'owner' }))
        .statusCode,
      403,
      'but never an owner',
    )
    const person = await addMember(app, owner, 'member')
    t.equal(
      (await call(app, asKey(admin.key), 'DELETE', `/v1/members/${person.user.id}`)).statusCode,
      204,
      'removes a member',
    )
    const broadcast = await call(app, asKey(admin.key), 'POST', '/v1/tenant/broadcasts', { message: 'from ops' })
    t.equal(broadcast.statusCode, 201, 'broadcasts')

    // Activities by a key name the key as the actor.
    const log = await call(app, owner, 'GET', '/v1/activities?limit=100')
    const byType = (type: string) => log.json().data.filter((a: { type: string }) => a.type === type)
    t.match(byType('ITEM_CREATED')[0], { actor: null, actorApiKey: member.id })
    t.match(byType('ITEM_DELETED')[0], { actor: null, actorApiKey: admin.id })
    t.match(byType('TENANT_UPDATED')[0], { actor: null, actorApiKey: admin.id })
    t.match(byType('INVITATION_CREATED')[0], { actor: null, actorApiKey: admin.id })
    t.match(byType('USER_REMOVED')[0], { actor: null, actorApiKey: admin.id, payload: { left: false } })
    t.match(byType('BROADCAST_MESSAGE')[0], { actor: null, actorApiKey: admin.id })
    t.match(byType('API_KEY_CREATED')[0], {
      actor: owner.user.id,
      actorApiKey: null,
      target: admin.id,
      payload: { apiKeyId: admin.id, name: 'ops', role: 'admin', prefix: admin.prefix, expiresAt: null },
    })
  })

  t.test('a key cannot refresh, switch, reach /v1/me, manage keys or open a socket', async (t) => {
    const owner = await registerTenant(app)
    const admin = await createKey(app, owner, { name: 'ops', role: 'admin' })
    const k = asKey(admin.key)
    for (const [method, url, body] of [
      ['GET', '/v1/me'],
      ['POST', '/v1/auth/switch', { tenant: owner.tenant.slug }],
      ['POST', '/v1/auth/logout'],
      ['POST', '/v1/tenants', { name: 'Other', slug: `k-${Date.now()}` }],
      ['GET', '/v1/api-keys'],
      ['POST', '/v1/api-keys', { name: 'child', role: 'viewer' }],
      ['PATCH', `/v1/api-keys/${admin.id}`, { role: 'admin' }],
      ['DELETE', `/v1/api-keys/${admin.id}`],
    ] as const) {
      const res = await call(app, k, method, url, body)
      t.equal(res.statusCode, 403, `${method} ${url} → 403 ${res.json().detail}`)
    }
    const refresh = await call(app, null, 'POST', '/v1/auth/refresh', { refreshToken: admin.key })
    t.equal(refresh.statusCode, 401, 'a key is no refresh token')
    const { rows } = await root.query('select count(*)::int as n from app_public.api_keys where tenant_id = $1', [
      owner.tenant.id,
    ])
    t.equal(rows[0].n, 1, 'no key was made by a key')

    const socket = connectSocket(t, await listen(app), admin.key, { reconnection: false })
    const refused = await socket.waitFor((r) => r.event === 'connect_error')
    t.match(refused.data, { status: 403, detail: /API keys/ }, 'Socket.IO refuses keys at the handshake')
  })

  t.test('revocation, expiry, role change and suspension: the next request', async (t) => {
    const owner = await registerTenant(app)
    for (const path of ['read', 'write'] as const) {
      const key = await createKey(app, owner, { name: `revoked-${path}`, role: 'member' })
      const use = () =>
        path === 'read'
          ? call(app, asKey(key.key), 'GET', '/v1/items')
          : call(app, asKey(key.key), 'POST', '/v1/items', { name: 'x' })
      t.equal((await use()).statusCode, path === 'read' ? 200 : 201, `${path}: works before`)
      const revoked = await call(app, owner, 'DELETE', `/v1/api-keys/${key.id}`)
      t.equal(revoked.statusCode, 204)
      const at = performance.now()
      const after = await use()
      const ms = performance.now() - at
      t.equal(after.statusCode, 401, `${path}: the first request after revocation is refused`)
      t.comment(`revocation → refusal (${path} path): ${ms.toFixed(1)} ms, 1 request`)
    }

    const expiring = await createKey(app, owner, {
      name: 'short-lived',
      role: 'member',
      expiresAt: new Date(Date.now() + 1500).toISOString(),
    })
    t.equal((await call(app, asKey(expiring.key), 'GET', '/v1/items')).statusCode, 200, 'works before expiry')
    await new Promise((resolve) => setTimeout(resolve, 1600))
    t.equal(
      (await call(app, asKey(expiring.key), 'GET', '/v1/items')).statusCode,
      401,
      'refused on the first request after',
    )
    t.equal((await call(app, asKey(expiring.key), 'POST', '/v1/items', { name: 'x' })).statusCode, 401, 'writes too')

    const key = await createKey(app, owner, { name: 'demoted', role: 'member' })
    t.equal((await call(app, asKey(key.key), 'POST', '/v1/items', { name: 'ok' })).statusCode, 201)
    const patched = await call(app, owner, 'PATCH', `/v1/api-keys/${key.id}`, { role: 'viewer' })
    t.equal(patched.statusCode, 200)
    t.equal(patched.json().role, 'viewer')
    t.equal(
      (await call(app, asKey(key.key), 'POST', '/v1/items', { name: 'no' })).statusCode,
      403,
      'demoted: next write refused',
    )
    t.equal((await call(app, asKey(key.key), 'GET', '/v1/items')).statusCode, 200, 'and reads as a viewer')
    const promoted = await call(app, owner, 'PATCH', `/v1/api-keys/${key.id}`, { role: 'admin' })
    t.equal(promoted.statusCode, 200)
    const log = await call(app, owner, 'GET', '/v1/activities?type=API_KEY_UPDATED')
    t.match(log.json().data[0], { payload: { apiKeyId: key.id, role: 'admin', previousRole: 'viewer' } })
    t.equal(
      (await call(app, asKey(key.key), 'DELETE', `/v1/items/${patched.json().id}`)).statusCode,
      404,
      'promoted: may delete (404: no such item)',
    )

    await root.query('update app_public.tenants set suspended_at = now() where id = $1', [owner.tenant.id])
    const read = await call(app, asKey(key.key), 'GET', '/v1/items')
    t.equal(read.statusCode, 403, 'suspended: the next read is refused')
    t.match(read.json().type, /tenant-suspended$/)
    t.equal((await call(app, asKey(key.key), 'POST', '/v1/items', { name: 'x' })).statusCode, 403, 'and the next write')
  })

  t.test('lastUsedAt: written at most once a minute', async (t) => {
    const owner = await registerTenant(app)
    const key = await createKey(app, owner, { name: 'busy', role: 'viewer' })
    t.equal(key.lastUsedAt, null, 'never used')
    const stamp = async () =>
      (await root.query('select last_used_at, xmin::text as version from app_public.api_keys where id = $1', [key.id]))
        .rows[0]
    t.equal((await call(app, asKey(key.key), 'GET', '/v1/items')).statusCode, 200)
    const first = await stamp()
    t.ok(first.last_used_at, 'the first request notes the time')
    await Promise.all(Array.from({ length: 30 }, () => call(app, asKey(key.key), 'GET', '/v1/items')))
    for (let i = 0; i < 10; i++) await call(app, asKey(key.key), 'POST', '/v1/items', { name: `n${i}` })
    const later = await stamp()
    t.equal(later.version, first.version, '40 more requests within the minute: not one more write to the row')
    await root.query(`update app_public.api_keys set last_used_at = now() - interval '61 seconds' where id = $1`, [
      key.id,
    ])
    await call(app, asKey(key.key), 'GET', '/v1/items')
    const next = await stamp()
    t.ok(Date.now() - new Date(next.last_used_at).getTime() < 10_000, 'a minute later, the next request notes it again')
    const listed = await call(app, owner, 'GET', `/v1/api-keys/${key.id}`)
    t.ok(listed.json().lastUsedAt, 'and the admin sees it')
  })

  t.test('member sees no API_KEY_* activity; admin does', async (t) => {
    const owner = await registerTenant(app)
    const member = await addMember(app, owner, 'member')
    await createKey(app, owner, { name: 'hidden', role: 'viewer' })
    const asMember = await call(app, member, 'GET', '/v1/activities?type=API_KEY_CREATED')
    t.equal(asMember.json().data.length, 0)
    const asOwner = await call(app, owner, 'GET', '/v1/activities?type=API_KEY_CREATED')
    t.equal(asOwner.json().data.length, 1)
  })
})

t.test('keys spend their tenant’s plan budget', async (t) => {
  const { app } = await buildTestApp(t)
  const owner = await registerTenant(app)
  const key = await createKey(app, owner, { name: 'rate', role: 'viewer' })
  const remaining = (res: { headers: Record<string, unknown> }) => Number(res.headers['ratelimit-remaining'])
  const a = remaining(await call(app, owner, 'GET', '/v1/items'))
  const b = remaining(await call(app, asKey(key.key), 'GET', '/v1/items'))
  const c = remaining(await call(app, owner, 'GET', '/v1/items'))
  t.same([b, c], [a - 1, a - 2], `one counter for the person and the key (remaining ${a}, ${b}, ${c})`)
  const forged = `tnt_${key.prefix}_${'A'.repeat(43)}`
  const bad = await call(app, asKey(forged), 'GET', '/v1/items')
  t.equal(bad.statusCode, 401, 'a forged key with a real prefix is refused')
  t.equal(remaining(await call(app, owner, 'GET', '/v1/items')), a - 3, 'and spent nothing of the tenant’s budget')
})

t.test('the plan caps live keys, race-proof', async (t) => {
  const { app } = await buildTestApp(t)
  for (let round = 0; round < 3; round++) {
    const owner = await registerTenant(app)
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => call(app, owner, 'POST', '/v1/api-keys', { name: `k${i}`, role: 'viewer' })),
    )
    const codes = results.map((r) => r.statusCode)
    t.equal(codes.filter((c) => c === 201).length, 3, `round ${round}: 20 parallel creations on free → exactly 3 keys`)
    t.equal(codes.filter((c) => c === 403).length, 17, 'the rest: 403')
    t.match(results.find((r) => r.statusCode === 403)?.json().type, /plan-limit-exceeded$/)
    if (round === 0) {
      const one = results.find((r) => r.statusCode === 201)!.json()
      t.equal((await call(app, owner, 'DELETE', `/v1/api-keys/${one.id}`)).statusCode, 204)
      const replaced = await call(app, owner, 'POST', '/v1/api-keys', { name: 'replacement', role: 'viewer' })
      t.equal(replaced.statusCode, 201, 'a revoked key frees its place')
    }
  }
})
