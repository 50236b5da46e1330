/**
 * Scenario 9 of `npm run bench`: issue 17's socket attacks against the real API (src/server.ts
 * in its own process, the default limits, NODE_ENV=production). Loopback only, bounded in count
 * and time; every client binds its own 127.x.y.z (Linux routes all of 127/8 to lo), so
 * per-address limits apply as they would to real clients.
 *
 * A. ATTEMPTS socket attempts with one account's token, from 50 addresses, 256 in flight,
 *    accepted sockets held to the end: accepted, refused by reason, the API's peak RSS, and
 *    /health from other addresses every 20 ms throughout (p99, failures).
 * B. The same with no valid token.
 * C. `auth` events from one attacker socket (reconnecting whenever it is cut, for 20 s): processed,
 *    the attacker tenant's budget, and a neighbour tenant's GET /v1/items p99 during the attack
 *    beside its p99 just before it (target ≤ 2×).
 *
 * Knobs: BENCH_SOCKET_ATTEMPTS (20000), BENCH_AUTH_EVENTS (100000).
 */
import { fork } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { io, type Socket } from 'socket.io-client'
import { withClient } from '../src/db/bootstrap.ts'
import { getFrom, postFrom } from './load.ts'
import { startServer } from './processes.ts'

const int = (name: string, fallback: number) => {
  const value = Number(process.env[name] ?? fallback)
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer`)
  return value
}
const ATTEMPTS = int('BENCH_SOCKET_ATTEMPTS', 20_000)
const AUTH_EVENTS = int('BENCH_AUTH_EVENTS', 100_000)
const ADDRESSES = 50
const IN_FLIGHT = 256
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** The API process's resident set, from /proc (Linux). */
const rssMiB = (pid: number) => {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return match ? Number(match[1]) / 1024 : Number.NaN
}

type ProbeResult = { p50: number; p99: number; max: number; count: number; failures: number; statuses: object }

/** bench/prober.ts in its own process: sequential GETs until stopped (see there). */
function probe(env: Record<string, string>) {
  const child = fork(fileURLToPath(new URL('./prober.ts', import.meta.url)), { env: { ...process.env, ...env } })
  const result = new Promise<ProbeResult>((resolve, reject) => {
    child.once('message', (message) => resolve(message as ProbeResult))
    child.once('exit', (code) => reject(new Error(`the probe exited (${code}) without a result`)))
  })
  return {
    stop: async () => {
      child.send('stop')
      return result
    },
  }
}

function rssPeak(pid: number) {
  let peak = rssMiB(pid)
  const timer = setInterval(() => {
    peak = Math.max(peak, rssMiB(pid))
  }, 100)
  return () => {
    clearInterval(timer)
    return Math.max(peak, rssMiB(pid))
  }
}

type Attempt = 'connected' | string

function attempt(url: string, token: string, localAddress: string, held: Socket[]): Promise<Attempt> {
  const socket = io(url, {
    path: '/socket.io',
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    timeout: 10_000,
    auth: { token },
    localAddress,
  } as Parameters<typeof io>[1])
  return new Promise((resolve) => {
    socket.once('connect', () => {
      held.push(socket)
      resolve('connected')
    })
    socket.once('connect_error', (error: Error & { data?: { type?: string } }) => {
      socket.close()
      resolve(error.data?.type ?? error.message)
    })
    const timer = setTimeout(() => {
      socket.close()
      resolve('no answer within 15 s')
    }, 15_000)
    socket.once('connect', () => clearTimeout(timer))
    socket.once('connect_error', () => clearTimeout(timer))
    // Counted rather than waited for: a transport closed with no connect_error.
    socket.once('disconnect', (reason) => {
      socket.close()
      resolve(`closed before an answer (${reason})`)
    })
  })
}

async function socketFlood(
  log: (line: string) => void,
  label: string,
  url: string,
  pid: number,
  token: string,
  subnet: number,
) {
  const held: Socket[] = []
  const outcomes: Record<string, number> = {}
  const health = probe({ PROBE_URL: url, PROBE_PATH: '/health', PROBE_PREFIX: '127.0.60' })
  const peak = rssPeak(pid)
  const rssBefore = rssMiB(pid)
  const started = performance.now()
  let next = 0
  const worker = async () => {
    while (next < ATTEMPTS && performance.now() - started < 180_000) {
      const i = next++
      const address = `127.${subnet}.${Math.floor((i % ADDRESSES) / 250)}.${1 + ((i % ADDRESSES) % 250)}`
      const outcome = await attempt(url, token, address, held)
      outcomes[outcome] = (outcomes[outcome] ?? 0) + 1
    }
  }
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker))
  const seconds = (performance.now() - started) / 1000
  const rssHolding = rssMiB(pid)
  const rssMax = peak()
  const probed = await health.stop()
  for (const socket of held) socket.close()
  log(`  ${label}`)
  log(`    ${next} attempts from ${ADDRESSES} addresses in ${seconds.toFixed(1)} s, ${IN_FLIGHT} in flight`)
  log(`    accepted ${outcomes.connected ?? 0}; outcomes ${JSON.stringify(outcomes)}`)
  log(
    `    API RSS: ${rssBefore.toFixed(0)} MiB before, ${rssMax.toFixed(0)} MiB peak, ${rssHolding.toFixed(0)} MiB holding the accepted sockets`,
  )
  log(
    `    /health from other addresses (another process, every 20 ms) throughout: ${probed.count} probes, ${probed.failures} failed, p50 ${probed.p50.toFixed(2)} ms, p99 ${probed.p99.toFixed(2)} ms, max ${probed.max.toFixed(2)} ms`,
  )
  return { attempts: next, seconds, accepted: outcomes.connected ?? 0, outcomes, rssBefore, rssMax, probe: probed }
}

/** The neighbour's GET /v1/items, sequential, from another process, for `ms`. */
async function neighbourFor(url: string, token: string, ms: number) {
  const neighbour = probe({
    PROBE_URL: url,
    PROBE_PATH: '/v1/items?limit=20',
    PROBE_TOKEN: token,
    PROBE_PREFIX: '127.0.70',
    // ~150/s: 30 s of it (before + during) stays inside the enterprise plan's 12,000/min, so
    // the neighbour's own budget never answers for it.
    PROBE_PAUSE_MS: '5',
  })
  await sleep(ms)
  return neighbour.stop()
}

/**
 * One socket writes AUTH_EVENTS `auth` events as fast as it can (500 per turn of its loop)
 * until the server cuts it; then the attacker reconnects and goes on, for `ms` in all, so the
 * neighbour is measured beside a sustained attack, not one cut socket.
 */
async function authFlood(url: string, token: string, ms: number) {
  let sent = 0
  let firstSocketSent = 0
  let processed = 0
  let refused = 0
  let connections = 0
  const handshakes: Record<string, number> = {}
  const started = performance.now()
  const payload = { token }
  while (sent < AUTH_EVENTS && performance.now() - started < ms) {
    const held: Socket[] = []
    const outcome = await attempt(url, token, '127.0.80.1', held)
    handshakes[outcome] = (handshakes[outcome] ?? 0) + 1
    if (outcome !== 'connected') {
      await sleep(50)
      continue
    }
    connections++
    const socket = held[0]!
    const gone = new Promise((resolve) => socket.once('disconnect', resolve))
    while (socket.connected && sent < AUTH_EVENTS) {
      for (let i = 0; i < 500 && sent < AUTH_EVENTS; i++) {
        sent++
        socket.emit('auth', payload, (answer: { ok: boolean }) => {
          if (answer.ok) processed++
          else refused++
        })
      }
      await new Promise((resolve) => setImmediate(resolve))
    }
    if (connections === 1) firstSocketSent = sent
    await Promise.race([gone, sleep(2000)])
    socket.close()
  }
  return {
    sent,
    firstSocketSent,
    processed,
    refused,
    connections,
    handshakes,
    seconds: (performance.now() - started) / 1000,
  }
}

async function register(url: string, n: number, address: string) {
  const slug = `bench-sockets-${n}-${randomBytes(3).toString('hex')}`
  const answer = await postFrom(url, address, '/v1/auth/register', {
    email: `${slug}@example.com`,
    password: 'bench password 1234',
    name: `Bench ${n}`,
    tenant: { name: `Bench ${n}`, slug },
  })
  if (answer.status !== 201) throw new Error(`register: ${answer.status} ${answer.body}`)
  return JSON.parse(answer.body) as { accessToken: string; tenant: { id: string } }
}

export type SocketScenario = {
  baseline: ProbeResult
  a: Awaited<ReturnType<typeof socketFlood>>
  b: Awaited<ReturnType<typeof socketFlood>>
  flood: Awaited<ReturnType<typeof authFlood>>
  budget: { limit: number; before: number; after: number | null; afterStatus: number }
  neighbour: { before: ProbeResult; during: ProbeResult; ratio: number }
}

/**
 * Runs A, B and C against an API of its own, started from `env` with the default limits: the
 * caller's raised rate limits would hide exactly what this scenario measures. The plans must carry
 * their shipped budgets (the caller restores them).
 */
export async function socketScenario(options: {
  apiScript: string
  env: NodeJS.ProcessEnv
  rootDbUrl: string
  log: (line: string) => void
}): Promise<SocketScenario> {
  const { apiScript, rootDbUrl, log } = options
  const env: NodeJS.ProcessEnv = { ...options.env }
  for (const name of [
    'RATE_LIMIT_PER_IP',
    'RATE_LIMIT_AUTH_PER_IP',
    'LOGIN_FAILURES_PER_ACCOUNT',
    'REALTIME_SOCKETS_PER_ADDRESS',
    'REALTIME_SOCKETS_PER_USER',
  ])
    delete env[name]
  const server = await startServer(apiScript, env)
  try {
    const attacker = await register(server.url, 1, '127.0.50.1')
    const neighbour = await register(server.url, 2, '127.0.50.2')
    // The neighbour's own load must not be what limits it.
    await withClient(rootDbUrl, (client) =>
      client.query(`update app_public.tenants set plan = 'enterprise' where id = $1`, [neighbour.tenant.id]),
    )

    // /health with no attack, for scale: the host's own noise (other processes) shows here too.
    const quiet = probe({ PROBE_URL: server.url, PROBE_PATH: '/health', PROBE_PREFIX: '127.0.61' })
    await sleep(5000)
    const baseline = await quiet.stop()
    log(
      `  /health with no attack (5 s): ${baseline.count} probes, ${baseline.failures} failed, p50 ${baseline.p50.toFixed(2)} ms, p99 ${baseline.p99.toFixed(2)} ms`,
    )
    const a = await socketFlood(log, 'A. socket attempts, one account', server.url, server.pid, attacker.accessToken, 1)
    await sleep(1000)
    const b = await socketFlood(log, 'B. socket attempts, no valid token', server.url, server.pid, 'not-a-token', 2)

    log('  C. `auth` events from one attacker socket; a neighbour tenant beside it')
    type Usage = { usage: { requestsPerMinute: { used: number; limit: number; resetSeconds: number } } }
    const usage = async (address: string) => {
      const answer = await getFrom(server.url, '/v1/tenant', address, attacker.accessToken)
      if (answer.status !== 200) throw new Error(`GET /v1/tenant: ${answer.status} ${answer.body}`)
      return (JSON.parse(answer.body) as Usage).usage.requestsPerMinute
    }
    // The attack and both budget reads must fall in one window of the tenant's counter.
    const window = await usage('127.0.90.1')
    if (window.resetSeconds < 45) await sleep((window.resetSeconds + 1) * 1000)
    const before = await neighbourFor(server.url, neighbour.accessToken, 10_000)
    const budgetBefore = await usage('127.0.90.2')
    const neighbourDuring = neighbourFor(server.url, neighbour.accessToken, 20_000)
    const flood = await authFlood(server.url, attacker.accessToken, 20_000)
    const during = await neighbourDuring
    const budgetAfter = await getFrom(server.url, '/v1/tenant', '127.0.90.3', attacker.accessToken)
    const after = budgetAfter.status === 200 ? (JSON.parse(budgetAfter.body) as Usage).usage.requestsPerMinute : null
    const ratio = during.p99 / before.p99
    log(
      `    the first socket wrote ${flood.firstSocketSent} events before the server cut it; ${flood.sent} events over ${flood.connections} connections in ${flood.seconds.toFixed(1)} s; handshakes ${JSON.stringify(flood.handshakes)}`,
    )
    log(
      `    answered ok (auth processed and acked) ${flood.processed}; answered with a problem ${flood.refused}; the rest dropped with their socket`,
    )
    // The reads themselves: the "after" GET counts itself.
    const charged = after
      ? `${after.used} used, ${after.used - budgetBefore.used - 1} charged by the handshakes and events`
      : `${budgetAfter.status}, the whole budget spent`
    log(
      `    attacker tenant budget (plan ${budgetBefore.limit}/min): used ${budgetBefore.used} before; after: ${charged}`,
    )
    log(
      `    neighbour GET /v1/items (another process, another tenant): before p50 ${before.p50.toFixed(2)} ms p99 ${before.p99.toFixed(2)} ms (${before.count}, ${before.failures} failed); during p50 ${during.p50.toFixed(2)} ms p99 ${during.p99.toFixed(2)} ms (${during.count}, ${during.failures} failed); p99 ratio ${ratio.toFixed(2)} (target ≤ 2)`,
    )
    return {
      baseline,
      a,
      b,
      flood,
      budget: {
        limit: budgetBefore.limit,
        before: budgetBefore.used,
        after: after?.used ?? null,
        afterStatus: budgetAfter.status,
      },
      neighbour: { before, during, ratio },
    }
  } finally {
    await server.stop()
  }
}
