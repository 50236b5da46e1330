/**
 * `npm run db:audit`: the DBA's view of the security boundary.
 *
 * Connects as the owner role (DATABASE_OWNER_URL; unset: the embedded cluster of `npm start`
 * under DATA_DIR/pg on EMBEDDED_PG_PORT, started for the audit and stopped again if it was not
 * running), re-applies db/audit.sql, prints every app_audit view, then runs Supabase's splinter
 * lints (`postgrestools dblint`, configured by postgres-language-server.jsonc). Exits 1 when
 * app_audit.rule_violations has a row or the lints report anything, 2 when the audit could not run.
 *
 * test/db/catalog-rules.test.ts and test/db/splinter.test.ts import applyAuditViews and runSplinter, so the tests and the command check
 * the same things the same way.
 */
import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import pg from 'pg'

const repoRoot = fileURLToPath(new URL('..', import.meta.url))
export const AUDIT_SQL_FILE = join(repoRoot, 'db', 'audit.sql')
export const LINT_CONFIG_FILE = join(repoRoot, 'postgres-language-server.jsonc')

/** The views, in the order a DBA reads them. */
export const AUDIT_VIEWS = [
  'api_role',
  'api_role_grants',
  'table_security',
  'policies',
  'definer_functions',
  'mail_queue',
  'rule_violations',
] as const

/** (Re)creates the app_audit views; run it as the owner role so the owner owns them. */
export async function applyAuditViews(client: pg.Client): Promise<void> {
  await client.query(readFileSync(AUDIT_SQL_FILE, 'utf8'))
}

export type LintFinding = { severity: string; category: string; message: string }
export type LintResult = { findings: LintFinding[]; skipped: number; output: string }

/**
 * Runs `postgrestools dblint` (splinter) against `url`. The package's JS launcher runs on this
 * process's Node (so it works inside tap and npm scripts alike) and picks the native binary for
 * the platform. The URL goes through DATABASE_URL, which dblint reads, rather than
 * `--connection-string`, so a password never shows up in the process list.
 * `reporter: 'json'` parses the findings; 'pretty' keeps the human-readable report in `output`.
 */
export async function runSplinter(url: string, reporter: 'json' | 'pretty' = 'json'): Promise<LintResult> {
  const launcher = createRequire(import.meta.url).resolve('@postgrestools/postgrestools/bin/postgrestools')
  const args = [launcher, 'dblint', `--config-path=${LINT_CONFIG_FILE}`, '--max-diagnostics=none', '--colors=off']
  if (reporter === 'json') args.push('--reporter=json')
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>(
    (done, fail) => {
      const child = spawn(process.execPath, args, {
        cwd: repoRoot,
        env: { ...process.env, DATABASE_URL: url },
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      let stdout = ''
      let stderr = ''
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk))
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk))
      child.on('error', fail)
      child.on('close', (code) => done({ code, stdout, stderr }))
    },
  )
  // dblint exits 0 whatever it finds; non-zero means it could not lint (no connection, bad config).
  if (code !== 0) throw new Error(`postgrestools dblint failed (exit ${code}):\n${stderr}${stdout}`.trim())
  if (reporter === 'pretty') return { findings: [], skipped: 0, output: stdout + stderr }
  const report = JSON.parse(stdout.slice(stdout.indexOf('{'))) as {
    summary: { skippedDiagnostics?: number }
    diagnostics: LintFinding[]
  }
  return { findings: report.diagnostics, skipped: report.summary.skippedDiagnostics ?? 0, output: stdout }
}

// ---------------------------------------------------------------------------------------------
// Printing

type Row = Record<string, unknown>

function cell(value: unknown): string {
  if (value === null || value === undefined) return ''
  if (typeof value === 'boolean') return value ? 'yes' : 'no'
  if (Array.isArray(value)) return value.length === 0 ? '{}' : value.map(cell).join(', ')
  return String(value).replace(/\s+/g, ' ')
}

/** psql-like: an aligned table, or one record per block (like `\x`) when it would not fit. */
export function formatTable(fields: string[], rows: Row[], width = 160): string {
  if (rows.length === 0) return '(no rows)'
  const cells = rows.map((row) => fields.map((field) => cell(row[field])))
  const widths = fields.map((field, i) => Math.max(field.length, ...cells.map((line) => line[i]!.length)))
  const total = widths.reduce((sum, w) => sum + w + 3, -3)
  if (total <= width) {
    const line = (values: string[]) =>
      values
        .map((value, i) => value.padEnd(widths[i]!))
        .join(' | ')
        .trimEnd()
    return [line(fields), widths.map((w) => '-'.repeat(w)).join('-+-'), ...cells.map(line)].join('\n')
  }
  const labelWidth = Math.max(...fields.map((field) => field.length))
  return cells
    .map((values, n) =>
      [
        `-[ ${n + 1} ]${'-'.repeat(Math.max(0, labelWidth - 4))}`,
        ...values.map((value, i) => `${fields[i]!.padEnd(labelWidth)} | ${value}`),
      ].join('\n'),
    )
    .join('\n')
}

