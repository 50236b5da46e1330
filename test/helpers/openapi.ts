import { appendFileSync } from 'node:fs'
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js'
import addFormats from 'ajv-formats'
import fc from 'fast-check'
import type { FastifyInstance } from 'fastify'
import type { Test } from 'tap'

// biome-ignore lint/suspicious/noExplicitAny: OpenAPI documents are walked by shape
export type Schema = Record<string, any>
export type Operation = {
  method: string
  path: string
  pathParams: string[]
  query: { name: string; schema: Schema }[]
  body: Schema | undefined
  secured: boolean
  responses: Record<string, { schema?: Schema; pointer?: string }>
}

/** The served OpenAPI document and every operation in it: the fuzzers know nothing else. */
export async function loadOpenApi(app: FastifyInstance): Promise<{ doc: Schema; operations: Operation[] }> {
  const res = await app.inject({ method: 'GET', url: '/docs/json' })
  if (res.statusCode !== 200) throw new Error(`/docs/json answered ${res.statusCode}`)
  const doc = res.json() as Schema
  return { doc, operations: operationsOf(doc) }
}

/** Every operation of an OpenAPI document. */
export function operationsOf(doc: Schema): Operation[] {
  const operations: Operation[] = []
  for (const [path, item] of Object.entries(doc.paths as Record<string, Schema>)) {
    for (const [method, op] of Object.entries(item)) {
      if (!['get', 'post', 'put', 'patch', 'delete'].includes(method)) continue
      const parameters = (op.parameters ?? []) as Schema[]
      const responses: Operation['responses'] = {}
      for (const [status, response] of Object.entries((op.responses ?? {}) as Record<string, Schema>)) {
        const schema = response.content?.['application/json']?.schema
        responses[status] = schema
          ? {
              schema,
              pointer: pointer(['paths', path, method, 'responses', status, 'content', 'application/json', 'schema']),
            }
          : {}
      }
      operations.push({
        method: method.toUpperCase(),
        path,
        pathParams: parameters.filter((p) => p.in === 'path').map((p) => p.name as string),
        query: parameters.filter((p) => p.in === 'query').map((p) => ({ name: p.name, schema: p.schema ?? {} })),
        body: op.requestBody?.content?.['application/json']?.schema,
        secured: Array.isArray(op.security) && op.security.length > 0,
        responses,
      })
    }
  }
  return operations
}

const pointer = (tokens: string[]) =>
  `openapi#/${tokens.map((token) => encodeURIComponent(token.replaceAll('~', '~0').replaceAll('/', '~1'))).join('/')}`

/** Validates a response body against the schema the document declares for its status. */
export function responseValidator(doc: Schema): (op: Operation, status: number, body: unknown) => string | null {
  const ajv = new Ajv2020({ strict: false, allErrors: false, validateFormats: true })
  addFormats.default(ajv)
  ajv.addSchema(doc, 'openapi')
  const compiled = new Map<string, ValidateFunction>()
  return (op, status, body) => {
    const declared = op.responses[String(status)] ?? op.responses[`${String(status)[0]}XX`]
    if (!declared) return `status ${status} is not declared`
    if (!declared.pointer) return null
    let validate = compiled.get(declared.pointer)
    if (!validate) {
      validate = ajv.compile({ $ref: declared.pointer })
      compiled.set(declared.pointer, validate)
    }
    return validate(body) ? null : ajv.errorsText(validate.errors)
  }
}

/**
 * Read routes send JSON text that PostgreSQL built, with no zod encode at run time (DESIGN.md,
 * "Performance: one round trip per read"): the suite checks it instead. Every 2xx JSON response
 * of every app built by buildTestApp is validated against the schema the served OpenAPI document
 * declares for its route and status; a mismatch fails the test that made the request. The count
 * goes to TENANTRY_OPENAPI_COUNT_FILE (one line per test process), which test/run.ts sums.
 */
