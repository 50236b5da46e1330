import { readdirSync, readFileSync } from 'node:fs'
import { stripTypeScriptTypes } from 'node:module'
import { dirname, join, normalize } from 'node:path'
import { parse } from 'acorn'
import t from 'tap'

/*
 * The folder rules of src/, checked on every import (static and dynamic):
 *
 *   app.ts, server.ts,  compose everything; nothing imports them
 *   worker.ts
 *   <domain>/           auth, tenant, members, ... one folder per feature; its routes.ts is
 *                       registered by app.ts and imported by nobody else
 *   http/               shared HTTP pieces (error handler, cursors, field schemas)
 *   db/                 pool, request context, SQLSTATE mapping: below http/ and every domain
 *   fairness/           each tenant's share (pool slots, event-loop pressure, the hash queue):
 *                       below db/, which schedules through it
 *   problems.ts, config.ts, net.ts, roles.ts   leaves
 *
 * A module may import only from its own layer or one below it, there are no cycles, and SQL
 * is written only in queries.ts files and in db/ (the request-context statement).
 *
 * Each file is parsed (Node's own type stripping, then acorn), not pattern-matched: a regex
 * missed `sql.type(z.object({…}))` before a template, because of the parentheses inside. The
 * last test breaks every rule in memory and sees each one caught.
 */

const SRC = 'src'
type Sources = Map<string, string>
const sources: Sources = new Map(
  (function walk(dir: string): string[] {
    return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
      entry.isDirectory() ? walk(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [join(dir, entry.name)] : [],
    )
  })(SRC).map((file) => [file, readFileSync(file, 'utf8')]),
)

type Node = { type: string; [key: string]: unknown }
const isNode = (value: unknown): value is Node =>
  typeof value === 'object' && value !== null && typeof (value as Node).type === 'string'
/** Every node of the tree, depth first. */
function* nodes(node: Node): Generator<Node> {
  yield node
  for (const value of Object.values(node)) {
    for (const child of Array.isArray(value) ? value : [value]) if (isNode(child)) yield* nodes(child)
  }
}
/**
 * Type stripping deletes `import type …` and `export type … from` whole, yet they are imports
 * too: their `type` keyword is blanked first (same length, so positions hold), and the parser
 * then sees them as the imports they are.
 */