function wrap(text: string, width: number): string {
  const lines: string[] = []
  let line = ''
  for (const word of text.split(/\s+/)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line)
      line = word
    } else line = line ? `${line} ${word}` : word
  }
  return [...lines, line].join('\n')
}

// ---------------------------------------------------------------------------------------------
// Which database

type Target = { ownerUrl: string; describe: string; stop?: () => Promise<void> }

/** DATABASE_OWNER_URL, or the embedded cluster of `npm start` (started for the audit if it is down). */
async function resolveTarget(env: NodeJS.ProcessEnv): Promise<Target> {
  if (env.DATABASE_OWNER_URL) {
    return { ownerUrl: env.DATABASE_OWNER_URL, describe: redact(env.DATABASE_OWNER_URL) }
  }
  const dataDir = resolve(env.DATA_DIR ?? '.data', 'pg')
  const port = Number(env.EMBEDDED_PG_PORT ?? 54329)
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new Error(`EMBEDDED_PG_PORT: not a port: ${env.EMBEDDED_PG_PORT}`)
  const credentials = `${dataDir}.credentials.json`
  if (!existsSync(join(dataDir, 'PG_VERSION')) || !existsSync(credentials)) {
    throw new Error(`no embedded database under ${dataDir} yet: run \`npm start\` once, or set DATABASE_OWNER_URL`)
  }
  const { owner } = JSON.parse(readFileSync(credentials, 'utf8')) as { owner: string }
  // Same database name and role as src/server.ts.
  const ownerUrl = `postgres://tenantry_owner:${encodeURIComponent(owner)}@127.0.0.1:${port}/tenantry`
  const describe = `embedded PostgreSQL ${dataDir} on 127.0.0.1:${port}`
  if (await answers(ownerUrl)) return { ownerUrl, describe: `${describe} (already running)` }
  const { startEmbeddedPostgres } = await import('../src/db/embedded.ts')
  const cluster = await startEmbeddedPostgres({ dataDir, port })
  return { ownerUrl, describe: `${describe} (started for the audit)`, stop: () => cluster.stop() }
}

async function answers(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 })
  try {
    await client.connect()
    return true
  } catch (error) {
    const code = (error as { code?: string }).code
    if (code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === '57P03') return false
    throw error
  } finally {
    await client.end().catch(() => {})
  }
}

function redact(url: string): string {
  const parsed = new URL(url)
  if (parsed.password) parsed.password = '***'
  return parsed.toString()
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const target = await resolveTarget(process.env)
  try {
    console.log(`# Tenantry database audit: ${target.describe}\n`)
    const client = new pg.Client({ connectionString: target.ownerUrl })
    await client.connect()
    let violations: Row[] = []
    try {
      await applyAuditViews(client)
      const comments = await client.query<{ view: string; comment: string | null }>(
        `select c.relname as view, obj_description(c.oid, 'pg_class') as comment
         from pg_class c where c.relnamespace = 'app_audit'::regnamespace and c.relkind = 'v'`,
      )
      const width = Math.max(100, process.stdout.columns ?? 160)
      for (const view of AUDIT_VIEWS) {
        const result = await client.query(`select * from app_audit.${view}`)
        const comment = comments.rows.find((row) => row.view === view)?.comment
        console.log(`## app_audit.${view}`)
        if (comment) console.log(wrap(comment, width))
        console.log(
          `\n${formatTable(
            result.fields.map((field) => field.name),
            result.rows,
            width,
          )}\n`,
        )
        if (view === 'rule_violations') violations = result.rows
      }
    } finally {
      await client.end()
    }

    console.log('## splinter lints (postgrestools dblint)')
    const pretty = await runSplinter(target.ownerUrl, 'pretty')
    console.log(pretty.output.trim() || '(no output)')
    const lint = await runSplinter(target.ownerUrl, 'json')
    const lintCount = lint.findings.length + lint.skipped

    console.log(`\n# ${violations.length} catalog rule violation(s), ${lintCount} lint finding(s)`)
    return violations.length === 0 && lintCount === 0 ? 0 : 1
  } finally {
    await target.stop?.()
  }
}

if (import.meta.main) {
  main().then(
    (code) => {
      process.exitCode = code
    },
    (error: unknown) => {
      console.error(`db:audit: ${error instanceof Error ? error.message : String(error)}`)
      process.exitCode = 2
    },
  )
}
