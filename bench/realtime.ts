import { performance } from 'node:perf_hooks'
import type { Request } from 'autocannon'
import pg from 'pg'
import { io, type Socket } from 'socket.io-client'
import { type CpuUse, measureCpu } from './cpu.ts'
import { closedLoop, combine, Latencies, type LoadResult, type Slice } from './load.ts'
import { startServer } from './processes.ts'

/**
 * Scenario 5, realtime fan-out: two API processes, `sockets` Socket.IO clients spread over both
 * and over `tenants` tenants, writes through instance 1 at a fixed rate. Every write's event must
 * reach every socket of its tenant: delivered/expected, and the latency from its commit (the
 * moment a LISTEN connection of this process receives the NOTIFY, which PostgreSQL sends at
 * commit) to each socket receiving it; beside it, from the write being sent (which adds the
 * write's own request time). Then the write-path cost of realtime: POST /v1/items
 * with the NOTIFY trigger and the xid8 position (column default and its two indexes) vs without,
 * alternating in the same run.
 */
export type RealtimeResult = {
  sockets: number
  tenants: number
  writesPerSecond: number
  seconds: number
  expected: number
  delivered: number
  /** NOTIFY seen by the load generator (the commit) → socket received. */
  latency: { p50: number; p99: number; max: number }
  /** The write's POST sent → socket received (includes the write's own request time). */
  sentToReceive: { p50: number; p99: number; max: number }
  writeLatency: { p50: number; p99: number }
  cores: { instance1: number | null; instance2: number | null; postgres: number | null; loadGenerator: number | null }
  /** Null when the scenario ran without it (measureWritePath: false). */
  writePath: { with: LoadResult; without: LoadResult; ratio: number } | null
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
/** Sockets opened at once while connecting (see the scenario). */
const RAMP = 500

export async function realtimeScenario(options: {
  apiScript: string
  env: NodeJS.ProcessEnv
  rootDbUrl: string
  postmasterPid: number
  tokens: { token: string; tenantId: string }[]
  sockets: number
  tenants: number
  writesPerSecond: number
  seconds: number
  connections: number
  writeSeconds: number
  rounds: number
  /** V8 CPU profiles of both instances go here (BENCH_CPU_PROF). */
  cpuProfDir?: string | undefined
  /** Also measure the write path with vs without NOTIFY + xid8 (default true). */
  measureWritePath?: boolean
  log: (message: string) => void
}): Promise<RealtimeResult> {
  const { log } = options
  const root = new pg.Pool({ connectionString: options.rootDbUrl, max: 1 })
  root.on('error', () => {})
  const profile = options.cpuProfDir ? { cpuProfDir: options.cpuProfDir } : {}
  const [one, two] = await Promise.all([
    startServer(options.apiScript, options.env, profile),
    startServer(options.apiScript, options.env, profile),
  ])
  const clients: Socket[] = []
  // ---- write-path cost: with vs without NOTIFY + the xid8 position -----------------------
  const measureWritePath = async () => {
    const writeToken = options.tokens.slice(0, options.tenants)
    const writeRequests: Request[] = [
      {
        method: 'POST',
        path: '/v1/items',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'bench item', payload: { colour: 'red', size: 3 } }),
        setupRequest: (request) => {
          request.headers = {
            ...request.headers,
            authorization: `Bearer ${writeToken[Math.floor(Math.random() * writeToken.length)]!.token}`,
          }
          return request
        },
      },
    ]
    const realtimeOff = async (off: boolean) => {
      await root.query(
        off
          ? `alter table app_public.activities disable trigger _900_notify;
             alter table app_public.activities alter column tx set default '0'::xid8;
             drop index if exists app_public.activities_tenant_tx_seq_idx;
             drop index if exists app_public.activities_tx_seq_idx;`
          : `alter table app_public.activities enable trigger _900_notify;
             alter table app_public.activities alter column tx set default pg_catalog.pg_current_xact_id();
             create index if not exists activities_tenant_tx_seq_idx on app_public.activities (tenant_id, tx, seq);
             create unique index if not exists activities_tx_seq_idx on app_public.activities (tx, seq);`,
      )
    }
    const slices: Record<'with' | 'without', Slice[]> = { with: [], without: [] }
    const sliceSeconds = Math.max(1, Math.round(options.writeSeconds / options.rounds))
    await closedLoop({ url: one.url, connections: options.connections, seconds: 1, requests: writeRequests })
    for (let round = 0; round < options.rounds; round++) {
      for (const variant of round % 2 === 0 ? (['with', 'without'] as const) : (['without', 'with'] as const)) {
        await realtimeOff(variant === 'without')
        slices[variant].push(
          await closedLoop({
            url: one.url,
            connections: options.connections,
            seconds: sliceSeconds,
            requests: writeRequests,
          }),
        )
      }
    }
    await realtimeOff(false)
    // Rows written with tx = 0 while "without" ran are history far below any cursor: harmless,
    // and no socket is connected yet to be owed them.
    const withResult = combine(slices.with)
    const withoutResult = combine(slices.without)
    const ratio = withResult.rps / withoutResult.rps
    log(
      `  write path: with NOTIFY + xid8 ${withResult.rps.toFixed(0)}/s p99 ${withResult.p99.toFixed(2)} ms; without ${withoutResult.rps.toFixed(0)}/s p99 ${withoutResult.p99.toFixed(2)} ms; ratio ${ratio.toFixed(2)}`,
    )
    return { with: withResult, without: withoutResult, ratio }
  }
  try {
    const writePath = options.measureWritePath === false ? null : await measureWritePath()

    // ---- fan-out -------------------------------------------------------------------------
    const tenants = options.tokens.slice(0, options.tenants)
    // The commit instant, as a listener on this machine sees it: PostgreSQL sends NOTIFY at commit.
    // Keyed by tenant and id: activity ids are per tenant.
    const committedAt = new Map<string, number>()
    const commitToReceive = new Latencies()
    const listener = new pg.Client({ connectionString: options.rootDbUrl })
    // An error event with no listener would end the whole bench with a stack trace; a lost
    // listener only costs this scenario its commit instants, so it is said and the run goes on.
    listener.on('error', (error) => log(`  the commit-instant listener failed: ${error.message}`))
    await listener.connect()
    listener.on('notification', (message) => {
      const { tenantId, id } = JSON.parse(message.payload ?? '{}') as { tenantId?: string; id?: number }
      if (typeof id === 'number') committedAt.set(`${tenantId}:${id}`, performance.now())
    })
    await listener.query('listen tenantry_activity')
    const perTenant = new Map<string, number>()
    const receivedAt = new Map<string, number[]>() // write id → receive times
    const connectErrors: Record<string, number> = {}
    const open = (i: number) => {
      const { token, tenantId } = tenants[i % tenants.length]!
      perTenant.set(tenantId, (perTenant.get(tenantId) ?? 0) + 1)
      const socket = io(i % 2 === 0 ? one.url : two.url, {
        path: '/socket.io',
        transports: ['websocket'],
        auth: { token },
        reconnection: true,
      })
      socket.on('ITEM_CREATED', (activity: { id: number; tenantId: string; payload: { name?: string } }) => {
        const at = performance.now()
        const name = activity.payload.name ?? ''
        if (!name.startsWith('rt ')) return
        const list = receivedAt.get(name)
        if (list) list.push(at)
        else receivedAt.set(name, [at])
        const committed = committedAt.get(`${activity.tenantId}:${activity.id}`)
        if (committed !== undefined) commitToReceive.add(at - committed)
      })
      socket.on('connect_error', (error: Error & { data?: { status?: number; type?: string } }) => {
        const kind = error.data?.type ?? error.message
        connectErrors[kind] = (connectErrors[kind] ?? 0) + 1
        // Refused by the server's middleware: socket.io-client does not retry that by itself. A
        // refusal for load (429, 503) is tried again after a moment, as the dashboard does.
        const status = error.data?.status
        if (!socket.active && (status === 429 || status === 503))
          setTimeout(() => socket.connect(), 1000 + Math.random() * 4000)
      })
      clients.push(socket)
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`a socket did not go live within 60 s (refusals: ${JSON.stringify(connectErrors)})`)),
          60_000,
        )
        socket.once('live', () => {
          clearTimeout(timer)
          resolve()
        })
      })
    }
    // Clients arrive in waves of RAMP, each live before the next: every handshake checks its
    // session in the database, and 10,000 at the same instant would only measure the pool's
    // acquire timeout, not fan-out.
    const connectStarted = performance.now()
    for (let first = 0; first < options.sockets; first += RAMP) {
      const wave: Promise<void>[] = []
      for (let i = first; i < Math.min(first + RAMP, options.sockets); i++) wave.push(open(i))
      await Promise.all(wave)
    }
    const connectSeconds = (performance.now() - connectStarted) / 1000
    log(
      `  ${clients.length} sockets live on 2 instances over ${tenants.length} tenants (connected in waves of ${RAMP} in ${connectSeconds.toFixed(1)} s; handshakes refused on the way, then retried: ${JSON.stringify(connectErrors)})`,
    )

    const sent = new Map<string, { at: number; tenantId: string }>()
    const writeLatencies = new Latencies()
    let failedWrites = 0
    const cpu1 = measureCpu(one.pid, options.postmasterPid)
    const cpu2 = measureCpu(two.pid, options.postmasterPid)
    const interval = 1000 / options.writesPerSecond
    const total = options.writesPerSecond * options.seconds
    const start = performance.now()
    const inFlight: Promise<void>[] = []
    for (let n = 0; n < total; n++) {
      const due = start + n * interval
      const wait = due - performance.now()
      if (wait > 0) await sleep(wait)
      const { token, tenantId } = tenants[n % tenants.length]!
      const name = `rt ${n}`
      const at = performance.now()
      sent.set(name, { at, tenantId })
      inFlight.push(
        fetch(`${one.url}/v1/items`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ name }),
        }).then(
          async (res) => {
            await res.arrayBuffer()
            if (res.status === 201) writeLatencies.add(performance.now() - at)
            else {
              failedWrites++
              sent.delete(name)
            }
          },
          () => {
            failedWrites++
            sent.delete(name)
          },
        ),
      )
    }
    await Promise.all(inFlight)
    const expected = [...sent.values()].reduce((sum, { tenantId }) => sum + (perTenant.get(tenantId) ?? 0), 0)
    const deadline = performance.now() + 10_000
    const delivered = () => [...receivedAt.values()].reduce((sum, list) => sum + list.length, 0)
    while (delivered() < expected && performance.now() < deadline) await sleep(50)
    const use1: CpuUse = cpu1()
    const use2: CpuUse = cpu2()
    const latencies = new Latencies()
    for (const [name, list] of receivedAt) {
      const write = sent.get(name)
      if (write) for (const at of list) latencies.add(at - write.at)
    }
    await listener.end()
    const summary = latencies.summary()
    const commit = commitToReceive.summary()
    const writes = writeLatencies.summary()
    const result: RealtimeResult = {
      sockets: clients.length,
      tenants: tenants.length,
      writesPerSecond: options.writesPerSecond,
      seconds: options.seconds,
      expected,
      delivered: delivered(),
      latency: commit,
      sentToReceive: summary,
      writeLatency: { p50: writes.p50, p99: writes.p99 },
      cores: {
        instance1: use1.server,
        instance2: use2.server,
        postgres: use1.postgres,
        loadGenerator: use1.loadGenerator,
      },
      writePath,
    }
    log(
      `  ${sent.size} writes (${failedWrites} failed) at ${options.writesPerSecond}/s for ${options.seconds} s: delivered ${result.delivered} of ${expected} (${((100 * result.delivered) / Math.max(1, expected)).toFixed(2)}%)`,
    )
    log(
      `  commit (NOTIFY seen here) → socket received: p50 ${commit.p50.toFixed(2)} ms, p99 ${commit.p99.toFixed(2)} ms, max ${commit.max.toFixed(2)} ms`,
    )
    log(
      `  write sent → socket received: p50 ${summary.p50.toFixed(2)} ms, p99 ${summary.p99.toFixed(2)} ms, max ${summary.max.toFixed(2)} ms (the write itself: p50 ${writes.p50.toFixed(2)} ms, p99 ${writes.p99.toFixed(2)} ms)`,
    )
    log(
      `  cores busy: instance 1 ${use1.server?.toFixed(2) ?? '?'}, instance 2 ${use2.server?.toFixed(2) ?? '?'}, PostgreSQL ${use1.postgres?.toFixed(2) ?? '?'}, load generator (and its sockets) ${use1.loadGenerator?.toFixed(2) ?? '?'}`,
    )
    return result
  } finally {
    for (const socket of clients) socket.close()
    await Promise.all([one.stop(), two.stop()])
    await root.end()
  }
}
