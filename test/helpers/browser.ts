import { existsSync } from 'node:fs'
import type { Test } from 'tap'

/** Set by CI services (GitHub Actions, GitLab, .ci/run's callers); "false" or "0" means not. */
export const inCi = Boolean(process.env.CI) && !['false', '0'].includes(process.env.CI ?? '')

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

/**
 * One rule for every browser test: with Chromium at CHROMIUM, false (run); without it, the reason
 * to skip, and under CI the file also fails, since .ci/run installs it.
 */
export function chromiumMissing(t: Test): string | false {
  if (existsSync(CHROMIUM)) return false
  const reason = `${CHROMIUM} is missing: apt-get update && apt-get install -y chromium (or set CHROMIUM_PATH)`
  if (inCi) t.fail(`CI: ${reason}`)
  return reason
}
