/*
 * The OpenAPI document as a product. These promises hold for every route, so a route added
 * without an operationId, a description, an example body or its error responses fails here.
 */
import { randomUUID } from 'node:crypto'
import t from 'tap'
import { ACTIVITY_TYPES } from '../../src/activities/schemas.ts'
import { PROBLEM_SLUGS, PROBLEM_TYPES, problemUri } from '../../src/problems.ts'
import { buildTestApp, registerTenant } from '../helpers/app.ts'

// biome-ignore lint/suspicious/noExplicitAny: the OpenAPI document, checked by shape below
type Json = any
const METHODS = ['get', 'put', 'post', 'patch', 'delete']
const ADMIN_TOKEN = 'a-platform-admin-token-of-32-bytes-or-more'

t.test('the OpenAPI document', async (t) => {
  // With the platform admin API on, so its routes are documented and checked too.
  const { app } = await buildTestApp(t, { env: { PLATFORM_ADMIN_TOKEN: ADMIN_TOKEN } })
  const res = await app.inject({ method: 'GET', url: '/docs/json' })
  t.equal(res.statusCode, 200)
  const spec = res.json()
  const operations: { key: string; path: string; method: string; op: Json }[] = Object.entries(
    spec.paths as Record<string, Record<string, Json>>,
  ).flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([method]) => METHODS.includes(method))
      .map(([method, op]) => ({ key: `${method.toUpperCase()} ${path}`, path, method, op })),
  )

  t.test('is OpenAPI 3.1 with a bearer scheme and components that have properties', async (t) => {
    t.equal(spec.openapi, '3.1.0')
    t.match(spec.components.securitySchemes.bearerAuth, { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' })
    for (const name of ['Problem', 'Session', 'Item', 'Member', 'Invitation', 'ItemCreatedActivity', 'Tenant']) {
      t.ok(Object.keys(spec.components.schemas[name]?.properties ?? {}).length > 0, `component ${name} has properties`)
    }
    const activity = spec.components.schemas.Activity
    t.same(Object.keys(spec.webhooks ?? {}).sort(), [...ACTIVITY_TYPES].sort(), 'webhooks: one entry per activity type')
    for (const type of ACTIVITY_TYPES) {
      const post = spec.webhooks[type].post
      const event = spec.components.schemas[post.requestBody.content['application/json'].schema.$ref.split('/').pop()]
      t.same(event.properties.type, { type: 'string', const: type }, `webhook ${type}: its body names its type`)
      t.equal(
        event.properties.data.$ref,
        activity.discriminator.mapping[type],
        `webhook ${type}: data is the same Activity`,
      )
      t.same(
        post.parameters.map((p: { name: string }) => p.name),
        ['webhook-id', 'webhook-timestamp', 'webhook-signature'],
        `webhook ${type}: the Standard Webhooks headers`,
      )
    }
    t.equal(activity.oneOf?.length, ACTIVITY_TYPES.length, 'Activity: one member per activity type')
    t.equal(activity.discriminator?.propertyName, 'type', 'discriminated by type')
    for (const type of ACTIVITY_TYPES) {
      const member = spec.components.schemas[activity.discriminator.mapping[type].split('/').pop()]
      t.same(member?.properties?.type, { type: 'string', const: type }, `${type}: its own member`)
      const payload = spec.components.schemas[member?.properties?.payload?.$ref?.split('/').pop()]
      t.equal(payload?.additionalProperties, false, `${type}: a closed payload schema of its own`)
    }
  })

  t.test('documents every route of the app, and the problem pages are not operations', async (t) => {
    const documented = new Set(operations.map(({ key }) => key.replace(/\{(\w+)\}/g, ':$1')))
    for (const route of app.routeCatalog.filter((r) => r.url.startsWith('/v1/'))) {
      t.ok(documented.has(`${route.method} ${route.url}`), `${route.method} ${route.url} is documented`)
    }
    t.notOk(
      Object.keys(spec.paths).some((path) => path.startsWith('/problems') || path.startsWith('/docs')),
      'pages are not operations',
    )
  })

  t.test('every operation has a stable camelCase operationId, a summary, a description and a known tag', async (t) => {
    const ids = operations.map(({ op }) => op.operationId)
    t.same(
      operations.filter(({ op }) => !/^[a-z][a-zA-Z]+$/.test(op.operationId ?? '')).map(({ key }) => key),
      [],
      'operations without a camelCase operationId',
    )
    t.equal(new Set(ids).size, ids.length, 'operationIds are unique')
    const tags = new Set(spec.tags.map((tag: Json) => tag.name))
    for (const { key, op } of operations) {
      t.ok(op.summary?.length > 5, `${key}: summary`)
      t.ok(op.description?.length > 10, `${key}: description`)
      t.ok(op.tags?.length === 1 && tags.has(op.tags[0]), `${key}: one tag, declared at the top`)
      t.equal(op.description.split('Requires the').length - 1, op.security.length ? 1 : 0, `${key}: role said once`)
    }
    // Generated clients name their methods after these: renaming one is a breaking change.
    t.same(
      Object.fromEntries(operations.map(({ key, op }) => [key, op.operationId])),
      {
        'GET /health': 'getHealth',
        'GET /ready': 'getReadiness',
        'POST /v1/auth/register': 'register',
        'POST /v1/auth/login': 'login',
        'POST /v1/auth/refresh': 'refreshSession',
        'POST /v1/auth/logout': 'logout',
        'POST /v1/auth/switch': 'switchTenant',
        'GET /v1/me': 'getMe',
        'GET /v1/tenant': 'getTenant',
        'PATCH /v1/tenant': 'updateTenant',
        'PUT /v1/tenant/plan': 'changePlan',
        'POST /v1/tenant/broadcasts': 'broadcastMessage',
        'GET /v1/members': 'listMembers',
        'PATCH /v1/members/{userId}': 'changeMemberRole',
        'DELETE /v1/members/{userId}': 'removeMember',
        'POST /v1/invitations': 'createInvitation',
        'GET /v1/invitations': 'listInvitations',
        'GET /v1/invitations/{id}': 'getInvitation',
        'DELETE /v1/invitations/{id}': 'revokeInvitation',
        'POST /v1/invitations/accept': 'acceptInvitation',
        'POST /v1/invitations/{id}/resend': 'resendInvitation',
        'GET /v1/activities': 'listActivities',
        'GET /v1/activities/{id}': 'getActivity',
        'GET /v1/items': 'listItems',
        'POST /v1/items': 'createItem',
        'GET /v1/items/{id}': 'getItem',
        'PATCH /v1/items/{id}': 'updateItem',
        'DELETE /v1/items/{id}': 'deleteItem',
        'POST /v1/api-keys': 'createApiKey',
        'GET /v1/api-keys': 'listApiKeys',
        'GET /v1/api-keys/{id}': 'getApiKey',
        'PATCH /v1/api-keys/{id}': 'updateApiKey',
        'DELETE /v1/api-keys/{id}': 'revokeApiKey',
        'POST /v1/webhooks': 'createWebhook',
        'GET /v1/webhooks': 'listWebhooks',
        'GET /v1/webhooks/{id}': 'getWebhook',
        'PATCH /v1/webhooks/{id}': 'updateWebhook',
        'DELETE /v1/webhooks/{id}': 'deleteWebhook',
        'POST /v1/webhooks/{id}/secret': 'rotateWebhookSecret',
        'GET /v1/webhooks/{id}/deliveries': 'listWebhookDeliveries',
        'POST /v1/webhooks/{id}/deliveries/{deliveryId}/retry': 'retryWebhookDelivery',
        'DELETE /v1/me': 'deleteAccount',
        'POST /v1/auth/password/forgot': 'forgotPassword',
        'POST /v1/auth/password/reset': 'resetPassword',
        'POST /v1/auth/email/confirm': 'confirmEmail',
        'POST /v1/me/email/verification': 'resendEmailVerification',
        'PUT /v1/me/password': 'changePassword',
        'PUT /v1/me/email': 'changeEmail',
        'POST /v1/tenants': 'createTenant',
        'GET /v1/admin/tenants': 'adminListTenants',
        'POST /v1/admin/tenants': 'adminCreateTenant',
        'PATCH /v1/admin/tenants/{id}': 'adminUpdateTenant',
        'DELETE /v1/admin/tenants/{id}': 'adminDeleteTenant',
        'GET /v1/admin/audit': 'adminListAudit',
        'GET /v1/admin/users': 'adminListUsers',
      },
      'operationIds are the published ones',
    )
  })

  t.test('every request body has an example that its own schema accepts', async (t) => {
    // Sent as the owner of a tenant of its own, with ids that exist nowhere: the answer may be a
    // 404 or a success, never a validation problem.
    const owner = await registerTenant(app, `docs-examples-${process.pid}`)
    for (const { key, op, path, method } of operations.filter(({ op }) => op.requestBody)) {
      const media = op.requestBody.content['application/json']
      t.ok(media.example, `${key}: has an example`)
      const url = path.replace(/\{(\w+)\}/g, () => (path.startsWith('/v1/activities') ? '999999' : randomUUID()))
      const sent = await app.inject({
        method: method.toUpperCase() as 'POST',
        url,
        payload: media.example,
        headers:
          op.security.length === 0
            ? {}
            : { authorization: `Bearer ${path.startsWith('/v1/admin') ? ADMIN_TOKEN : owner.accessToken}` },
      })
      t.notOk([400, 413, 415].includes(sent.statusCode), `${key}: its example passes validation (${sent.statusCode})`)
    }
  })

  t.test('every response has a real description; 201s document Location', async (t) => {
    for (const { key, op } of operations) {
      for (const [status, response] of Object.entries(op.responses as Record<string, Json>)) {
        t.ok(
          response.description && !['Default Response', 'Success'].includes(response.description),
          `${key} ${status}: "${response.description}"`,
        )
        if (status === '201') t.ok(response.headers?.Location, `${key} 201: Location header`)
      }
    }
  })

  t.test('errors: exact statuses as application/problem+json, type an enum of our problem URIs', async (t) => {
    t.same(
      [...spec.components.schemas.Problem.properties.type.enum].sort(),
      PROBLEM_SLUGS.map(problemUri).sort(),
      'Problem.type enumerates every problem type',
    )
    for (const { key, op } of operations) {
      const statuses = Object.keys(op.responses)
      t.notOk(
        statuses.some((status) => /x/i.test(status)),
        `${key}: no 4XX/5XX buckets (${statuses.join(' ')})`,
      )
      for (const status of statuses.filter((s) => Number(s) >= 400)) {
        const response = op.responses[status]
        if (key === 'GET /ready' && status === '503') continue // its checks, as JSON
        t.same(
          Object.keys(response.content),
          ['application/problem+json'],
          `${key} ${status}: application/problem+json`,
        )
        t.equal(response.content['application/problem+json'].schema.$ref, '#/components/schemas/Problem')
        const named = PROBLEM_SLUGS.filter((slug) => response.description.includes(problemUri(slug)))
        // Each problem type the response names has its own example, of that type and status.
        const examples = response.content['application/problem+json'].examples ?? {}
        t.same(
          Object.values(examples)
            .map((example: Json) => `${example.value.status} ${example.value.type}`)
            .sort(),
          named.map((slug) => `${PROBLEM_TYPES[slug].status} ${problemUri(slug)}`).sort(),
          `${key} ${status}: one example per problem type`,
        )
        t.ok(named.length > 0, `${key} ${status}: names its problem types`)
        t.ok(
          named.every((slug) => String(PROBLEM_TYPES[slug].status) === status),
          `${key} ${status}: only types of that status`,
        )
      }
      t.ok(op.responses['500'], `${key}: documents 500`)
      t.ok(op.responses['429'], `${key}: documents 429`)
      if (op.security.length > 0) t.ok(op.responses['401']?.headers?.['WWW-Authenticate'], `${key}: 401`)
      if (op.requestBody) t.ok(op.responses['400'] && op.responses['415'] && op.responses['413'], `${key}: body errors`)
    }
  })

  t.test(
    'public routes say `security: []`; admin routes the platform token; all others the bearer token',
    async (t) => {
      const access = new Map(app.routeCatalog.map((r) => [`${r.method} ${r.url}`, r.access]))
      for (const { key, op } of operations) {
        const route = key.replace(/\{(\w+)\}/g, ':$1')
        if (access.get(route) === 'public') t.same(op.security, [], `${key}: security []`)
        else if (access.get(route) === 'platform') t.same(op.security, [{ platformAdmin: [] }], `${key}: platform`)
        else t.same(op.security, [{ bearerAuth: [] }], `${key}: bearer`)
      }
    },
  )

  t.test('no unused components, and no ±2^53 bounds as sample values', async (t) => {
    // The paths, and the webhooks section (the bodies endpoints receive).
    const text = JSON.stringify(spec.paths) + JSON.stringify(spec.webhooks)
    for (const name of Object.keys(spec.components.schemas)) {
      const referenced =
        text.includes(`"#/components/schemas/${name}"`) ||
        JSON.stringify(spec.components.schemas).includes(`"#/components/schemas/${name}"`)
      t.ok(referenced, `component ${name} is used`)
    }
    t.notMatch(res.body, /9007199254740991/, 'no safe-integer bounds')
  })

  t.test('Swagger UI is served', async (t) => {
    const ui = await app.inject({ method: 'GET', url: '/docs/' })
    t.equal(ui.statusCode, 200)
    t.match(ui.headers['content-type'], /text\/html/)
  })
})
