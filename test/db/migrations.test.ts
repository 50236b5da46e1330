import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import t from 'tap'
import { inCi } from '../helpers/browser.ts'

/*
 * graphile-migrate runs a committed migration once and never again: an edit to a committed file
 * never reaches a database that already has it, so the databases of two developers (or of
 * production and CI) silently diverge. Committed files are therefore frozen. Schema changes go
 * through migrations/current/ and `npm run db:commit`.
 */

const folder = 'migrations/committed'
const files = readdirSync(folder)
  .filter((name) => name.endsWith('.sql'))
  .sort()

/** graphile-migrate's own header format and hash (its hash.js): sha1 over previous hash + body. */
function parse(text: string) {
  const lines = text.split('\n')
  const headers: Record<string, string> = {}
  let i = 0
  for (; lines[i]?.startsWith('--! '); i++) {
    const [, key, value] = /^--! (\w+): (.*)$/.exec(lines[i]!) ?? []
    if (key) headers[key] = value ?? ''
  }
  return { headers, body: lines.slice(i).join('\n') }
}
const hashOf = (body: string, previous: string | null) =>
  `sha1:${createHash('sha1')
    .update(`${`${previous ?? ''}\n${body.trim()}`.trim()}\n`)
    .digest('hex')}`

const git = (...args: string[]) => execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })

t.test('committed migrations form an unbroken chain whose hashes match their bodies', async (t) => {
  t.ok(files.length > 0, 'there are committed migrations')
  let previous: string | null = null
  for (const [index, name] of files.entries()) {
    t.match(name, new RegExp(`^${String(index + 1).padStart(6, '0')}[-.]`), `${name} is number ${index + 1}`)
    const { headers, body } = parse(readFileSync(`${folder}/${name}`, 'utf8'))
    t.equal(headers.Previous, previous ?? '-', `${name}: Previous names the migration before it`)
    t.equal(headers.Hash, hashOf(body, previous), `${name}: --! Hash matches the body`)
    previous = headers.Hash ?? null
  }
})

t.test('no committed migration differs from the version first committed, and none was removed', async (t) => {
  // Without history this check sees nothing. On a developer's copy that is said and skipped; in
  // CI (CI=true) a shallow clone first fetches its history, and anything short of it fails.
  const blind = (reason: string) => {
    if (inCi) t.fail(`${reason}: CI cannot check frozen migrations without git history`)
    else t.plan(0, reason)
  }
  try {
    git('rev-parse', '--is-inside-work-tree')
  } catch {
    return blind('not a git checkout: no history to compare against')
  }
  if (git('rev-parse', '--is-shallow-repository').trim() === 'true' && inCi) {
    try {
      git('fetch', '--quiet', '--unshallow')
    } catch (error) {
      t.comment(`git fetch --unshallow failed: ${(error as { stderr?: string }).stderr ?? error}`)
    }
  }
  if (git('rev-parse', '--is-shallow-repository').trim() === 'true') {
    return blind('shallow clone: the first version of each file may be missing')
  }
  // Every file that was ever added under committed/ on main's own line of history (first
  // parents), with the commit that added it first. A branch's migration that was renumbered when
  // it was merged never reached main, so it is not a file that was removed.
  const added = new Map<string, string>()
  let commit = ''
  for (const line of git(
    'log',
    '--first-parent',
    '--reverse',
    '--no-renames',
    '--diff-filter=A',
    '--format=commit %H',
    '--name-only',
    '--',
    folder,
  )
    .split('\n')
    .filter(Boolean)) {
    if (line.startsWith('commit ')) commit = line.slice(7)
    else if (!added.has(line)) added.set(line, commit)
  }
  // The one agreed squash: the first two migrations were replaced by a baseline before any
  // release. Files added before the baseline was are history, not frozen files.
  const baseline = added.get(`${folder}/${files[0]}`)
  const isAncestor = (older: string, newer: string) => {
    try {
      git('merge-base', '--is-ancestor', older, newer)
      return older !== newer
    } catch {
      return false
    }
  }
  for (const name of files) {
    const path = `${folder}/${name}`
    const first = added.get(path)
    if (!first) {
      t.fail(`${name} is not committed to git yet: commit it as it is`)
      continue
    }
    t.equal(
      readFileSync(path, 'utf8'),
      git('show', `${first}:${path}`),
      `${name} is unchanged since ${first.slice(0, 7)}`,
    )
  }
  for (const [path, first] of added) {
    if (baseline && isAncestor(first, baseline)) continue
    t.ok(files.includes(path.slice(folder.length + 1)), `${path} (added in ${first.slice(0, 7)}) still exists`)
  }
})
