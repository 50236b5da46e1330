import { Latencies, postFrom } from './load.ts'

/**
 * Scenario 7, fair hashing: one address keeps `flood` logins in flight (unknown emails, so each
 * costs one full bcrypt comparison against the dummy hash) while another address signs in with
 * a real account, one login after the other. Linux routes all of 127.0.0.0/8 to loopback, so the
 * two clients are two real source addresses, as the API's rate limits and hash queue see them.
 * The ratio is the victim's median login time during the flood over its median alone; FIFO
 * hashing would make each of its logins wait for the whole flood (21× before the fair queue).
 */
export type FairHashingResult = {
  flood: number
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
  samples: number
  log: (message: string) => void
}): Promise<FairHashingResult> {
  const victim = '127.0.0.2'
  const attacker = '127.0.0.3'
  const signIn = async () => {
    const answer = await postFrom(options.url, victim, '/v1/auth/login', {
      email: options.email,
      password: options.password,
    })
    if (answer.status !== 200) throw new Error(`fair hashing: the victim's login answered ${answer.status}`)
    return answer.ms
  }
  for (let i = 0; i < 3; i++) await signIn() // warm-up: connections, plans, the address is known

  const idle = new Latencies()
  for (let i = 0; i < options.samples; i++) idle.add(await signIn())

  // The flood: `flood` logins always in flight from one address until the victim is done.
  let running = true
  let floodLogins = 0
  const floodStatuses: Record<string, number> = {}
  const worker = async (lane: number) => {
    for (let n = 0; running; n++) {
      const answer = await postFrom(options.url, attacker, '/v1/auth/login', {
        email: `nobody-${lane}-${n}@flood.example`,
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
  options.log(
    `  login from ${victim} while ${attacker} keeps ${options.flood} logins in flight: median ${busy.p50.toFixed(1)} ms, max ${busy.max.toFixed(1)} ms (${underFlood.count} logins)`,
  )
  options.log(
    `  the flood: ${floodLogins} logins answered ${JSON.stringify(floodStatuses)}; victim median during / alone = ${ratio.toFixed(2)} (target ≤ 2.00)`,
  )
  return {
    flood: options.flood,
    idle: { ...alone, samples: idle.count },
    underFlood: { ...busy, samples: underFlood.count },
    floodLogins,
    floodStatuses,
    ratio,
  }
}
