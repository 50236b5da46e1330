import t from 'tap'
import { buildTestApp } from './helpers/app.ts'

t.test('OpenAPI is generated from the zod schemas and documents every route', async (t) => {
  // With the platform admin API on, so its routes are documented too.
  const { app } = await buildTestApp(t, { env: { PLATFORM_ADMIN_TOKEN: 'a'.repeat(32) } })
  const res = await app.inject({ method: 'GET', url: '/docs/json' })
  t.equal(res.statusCode, 200)
  const spec = res.json()
  t.equal(spec.openapi, '3.1.0')
  t.same(spec.components.securitySchemes.bearerAuth, { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' })
  t.ok(
    app.routeCatalog.some((r) => r.url === '/v1/admin/tenants'),
    'the admin routes are registered',
  )
  for (const name of ['Problem', 'Session', 'Item', 'Member', 'Invitation', 'Activity', 'Tenant']) {
    t.ok(Object.keys(spec.components.schemas[name]?.properties ?? {}).length > 0, `component ${name} has properties`)
  }
  const documented = new Set<string>()
  for (const [path, methods] of Object.entries(
    spec.paths as Record<string, Record<string, { security?: unknown; responses: Record<string, unknown> }>>,
  )) {
    for (const [method, operation] of Object.entries(methods)) {
      documented.add(`${method.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`)
      t.ok(operation.responses['4XX'] ?? operation.responses['4xx'], `${method} ${path} documents its problems`)
    }
  }
  for (const route of app.routeCatalog.filter((r) => r.url.startsWith('/v1/'))) {
    t.ok(documented.has(`${route.method} ${route.url}`), `${route.method} ${route.url} is documented`)
    const operation = spec.paths[route.url.replace(/:(\w+)/g, '{$1}')][route.method.toLowerCase()]
    t.equal(
      Boolean(operation.security),
      route.access !== 'public',
      `${route.method} ${route.url}: bearer auth iff not public`,
    )
  }
  const ui = await app.inject({ method: 'GET', url: '/docs/' })
  t.equal(ui.statusCode, 200)
  t.match(ui.headers['content-type'], /text\/html/)
})
