import t from 'tap'
import { decodeJwt } from '../helpers/jwt.ts'
import { bIsUntouched, problem, ROLES_DOWN, twoTenants } from '../helpers/two-tenants.ts'

t.test('Two tenants, sessions', async (t) => {
  const ctx = await twoTenants(t)
  const { app, f, send, A, B, bItems } = ctx

  t.test('switching to tenant B as a non-member: 403 like a tenant that does not exist, and no session', async (t) => {
    const sessions = async () =>
      (await f.root.query('select count(*)::int as n from app_private.sessions')).rows[0].n as number
    const before = await sessions()
    for (const role of ROLES_DOWN) {
      const toB = await send(A[role], 'POST', '/v1/auth/switch', { tenant: B.owner.tenant.slug })
      const toNowhere = await send(A[role], 'POST', '/v1/auth/switch', { tenant: 'no-such-tenant' })
      t.equal(toB.statusCode, 403, `A's ${role} switching to B: 403`)
      t.equal(toB.json().type, '/problems/forbidden')
      t.same(
        problem(toB.json()),
        problem(toNowhere.json()),
        `A's ${role}: the same answer as for a slug that does not exist`,
      )
      t.notOk('accessToken' in toB.json(), 'no token pair')
    }
    t.equal(await sessions(), before, 'no session was opened')
  })

  t.test("even a correctly signed token naming B's tenant is refused: A's session is bound to A", async (t) => {
    // Forging needs the secret; this is what a bug that signed the wrong tenant would produce.
    const claims = decodeJwt(A.owner.accessToken)
    const token = app.jwt.sign({
      sub: A.owner.user.id,
      tenant_id: B.owner.tenant.id,
      role: 'owner',
      sid: claims.sid as string,
    })
    for (const url of ['/v1/me', '/v1/items', `/v1/items/${bItems[0]}`]) {
      const res = await send({ accessToken: token }, 'GET', url)
      t.equal(res.statusCode, 401, `GET ${url}: 401`)
      t.equal(res.json().type, '/problems/unauthorized')
    }
    // B's owner's own session, presented with A's tenant: the same.
    const bClaims = decodeJwt(B.owner.accessToken)
    const crossed = app.jwt.sign({
      sub: B.owner.user.id,
      tenant_id: A.owner.tenant.id,
      role: 'owner',
      sid: bClaims.sid as string,
    })
    t.equal(
      (await send({ accessToken: crossed }, 'GET', '/v1/items')).statusCode,
      401,
      "B's owner's session cannot read A",
    )
  })

  t.test("logout takes no body: one naming tenant B's ids is refused and ends nothing", async (t) => {
    const leaving = await f.signIn(A.viewer.user, A.owner.tenant)
    const bClaims = decodeJwt(B.owner.accessToken)
    const res = await send(leaving, 'POST', '/v1/auth/logout', {
      tenant_id: B.owner.tenant.id,
      sid: bClaims.sid,
      userId: B.owner.user.id,
    })
    t.equal(res.statusCode, 400)
    t.equal(res.json().type, '/problems/validation-failed')
    t.equal((await send(leaving, 'GET', '/v1/me')).statusCode, 200, "the caller's session is untouched")
    t.equal((await send(B.owner, 'GET', '/v1/me')).statusCode, 200, "B's owner is still signed in")
    t.equal((await send(leaving, 'POST', '/v1/auth/logout')).statusCode, 204, 'without a body, logout works')
    t.equal((await send(leaving, 'GET', '/v1/me')).statusCode, 401, "and ends only the caller's session")
    t.equal((await send(A.viewer, 'GET', '/v1/me')).statusCode, 200, "the caller's other session is untouched")
  })

  bIsUntouched(t, ctx, ['POST /v1/auth/register accessToken'])
})