export function checkResponsesAgainstOpenApi(
  t: Test,
  app: FastifyInstance,
  mismatch: (message: string) => void = (message) => t.fail(message),
): void {
  let checker: { validate: ReturnType<typeof responseValidator>; operations: Map<string, Operation> } | undefined
  let checked = 0
  app.addHook('onSend', async (request, reply, payload) => {
    const contentType = String(reply.getHeader('content-type') ?? '')
    if (typeof payload !== 'string' || reply.statusCode >= 300 || !contentType.startsWith('application/json')) {
      return payload
    }
    const route = request.routeOptions.url
    if (route === undefined) return payload
    if (!checker) {
      const doc = app.swagger() as Schema
      const operations = new Map(operationsOf(doc).map((op) => [`${op.method} ${op.path}`, op]))
      checker = { validate: responseValidator(doc), operations }
    }
    const operation = checker.operations.get(`${request.method} ${route.replace(/:(\w+)/g, '{$1}')}`)
    if (!operation) return payload // undocumented on purpose: /docs/json, the dashboard
    const problem = checker.validate(operation, reply.statusCode, JSON.parse(payload))
    checked++
    if (problem) mismatch(`${request.method} ${route} ${reply.statusCode}: the body does not match OpenAPI: ${problem}`)
    return payload
  })
  const countFile = process.env.TENANTRY_OPENAPI_COUNT_FILE
  if (countFile) t.teardown(() => appendFileSync(countFile, `${checked}\n`))
}

function deref(schema: Schema, doc: Schema): Schema {
  let current = schema
  for (let hops = 0; typeof current.$ref === 'string' && hops < 10; hops++) {
    const path = (current.$ref as string).replace(/^#\//, '').split('/')
    current = path.reduce((node: Schema, key) => node?.[key.replaceAll('~1', '/').replaceAll('~0', '~')], doc)
  }
  return current ?? {}
}

/** A value the schema accepts (as far as JSON Schema can say: zod refinements may still refuse it). */
export function validValue(schema: Schema, doc: Schema): fc.Arbitrary<unknown> {
  const s = deref(schema, doc)
  const alternatives = (s.anyOf ?? s.oneOf) as Schema[] | undefined
  if (alternatives) return fc.oneof(...alternatives.map((alt) => validValue(alt, doc)))
  if (Array.isArray(s.enum)) return fc.constantFrom(...s.enum)
  if ('const' in s) return fc.constant(s.const)
  const type = Array.isArray(s.type) ? s.type.find((t: string) => t !== 'null') : s.type
  switch (type) {
    case 'string': {
      const minLength = s.minLength ?? 0
      const maxLength = Math.min(s.maxLength ?? 40, 40)
      if (s.format === 'uuid') return fc.uuid()
      if (s.format === 'email') return fc.emailAddress().filter((e) => e.length <= (s.maxLength ?? 254))
      if (s.format === 'date-time') return fc.date({ noInvalidDate: true }).map((d) => d.toISOString())
      if (s.pattern) {
        return fc
          .stringMatching(new RegExp(s.pattern))
          .filter((v) => v.length >= minLength && v.length <= (s.maxLength ?? 1000))
      }
      return fc.string({ minLength, maxLength: Math.max(minLength, maxLength), unit: 'grapheme' })
    }
    case 'integer':
      return fc.integer({ min: Math.max(s.minimum ?? -1000, -1e9), max: Math.min(s.maximum ?? 1000, 1e9) })
    case 'number':
      return fc.double({ noNaN: true, noDefaultInfinity: true, min: s.minimum ?? -1e6, max: s.maximum ?? 1e6 })
    case 'boolean':
      return fc.boolean()
    case 'null':
      return fc.constant(null)
    case 'array':
      return fc.array(validValue(s.items ?? {}, doc), { maxLength: 3 })
    case 'object': {
      const properties = (s.properties ?? {}) as Record<string, Schema>
      if (Object.keys(properties).length === 0) {
        return fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 4 })
      }
      const record: Record<string, fc.Arbitrary<unknown>> = {}
      for (const [key, property] of Object.entries(properties)) record[key] = validValue(property, doc)
      return fc.record(record, { requiredKeys: (s.required ?? []) as string[] })
    }
    default:
      return fc.jsonValue({ maxDepth: 2 })
  }
}

