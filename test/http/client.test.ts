/*
 * A generated client: serve the app, generate TypeScript types from its /docs/json with
 * openapi-typescript (through test/openapi-types, which brings the TypeScript 5.x it needs),
 * type-check test/client/journey.ts against them with the project's tsc, then run the journey
 * with openapi-fetch against the live server.
 */
import { execFile } from 'node:child_process'
import { copyFileSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import { generateTypes } from '@tenantry/openapi-types'
import t from 'tap'
import { ACTIVITY_TYPES, pascalCase } from '../../src/activities/schemas.ts'
import { buildTestApp } from '../helpers/app.ts'
import { invitationToken } from '../helpers/mail.ts'

const run = promisify(execFile)
// tsc runs in a plain Node: tap's process tracking wraps every spawn and hands its loader hooks
// on in NODE_OPTIONS, which TypeScript 7's ESM entry point cannot run under. `env -u` drops them.
const tsc = (project: string) => run('env', ['-u', 'NODE_OPTIONS', 'tsc', '-p', project])

t.test('a client generated from /docs/json type-checks and completes the user journey', async (t) => {
  const { app } = await buildTestApp(t)
  const base = await app.listen({ host: '127.0.0.1', port: 0 })

  const dir = mkdtempSync(join(tmpdir(), 'tenantry-client-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const document = (await (await fetch(`${base}/docs/json`)).json()) as object
  const types = await generateTypes(document)
  writeFileSync(join(dir, 'openapi.d.ts'), types)
  t.match(types, /"\/v1\/items\/\{id\}"/, 'paths are generated')
  t.match(types, /updateItem: \{/, 'operations are named by operationId')
  // Activity.payload was Record<string, unknown>, so every consumer cast: now each type has its own.
  t.match(types, /\bActivity: components\["schemas"\]\["UserJoinedActivity"\] \|/, 'Activity is a union by type')
  for (const type of ACTIVITY_TYPES) {
    const name = pascalCase(type)
    const member = new RegExp(`\\b${name}Activity: \\{[^]*?\\n {8}\\};`).exec(types)?.[0] ?? ''
    t.match(member, `payload: components["schemas"]["${name}Payload"]`, `${name}Activity: a typed payload`)
    t.match(member, `type: "${type}"`, `${name}Activity: its type literal`)
  }
  copyFileSync(resolve('test/client/journey.ts'), join(dir, 'journey.ts'))
  // openapi-fetch (and @types/node for tsc) resolve from the project's node_modules.
  symlinkSync(resolve('node_modules'), join(dir, 'node_modules'), 'dir')
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'es2024',
        lib: ['es2024', 'dom'],
        module: 'nodenext',
        moduleResolution: 'nodenext',
        strict: true,
        noEmit: true,
        allowImportingTsExtensions: true,
        erasableSyntaxOnly: true,
        verbatimModuleSyntax: true,
        noUncheckedIndexedAccess: true,
        types: [],
      },
      files: ['journey.ts'],
    }),
  )
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module' }))

  const checked = await tsc(join(dir, 'tsconfig.json')).then(
    () => ({ ok: true, output: '' }),
    (error: { stdout?: string; stderr?: string }) => ({ ok: false, output: `${error.stdout}${error.stderr}` }),
  )
  t.ok(checked.ok, `tsc accepts the journey against the generated types${checked.output ? `:\n${checked.output}` : ''}`)

  // A type error in a call must fail tsc: the check above cannot pass vacuously.
  writeFileSync(
    join(dir, 'broken.ts'),
    "import createClient from 'openapi-fetch'\nimport type { paths } from './openapi.d.ts'\n" +
      "await createClient<paths>({ baseUrl: '' }).POST('/v1/items', { body: { title: 'not a field' } })\n",
  )
  writeFileSync(join(dir, 'tsconfig.broken.json'), JSON.stringify({ extends: './tsconfig.json', files: ['broken.ts'] }))
  const broken = await tsc(join(dir, 'tsconfig.broken.json')).then(
    () => '',
    (error: { stdout?: string }) => error.stdout ?? 'failed',
  )
  t.match(broken, /title|name/, 'a body that does not match the document does not compile')

  // Not `typeof import('../client/journey.ts')`: that would pull the journey into the root type-check.
  const { journey } = (await import(pathToFileURL(join(dir, 'journey.ts')).href)) as {
    journey: (
      baseUrl: string,
      runId: string,
      mailedInvitation: (id: string) => Promise<string>,
    ) => Promise<{ steps: string[] }>
  }
  const report = await journey(base, String(process.pid), (id) => invitationToken(app, id))
  for (const line of report.steps) t.comment(line)
  t.equal(report.steps.length, 11, 'every step of the journey ran')
})
