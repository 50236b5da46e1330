/**
 * Rate limits in Redis (REDIS_URL). The shared-budget test needs a Redis: TEST_REDIS_URL, or the
 * one on 127.0.0.1:6379 (`.ci/run` runs this file against it); it is skipped, saying so, when none
 * answers. The outage test starts its own redis-server (to pause and kill it) when the binary is
 * installed, and is skipped, saying so, when it is not.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { request } from 'node:http'
import { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import { REDIS_COMMAND_TIMEOUT_MS } from '../../src/limits/store.ts'
import { freePort } from '../../src/net.ts'
import { buildTestApp } from '../helpers/app.ts'
import { createTestDatabase } from '../helpers/db.ts'
import { redisAnswers, TEST_REDIS_URL } from '../helpers/redis.ts'
import { waitFor } from '../helpers/wait.ts'

const REDIS_URL = TEST_REDIS_URL
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const tally = (values: number[]) =>
  values.reduce<Record<string, number>>((acc, v) => {
    acc[v] = (acc[v] ?? 0) + 1
    return acc
  }, {})

/** GET from a chosen loopback source address (the server sees it as the client). */
function get(port: number, path: string, localAddress: string): Promise<{ status: number; remaining: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, localAddress, agent: false }, (res) => {
      res.resume()
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, remaining: String(res.headers['ratelimit-remaining']) }),
      )
    })
    req.on('error', reject)
    req.end()
  })
}

