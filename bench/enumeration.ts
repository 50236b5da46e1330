/**
 * Enumeration timing (issue 19): `POST /v1/auth/password/forgot` for an address that has an
 * account (a reset token is stored and a mail queued, in the request's transaction) against one
 * that has none (nothing is written). Both answer 202 with the same body; this measures whether
 * their time tells them apart. Known addresses are each asked once, so every sample takes the
 * full path (within the recipient's budget); pairs alternate their order so drift hits both
 * sides alike. The ratio is the slower median over the faster one: 1.00 means indistinguishable.
 */
export type EnumerationResult = {
  samples: number
  known: { p50: number; p90: number }
  unknown: { p50: number; p90: number }
  statuses: Record<string, number>
  sameBody: boolean
  ratio: number
}

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!

export async function enumerationScenario(options: {
  url: string
  knownEmails: string[]
  samples: number
  log: (message: string) => void
}): Promise<EnumerationResult> {
  const samples = Math.min(options.samples, options.knownEmails.length)
  const statuses: Record<string, number> = {}
  const bodies = new Set<string>()
  const forgot = async (email: string): Promise<number> => {
    const started = performance.now()
    const response = await fetch(`${options.url}/v1/auth/password/forgot`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email }),
    })
    bodies.add(await response.text())
    const elapsed = performance.now() - started
    statuses[response.status] = (statuses[response.status] ?? 0) + 1
    return elapsed
  }
  // Warm-up: connections, prepared statements and the JIT on both paths.
  for (let i = 0; i < 20; i++) await forgot(`warm-up-${i}@nowhere.example`)
  const known: number[] = []
  const unknown: number[] = []
  for (let i = 0; i < samples; i++) {
    const stranger = `nobody-${i}-${Date.now()}@nowhere.example`
    if (i % 2 === 0) {
      known.push(await forgot(options.knownEmails[i]!))
      unknown.push(await forgot(stranger))
    } else {
      unknown.push(await forgot(stranger))
      known.push(await forgot(options.knownEmails[i]!))
    }
  }
  known.sort((a, b) => a - b)
  unknown.sort((a, b) => a - b)
  const k = { p50: quantile(known, 0.5), p90: quantile(known, 0.9) }
  const u = { p50: quantile(unknown, 0.5), p90: quantile(unknown, 0.9) }
  const ratio = Math.max(k.p50, u.p50) / Math.min(k.p50, u.p50)
  options.log(
    `  known ${k.p50.toFixed(2)} ms (p90 ${k.p90.toFixed(2)}), unknown ${u.p50.toFixed(2)} ms (p90 ${u.p90.toFixed(2)}): ${ratio.toFixed(2)}×`,
  )
  return { samples, known: k, unknown: u, statuses, sameBody: bodies.size === 1, ratio }
}