const typeOnlyAsValue = (source: string) =>
  source.replace(/^(\s*(?:import|export))\s+type(?=\s*[{*]|\s+[\w$]+\s+from\b)/gm, (match, head: string) =>
    head.padEnd(match.length),
  )
const parsed = new Map<string, Node[]>()
const nodesOf = (file: string, source: string): Node[] => {
  const key = `${file}\0${source}`
  let all = parsed.get(key)
  if (!all) {
    const javascript = stripTypeScriptTypes(typeOnlyAsValue(source))
    const program = parse(javascript, { ecmaVersion: 'latest', sourceType: 'module' })
    all = [...nodes(program as unknown as Node)]
    parsed.set(key, all)
  }
  return all
}

/** Relative module specifiers of import declarations, `export … from` and `import()`. */
const importsOf = (file: string, source: string): string[] =>
  nodesOf(file, source)
    .filter((node) =>
      ['ImportDeclaration', 'ExportNamedDeclaration', 'ExportAllDeclaration', 'ImportExpression'].includes(node.type),
    )
    .map((node) => (node.source as Node | null)?.value)
    .filter((specifier): specifier is string => typeof specifier === 'string' && specifier.startsWith('.'))
    .map((specifier) => normalize(join(dirname(file), specifier)))

const LEAVES = new Set(['src/problems.ts', 'src/config.ts', 'src/net.ts', 'src/roles.ts'])
const layerOf = (file: string): { rank: number; name: string } => {
  if (LEAVES.has(file)) return { rank: 0, name: file }
  const [, top] = file.split('/')
  if (top === 'fairness') return { rank: 1, name: 'fairness' }
  if (top === 'db') return { rank: 2, name: 'db' }
  if (top === 'http') return { rank: 3, name: 'http' }
  if (file === 'src/app.ts' || file === 'src/server.ts' || file === 'src/worker.ts') return { rank: 5, name: file }
  return { rank: 4, name: top! } // a domain folder
}

export function layeringViolations(files: Sources = sources): string[] {
  const graph = new Map(
    [...files].map(([file, source]) => [
      file,
      importsOf(file, source).filter((target) => target.startsWith(`${SRC}/`)),
    ]),
  )
  const problems: string[] = []
  for (const [file, targets] of graph) {
    const from = layerOf(file)
    for (const target of targets) {
      const to = layerOf(target)
      const where = `${file} imports ${target}`
      if (!graph.has(target)) problems.push(`${where}, which does not exist`)
      if (to.rank > from.rank) problems.push(`${where}: ${from.name} may not depend on ${to.name} above it`)
      if (from.rank === 0 && file !== target) problems.push(`${where}: ${file} is a leaf and imports nothing from src`)
      if (target.endsWith('/routes.ts') && file !== 'src/app.ts') {
        problems.push(`${where}: routes are registered by app.ts only; move the shared code out of routes.ts`)
      }
    }
  }
  // Cycles, by depth-first search over file imports.
  const state = new Map<string, 'open' | 'done'>()
  const visit = (file: string, path: string[]) => {
    if (state.get(file) === 'done') return
    if (state.get(file) === 'open') {
      problems.push(`import cycle: ${[...path.slice(path.indexOf(file)), file].join(' → ')}`)
      return
    }
    state.set(file, 'open')
    for (const target of graph.get(file) ?? []) visit(target, [...path, file])
    state.set(file, 'done')
  }
  for (const file of graph.keys()) visit(file, [])
  return problems
}

/**
 * A template tagged by slonik's `sql` (or a name it was imported as): `sql\`…\``,
 * `sql.fragment\`…\``, `sql.type(Row)\`…\``, `sql.typeAlias('x')\`…\``, whatever the arguments.
 */
const writesSql = (file: string, source: string): boolean => {
  const all = nodesOf(file, source)
  const tags = new Set<string>()
  for (const node of all) {
    if (node.type !== 'ImportDeclaration' || (node.source as Node).value !== 'slonik') continue
    for (const specifier of node.specifiers as Node[]) {
      const imported = specifier.imported as Node | undefined
      if (specifier.type === 'ImportSpecifier' && imported?.name === 'sql')
        tags.add((specifier.local as Node).name as string)
      if (specifier.type === 'ImportNamespaceSpecifier') tags.add(`${(specifier.local as Node).name}.sql`)
    }
  }
  // The expression a tag starts from: `sql` in sql.type(Row), sql.fragment, slonik.sql.unsafe.
  const rootOf = (node: Node): string | null => {
    if (node.type === 'Identifier') return node.name as string
    if (node.type === 'CallExpression') return rootOf(node.callee as Node)
    if (node.type === 'MemberExpression') {
      const object = node.object as Node
      const property = node.property as Node
      if (object.type === 'Identifier' && property.type === 'Identifier' && tags.has(`${object.name}.${property.name}`))
        return `${object.name}.${property.name}`
      return rootOf(object)
    }
    return null
  }
  return all.some((node) => {
    if (node.type !== 'TaggedTemplateExpression') return false
    const root = rootOf(node.tag as Node)
    return root !== null && tags.has(root)
  })
}

export function sqlOutsideQueries(files: Sources = sources): string[] {
  return [...files]
    .filter(([file]) => !file.endsWith('/queries.ts') && !file.startsWith(`${SRC}/db/`))
    .filter(([file, source]) => writesSql(file, source))
    .map(([file]) => file)
}

t.test(
  'src/ keeps its layers: leaves ← fairness ← db ← http ← domains ← app, no cycles, routes only in app.ts',
  async (t) => {
    t.ok(sources.size > 20, `found ${sources.size} modules`)
    t.same(layeringViolations(), [])
  },
)

t.test('SQL is written only in queries.ts files and src/db/', async (t) => {
  t.same(sqlOutsideQueries(), [])
})

/** Each rule broken once, in memory, on top of the real sources: [what, file, source, caught as]. */
export const SABOTAGES: [string, string, string, string][] = [
  ['fairness/ imports db/', 'src/fairness/sabotage.ts', "import { x } from '../db/pool.ts'", 'may not depend on db'],
  ['db/ imports a domain', 'src/db/sabotage.ts', "import { x } from '../items/queries.ts'", 'may not depend on items'],
  ['a type-only import upwards', 'src/db/sabotage.ts', "import type { X } from '../app.ts'", 'may not depend'],
  ['a re-export upwards', 'src/http/sabotage.ts', "export { x } from '../items/queries.ts'", 'may not depend'],
  ['a dynamic import upwards', 'src/db/sabotage.ts', "await import('../app.ts')", 'may not depend'],
  ['a leaf imports from src', 'src/net.ts', "import { x } from './config.ts'", 'is a leaf'],
  ['routes.ts imported outside app.ts', 'src/items/sabotage.ts', "import { x } from './routes.ts'", 'routes are'],
  ['an import of a missing file', 'src/items/sabotage.ts', "import { x } from './nowhere.ts'", 'does not exist'],
  ['an import cycle', 'src/items/sabotage.ts', "import { x } from './sabotage.ts'", 'import cycle'],
  ['sql`…` outside queries.ts', 'src/items/sabotage.ts', "import { sql } from 'slonik'\nsql`select 1`", 'sql in'],
  [
    'sql.type(z.object({…}))`…` outside queries.ts',
    'src/items/sabotage.ts',
    "import { sql } from 'slonik'\nconst q = () => sql.type(z.object({ n: z.number() }))`select 1 as n`",
    'sql in',
  ],
  [
    'sql.fragment`…` outside queries.ts',
    'src/items/sabotage.ts',
    "import { sql } from 'slonik'\nconst f = sql.fragment`id = 1`",
    'sql in',
  ],
  [
    'sql imported under another name',
    'src/items/sabotage.ts',
    "import { sql as q } from 'slonik'\nq`select 1`",
    'sql in',
  ],
  [
    'sql through a namespace import',
    'src/items/sabotage.ts',
    "import * as slonik from 'slonik'\nslonik.sql.unsafe`select 1`",
    'sql in',
  ],
]

t.test('each rule catches its sabotage (so the checks above can fail)', async (t) => {
  for (const [what, file, code, expected] of SABOTAGES) {
    const sabotaged = new Map(sources)
    sabotaged.set(file, `${sources.get(file) ?? ''}\n${code}\n`)
    const problems = [...layeringViolations(sabotaged), ...sqlOutsideQueries(sabotaged).map((f) => `sql in ${f}`)]
    t.ok(
      problems.some((problem) => problem.includes(expected) && problem.includes(file)),
      `${what}: caught`,
      { problems },
    )
  }
})
