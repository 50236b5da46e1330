import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import type { CpuUse } from './cpu.ts'
import type { LoadResult } from './load.ts'

/** pass: null when the check was skipped (and `skipped` says why). */
export type Check = { name: string; measured: number | null; target: string; pass: boolean | null; skipped?: string }
export type Row = {
  scenario: string
  inputs: string
  result: LoadResult | null
  ratio: string
}

export type Report = {
  date: string
  runtimeSeconds: number
  environment: Record<string, string | number>
  settings: Record<string, string | number>
  rows: Row[]
  checks: Check[]
  notes: string[]
  details: Record<string, unknown>
}

const num = (value: number, digits = 1) => (Number.isFinite(value) ? value.toFixed(digits) : '—')
const coresBusy = (cpu: CpuUse | undefined) => {
  if (!cpu || cpu.machine === null) return '—'
  const other = cpu.machine - (cpu.loadGenerator ?? 0) - (cpu.server ?? 0) - (cpu.postgres ?? 0)
  return [cpu.loadGenerator, cpu.server, cpu.postgres, other]
    .map((value) => (value === null ? '—' : value.toFixed(2)))
    .join(' · ')
}

export function toMarkdown(report: Report): string {
  const lines = [
    '# Tenantry benchmark — latest run',
    '',
    `Produced by \`npm run bench\` on ${report.date} in ${num(report.runtimeSeconds, 0)} s. Absolute numbers depend on the`,
    'machine; every comparison below is a ratio measured in the same run, on the same machine.',
    '',
    '## Targets',
    '',
    '| check | measured | target | result |',
    '|---|---|---|---|',
    ...report.checks.map(
      (check) =>
        `| ${check.name} | ${check.measured === null ? '—' : num(check.measured, 2)} | ${check.target} | ${check.pass === null ? `skipped: ${check.skipped ?? ''}` : check.pass ? 'pass' : '**miss**'} |`,
    ),
    '',
    '## Scenarios',
    '',
    '| scenario | inputs | req/s | p50 ms | p99 ms | failed | ratio | cores busy: load gen · server · PostgreSQL · other |',
    '|---|---|---|---|---|---|---|---|',
    ...report.rows.map((row) =>
      row.result
        ? `| ${row.scenario} | ${row.inputs} | ${num(row.result.rps, row.result.rps < 10 ? 2 : 0)} | ${num(row.result.p50, 2)} | ${num(row.result.p99, 2)} | ${row.result.failed} | ${row.ratio} | ${coresBusy(row.result.cpu)} |`
        : `| ${row.scenario} | ${row.inputs} | — | — | — | — | ${row.ratio} | — |`,
    ),
    '',
    '## Environment and settings',
    '',
    ...Object.entries({ ...report.environment, ...report.settings }).map(([key, value]) => `- ${key}: ${value}`),
    '',
    '## Notes',
    '',
    ...report.notes.map((note) => `- ${note}`),
    '',
    'Raw numbers (all latencies in ms): `latest.json`.',
    '',
  ]
  return lines.join('\n')
}

export function writeReport(report: Report, directory: URL): { json: string; markdown: string } {
  const json = new URL('latest.json', directory).pathname
  const markdown = new URL('latest.md', directory).pathname
  mkdirSync(dirname(json), { recursive: true })
  writeFileSync(json, `${JSON.stringify(report, null, 2)}\n`)
  writeFileSync(markdown, toMarkdown(report))
  return { json, markdown }
}
