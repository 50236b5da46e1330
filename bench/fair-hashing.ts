import { Latencies, postFrom } from './load.ts'

/**
 * Scenario 7, fair hashing: one address keeps `flood` logins in flight (unknown emails, so each
 * costs one full bcrypt comparison against the dummy hash) while another address signs in with
 * a real account, one login after the other. Linux routes all of 127.0.0.0/8 to loopback, so the
 * two clients are two real source addresses, as the API's rate limits and hash queue see them.
 * The ratio is the victim's median login time during the flood over its median alone; FIFO
 * hashing would make each of its logins wait for the whole flood (21× before the fair queue).
 * With `floodFrom: 'one-account'` the flood guesses one account's password from a different
 * address per lane (as through DELETE /v1/me or accept with one account): the queue's share per
 * account, not per address, is what keeps the victim's logins quick. The victim, as a real client
 * does, presents the device token of its first sign-in.
 */
export type FairHashingResult = {
  flood: number
  floodFrom: 'one-address' | 'one-account'
  idle: { p50: number; max: number; samples: number }
  underFlood: { p50: number; max: number; samples: number }
  floodLogins: number
  floodStatuses: Record<string, number>
  ratio: number
}

export async function fairHashingScenario(options: {
  url: string
  email: string
  password: string
  flood: number
  floodFrom?: 'one-address' | 'one-account'
  samples: number
  log: (message: string) => void
}): Promise<FairHashingResult> {
  const floodFrom = options.floodFrom ?? 'one-address'
  const victim = '127.0.0.2'
  const attacker = '127.0.0.3'
  let deviceToken = ''
  const signIn = async () => {
    const answer = await postFrom(
      options.url,
      victim,
      '/v1/auth/login',
      { email: options.email, password: options.password },
      deviceToken ? { 'x-device-token': deviceToken } : {},
    )
    if (answer.status !== 200) throw new Error(`fair hashing: the victim's login answered ${answer.status}`)
    deviceToken = JSON.parse(answer.body).deviceToken
    return answer.ms
  }
  for (let i = 0; i < 3; i++) await signIn() // warm-up: connections, plans

  const idle = new Latencies()
  for (let i = 0; i < options.samples; i++) idle.add(await signIn())

  // The flood: `flood` logins always in flight from one address until the victim is done.
  let running = true
  let floodLogins = 0
  const floodStatuses: Record<string, number> = {}
  const worker = async (lane: number) => {
    for (let n = 0; running; n++) {
      const oneAccount = floodFrom === 'one-account'
      const answer = await postFrom(options.url, oneAccount ? `127.0.1.${lane + 1}` : attacker, '/v1/auth/login', {
        email: oneAccount ? 'target@flood.example' : `nobody-${lane}-${n}@flood.example`,
        password: 'wrong password',
      }).catch(() => ({ status: 0, ms: 0 }))
      floodLogins++
      floodStatuses[answer.status] = (floodStatuses[answer.status] ?? 0) + 1
    }
  }
  const lanes = Array.from({ length: options.flood }, (_, lane) => worker(lane))
  const underFlood = new Latencies()
  try {
    await new Promise((resolve) => setTimeout(resolve, 500)) // the hash queue fills up first
    for (let i = 0; i < options.samples; i++) underFlood.add(await signIn())
  } finally {
    running = false
    await Promise.all(lanes)
  }

  const alone = idle.summary()
  const busy = underFlood.summary()
  const ratio = busy.p50 / alone.p50
  options.log(
    `  login from ${victim} alone: median ${alone.p50.toFixed(1)} ms, max ${alone.max.toFixed(1)} ms (${idle.count} logins)`,
  )
  const flooder = floodFrom === 'one-account' ? `${options.flood} addresses guessing one account` : attacker
  options.log(
    `  login from ${victim} while ${flooder} keeps ${options.flood} logins in flight: median ${busy.p50.toFixed(1)} ms, max ${busy.max.toFixed(1)} ms (${underFlood.count} logins)`,
  )
  options.log(
    `  the flood: ${floodLogins} logins answered ${JSON.stringify(floodStatuses)}; victim median during / alone = ${ratio.toFixed(2)} (target ≤ 2.00)`,
  )
  return {
    flood: options.flood,
    floodFrom,
    idle: { ...alone, samples: idle.count },
    underFlood: { ...busy, samples: underFlood.count },
    floodLogins,
    floodStatuses,
    ratio,
  }
}