/** Strings an attacker tries: unicode edge cases, injection, huge, numeric oddities. */
export const hostileString = fc.oneof(
  fc.constantFrom(
    '',
    '\u0000',
    'a\u0000b',
    '\ud800',
    'x\udfff',
    '\u202eevil',
    'e\u0301\u0301\u0301',
    '\ufeff',
    '\uffff',
    '😀',
    "'; drop table app_public.items; --",
    '" or 1=1 --',
    '../../etc/passwd',
    '%00',
    '%ED%A0%80',
    '__proto__',
    'constructor',
    'NaN',
    'Infinity',
    '-0',
    '1e308',
    '1e400',
    '-1',
    '9007199254740993',
    'null',
    'true',
    '[]',
    '{}',
  ),
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.nat({ max: 3 }).map((n) => 'x'.repeat([300, 5_000, 70_000, 1_000][n]!)),
)

/** Values of the wrong kind for any field. */
export const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  hostileString,
  fc.constantFrom(1e308, -1e308, -0, 0, -1, 2 ** 53 + 2, 1.5, true, false, null, [], {}, [null], { a: null }),
  fc.constant(JSON.parse('{"__proto__":{"admin":true}}')),
  fc.constant(JSON.parse('{"constructor":{"prototype":{"admin":true}}}')),
  fc.integer({ min: 2, max: 40 }).map((depth) => JSON.parse(`${'['.repeat(depth)}${']'.repeat(depth)}`)),
)

/** A request body as JSON text: valid, one field made hostile, an extra key, or hostile text outright. */
export function bodyText(schema: Schema, doc: Schema): fc.Arbitrary<string | undefined> {
  const valid = validValue(schema, doc)
  const s = deref(schema, doc)
  const keys = Object.keys(s.properties ?? {})
  const mutated = keys.length
    ? fc
        .tuple(valid, fc.constantFrom(...keys), hostileValue)
        .map(([value, key, bad]) => ({ ...(value as object), [key]: bad }))
    : hostileValue
  const extraKey = fc
    .tuple(valid, fc.constantFrom('tenant_id', 'role', 'id', '__proto__', 'constructor', '\ud800', ''), hostileValue)
    .map(([value, key, bad]) => {
      const copy = { ...(value as object) } as Record<string, unknown>
      Object.defineProperty(copy, key, { value: bad, enumerable: true })
      return copy
    })
  const rawText = fc.constantFrom(
    '',
    '{',
    'null',
    '"text"',
    '[1,2]',
    '{"a":1e400}',
    '{"__proto__":{"x":1}}',
    '{"a":"\\ud800"}',
    '{"\\ud800":1}',
    `{"a":${'['.repeat(5_000)}${']'.repeat(5_000)}}`,
    `{"a":${'{"b":'.repeat(40)}1${'}'.repeat(40)}}`,
  )
  return fc.oneof(
    { weight: 4, arbitrary: valid.map((v) => JSON.stringify(v)) },
    { weight: 3, arbitrary: mutated.map((v) => JSON.stringify(v)) },
    { weight: 1, arbitrary: extraKey.map((v) => JSON.stringify(v)) },
    { weight: 1, arbitrary: rawText },
    { weight: 1, arbitrary: fc.constant(undefined) },
  )
}

/** A query string: each parameter omitted, valid, or hostile, sometimes repeated or unknown. */
export function queryText(op: Operation, doc: Schema): fc.Arbitrary<string> {
  const parts = op.query.map(({ name, schema }) =>
    fc.oneof(
      { weight: 2, arbitrary: fc.constant([] as string[]) },
      { weight: 3, arbitrary: validValue(schema, doc).map((v) => [`${name}=${encode(String(v))}`]) },
      { weight: 2, arbitrary: hostileString.map((v) => [`${name}=${encode(v)}`]) },
      {
        weight: 1,
        arbitrary: fc
          .tuple(validValue(schema, doc), hostileString)
          .map(([a, b]) => [`${name}=${encode(String(a))}`, `${name}=${encode(b)}`]),
      },
    ),
  )
  const unknown = fc.oneof(
    { weight: 5, arbitrary: fc.constant([] as string[]) },
    { weight: 1, arbitrary: hostileString.map((v) => [`tenant_id=${encode(v)}`]) },
  )
  return fc.tuple(...parts, unknown).map((lists) => {
    const all = lists.flat()
    return all.length ? `?${all.join('&')}` : ''
  })
}

/** Percent-encodes anything, lone surrogates included (as the UTF-8 bytes of U+FFFD would not show). */
export function encode(value: string): string {
  return value.isWellFormed() ? encodeURIComponent(value) : '%ED%A0%80'
}
