/*
 * The served OpenAPI document passes Redocly (`recommended`, redocly.yaml) and Spectral
 * (`spectral:oas`, .spectral.yaml) with no error and no warning. A rule that does not fit is
 * switched off in those files with its reason, never here.
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { buildTestApp } from '../helpers/app.ts'

const exec = promisify(execFile)

/** Runs a linter that exits non-zero when it finds problems; its JSON report is on stdout either way. */
async function report(command: string, args: string[]): Promise<string> {
  try {
    return (await exec(command, args, { maxBuffer: 16 * 1024 * 1024 })).stdout
  } catch (error) {
    const { stdout } = error as { stdout?: string }
    if (stdout) return stdout
    throw error
  }
}

t.test('the served OpenAPI document has no Redocly or Spectral error or warning', async (t) => {
  const { app } = await buildTestApp(t)
  const served = await app.inject({ method: 'GET', url: '/docs/json' })
  t.equal(served.statusCode, 200)
  const dir = mkdtempSync(join(tmpdir(), 'tenantry-openapi-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'openapi.json')
  writeFileSync(file, served.body)

  const [redoclyOut, spectralOut] = await Promise.all([
    report('redocly', ['lint', '--config', 'redocly.yaml', '--format', 'json', file]),
    report('spectral', ['lint', '--ruleset', '.spectral.yaml', '--format', 'json', '--quiet', file]),
  ])
  const redocly: { severity: string; ruleId: string; message: string; location: { pointer: string }[] }[] = JSON.parse(
    redoclyOut.slice(redoclyOut.indexOf('{')),
  ).problems
  const spectralText = spectralOut.trim()
  const spectral: { severity: number; code: string; message: string; path: string[] }[] =
    spectralText === '' || !spectralText.includes('[') ? [] : JSON.parse(spectralText.slice(spectralText.indexOf('[')))

  const by = <T>(items: T[], pick: (item: T) => boolean) => items.filter(pick).length
  t.comment(
    `redocly recommended: ${by(redocly, (p) => p.severity === 'error')} errors, ${by(redocly, (p) => p.severity === 'warn')} warnings`,
  )
  // Spectral severities: 0 error, 1 warning, 2 information, 3 hint.
  t.comment(
    `spectral spectral:oas: ${by(spectral, (p) => p.severity === 0)} errors, ${by(spectral, (p) => p.severity === 1)} warnings`,
  )
  t.same(
    redocly.map((p) => `${p.severity} ${p.ruleId} at ${p.location[0]?.pointer}: ${p.message}`),
    [],
    'redocly: nothing to report',
  )
  t.same(
    spectral.filter((p) => p.severity <= 1).map((p) => `${p.code} at ${p.path.join('.')}: ${p.message}`),
    [],
    'spectral: no error or warning',
  )
})
