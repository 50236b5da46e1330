import t from 'tap'
import { buildTestApp, call, registerTenant } from '../helpers/app.ts'

t.test('a registered owner can read their profile', async (t) => {
  const { app } = await buildTestApp(t)
  const owner = await registerTenant(app)
  const res = await call(app, owner, 'GET', '/v1/me')
  t.equal(res.statusCode, 200)
  t.equal(res.json().role, 'owner')
})