/** src/server.ts in its own process, as `npm start` runs it. */
async function startApi(t: Test, env: Record<string, string>) {
  const port = await freePort()
  const child = spawn(process.execPath, ['src/server.ts'], {
    env: {
      PATH: process.env.PATH ?? '',
      NODE_ENV: 'test',
      LOG_LEVEL: 'warn',
      HOST: '127.0.0.1',
      PORT: String(port),
      ...env,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  t.teardown(() => {
    child.kill('SIGKILL')
  })
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`API exited with ${child.exitCode}`)
    if (
      await fetch(`http://127.0.0.1:${port}/health`).then(
        (r) => r.ok,
        () => false,
      )
    )
      return port
    await sleep(100)
  }
  throw new Error('API not ready after 30 s')
}

const sharedRedis = (await redisAnswers(REDIS_URL))
  ? false
  : `no Redis answers at ${REDIS_URL} (set TEST_REDIS_URL, or start one on 127.0.0.1:6379)`
if (sharedRedis) console.log(`# skipped the shared-budget test: ${sharedRedis}`)
let redisServer = ''
try {
  redisServer = execFileSync('which', ['redis-server'], { encoding: 'utf8' }).trim()
} catch {}
const ownRedis = redisServer ? false : 'redis-server is not installed, so no Redis can be paused or stopped here'
if (ownRedis) console.log(`# skipped the outage test: ${ownRedis}`)

t.test('two API processes share one budget through Redis', { skip: sharedRedis }, async (t) => {
  const db = await createTestDatabase(t)
  const env = {
    DATABASE_URL: db.appUrl,
    REDIS_URL,
    // Per test run: other runs on the same Redis keep their own counters.
    REDIS_KEY_PREFIX: `tenantry-test:${randomBytes(6).toString('hex')}:`,
    RATE_LIMIT_PER_IP: '25',
    DATABASE_POOL_SIZE: '2',
    PASSWORD_HASH_THREADS: '1',
  }
  const [one, two] = await Promise.all([startApi(t, env), startApi(t, env)])
  // Both processes count in Redis once each sees the other's request (a process that has not
  // reached Redis yet counts locally, by design).
  for (let i = 0, shared = false; !shared; i++) {
    if (i > 100) throw new Error('the two API processes never shared a counter in Redis')
    const a = await get(one, '/health', `127.9.${i}.1`)
    const b = await get(two, '/health', `127.9.${i}.1`)
    shared = a.remaining === '24' && b.remaining === '23'
    if (!shared) await sleep(100)
  }
  for (let round = 0; round < 3; round++) {
    const address = `127.8.${round}.1`
    const results = await Promise.all(Array.from({ length: 60 }, (_, i) => get(i % 2 ? one : two, '/health', address)))
    const outcome = tally(results.map((r) => r.status))
    t.same(outcome, { 200: 25, 429: 35 }, `round ${round}: 60 requests over two processes, one budget of 25`)
    t.comment(
      `shared budget, round ${round}: 60 requests alternating between 2 API processes → ${JSON.stringify(outcome)}`,
    )
  }
  const first = await get(one, '/health', '127.8.9.1')
  const second = await get(two, '/health', '127.8.9.1')
  t.same([first.remaining, second.remaining], ['24', '23'], 'each process sees the other one count')
})

t.test('Redis paused or down: 0 errors, bounded latency, limits per instance', { skip: ownRedis }, async (t) => {
  const port = await freePort()
  const server: ChildProcess = spawn(
    redisServer,
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    {
      stdio: 'ignore',
    },
  )
  t.teardown(() => {
    server.kill('SIGCONT')
    server.kill('SIGKILL')
  })
  const url = `redis://127.0.0.1:${port}`
  await waitFor(`redis-server to answer at ${url}`, () => redisAnswers(url), { timeoutMs: 5000, intervalMs: 20 })
  const { app } = await buildTestApp(t, { env: { REDIS_URL: url, RATE_LIMIT_PER_IP: '1000' } })

  /** `count` parallel requests from one address: statuses and the slowest answer. */
  const burst = async (address: string, count: number) => {
    const started = performance.now()
    const results = await Promise.all(
      Array.from({ length: count }, async () => {
        const began = performance.now()
        const res = await app.inject({ method: 'GET', url: '/health', remoteAddress: address })
        return { status: res.statusCode, ms: performance.now() - began }
      }),
    )
    return {
      statuses: tally(results.map((r) => r.status)),
      slowest: Math.max(...results.map((r) => r.ms)),
      took: performance.now() - started,
    }
  }

  const shared = await burst('10.20.0.1', 20)
  t.same(shared.statuses, { 200: 20 })
  const inRedis = new Redis(url)
  t.teardown(() => inRedis.disconnect())
  t.equal(await inRedis.get('tenantry:rl:ip:10.20.0.1'), '20', 'counted in Redis while it answers')

  server.kill('SIGSTOP')
  const paused = []
  for (let i = 0; i < 5; i++) paused.push(await burst('10.20.0.2', 20))
  const pausedSlowest = Math.max(...paused.map((p) => p.slowest))
  t.same(
    tally(paused.flatMap((p) => Object.entries(p.statuses).flatMap(([s, n]) => Array(n).fill(Number(s))))),
    { 200: 100 },
    'paused: every request answered, none 5xx',
  )
  t.ok(pausedSlowest < REDIS_COMMAND_TIMEOUT_MS + 1000, `paused: slowest answer ${pausedSlowest.toFixed(0)} ms`)
  server.kill('SIGCONT')

  const exited = once(server, 'exit')
  server.kill('SIGKILL')
  await exited
  const down = []
  for (let i = 0; i < 5; i++) down.push(await burst('10.20.0.3', 20))
  const downSlowest = Math.max(...down.map((p) => p.slowest))
  t.same(
    down.map((d) => d.statuses),
    Array(5).fill({ 200: 20 }),
    'down: every request answered, none 5xx',
  )
  t.ok(downSlowest < REDIS_COMMAND_TIMEOUT_MS + 1000, `down: slowest answer ${downSlowest.toFixed(0)} ms`)

  // The limits still hold, per instance, while Redis is away.
  const local = await burst('10.20.0.4', 1010)
  t.same(local.statuses, { 200: 1000, 429: 10 }, 'down: the in-process counters still enforce the limit')
  t.comment(
    `Redis paused: 100 requests, 0 errors, slowest ${pausedSlowest.toFixed(0)} ms; Redis killed: 100 requests, 0 errors, slowest ${downSlowest.toFixed(0)} ms; then 1010 requests → ${JSON.stringify(local.statuses)} (local counters)`,
  )
})
