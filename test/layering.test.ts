import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, normalize, relative } from 'node:path'
import t from 'tap'

/*
 * The folder rules of src/, checked on every import (static and dynamic):
 *
 *   app.ts, server.ts   compose everything; nothing imports them
 *   <domain>/           auth, tenant, members, ... one folder per feature; its routes.ts is
 *                       registered by app.ts and imported by nobody else
 *   http/               shared HTTP pieces (error handler, cursors, field schemas)
 *   db/                 pool, request context, SQLSTATE mapping: below http/ and every domain
 *   problems.ts, config.ts, net.ts   leaves
 *
 * A module may import only from its own layer or one below it, there are no cycles, and SQL
 * is written only in queries.ts files and in db/ (the request-context statement).
 */

const SRC = 'src'
const files = (function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? walk(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [join(dir, entry.name)] : [],
  )
})(SRC)

const LEAVES = new Set(['src/problems.ts', 'src/config.ts', 'src/net.ts'])
const layerOf = (file: string): { rank: number; name: string } => {
  if (LEAVES.has(file)) return { rank: 0, name: file }
  const [, top] = file.split('/')
  if (top === 'db') return { rank: 1, name: 'db' }
  if (top === 'http') return { rank: 2, name: 'http' }
  if (file === 'src/app.ts' || file === 'src/server.ts') return { rank: 4, name: file }
  return { rank: 3, name: top! } // a domain folder
}

const importPattern = /(?:\bfrom\s+|\bimport\s*\(\s*|^import\s+)['"](\.[^'"]+)['"]/gm
const importsOf = (file: string) =>
  [...readFileSync(file, 'utf8').matchAll(importPattern)].map((m) => normalize(join(dirname(file), m[1]!)))
const graph = new Map(files.map((file) => [file, importsOf(file).filter((target) => target.startsWith(`${SRC}/`))]))

export function layeringViolations(): string[] {
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

const SQL_TAG = /\bsql(?:\.(?:type|typeAlias|fragment|prepared|unsafe)\s*\([^)]*\))?\s*`/
export function sqlOutsideQueries(): string[] {
  return files
    .filter((file) => !file.endsWith('/queries.ts') && !file.startsWith(`${SRC}/db/`))
    .filter((file) => SQL_TAG.test(readFileSync(file, 'utf8')))
    .map((file) => relative('.', file))
}

t.test('src/ keeps its layers: leaves ← db ← http ← domains ← app, no cycles, routes only in app.ts', async (t) => {
  t.ok(files.length > 20, `found ${files.length} modules`)
  t.same(layeringViolations(), [])
})

t.test('SQL is written only in queries.ts files and src/db/', async (t) => {
  t.same(sqlOutsideQueries(), [])
})
