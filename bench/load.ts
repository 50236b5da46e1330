import { fork } from 'node:child_process'
import http from 'node:http'
import { performance } from 'node:perf_hooks'
import autocannon, { type Request } from 'autocannon'
import type { CpuUse } from './cpu.ts'

/** Latency samples in ms at full precision (autocannon's own histogram rounds to 1 ms). Bounded. */
export class Latencies {
  private values = new Float64Array(1 << 21)
  count = 0

  add(ms: number): void {
    if (this.count < this.values.length) this.values[this.count++] = ms
  }

  addAll(other: Latencies): void {
    for (let i = 0; i < other.count; i++) this.add(other.values[i]!)
  }

  summary(): { p50: number; p99: number; max: number } {
    const sorted = this.values.slice(0, this.count).sort()
    const at = (q: number) =>
      sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!
    return { p50: at(0.5), p99: at(0.99), max: at(1) }
  }
}

/** One measured slice: what the client saw, and (filled in by the caller) who used the CPU. */
export type Slice = {
  ok: number
  failed: number
  seconds: number
  latencies: Latencies
  statusCodes: Record<string, number>
  cpu?: CpuUse
}

export type LoadResult = {
  /** Successful (2xx) responses or transactions per second. */
  rps: number
  ok: number
  failed: number
  seconds: number
  p50: number
  p99: number
  max: number
  statusCodes: Record<string, number>
  /** Cores each process group kept busy meanwhile (see cpu.ts), averaged over the slices. */
  cpu?: CpuUse
}

/** Several slices of the same variant, measured at different times, as one result. */
export function combine(slices: Slice[]): LoadResult {
  const latencies = new Latencies()
  const statusCodes: Record<string, number> = {}
  let ok = 0
  let failed = 0
  let seconds = 0
  for (const slice of slices) {
    latencies.addAll(slice.latencies)
    ok += slice.ok
    failed += slice.failed
    seconds += slice.seconds
    for (const [code, count] of Object.entries(slice.statusCodes)) statusCodes[code] = (statusCodes[code] ?? 0) + count
  }
  const cpus = slices.map((slice) => slice.cpu).filter((cpu): cpu is CpuUse => cpu !== undefined)
  const wall = cpus.reduce((sum, cpu) => sum + cpu.wallSeconds, 0)
  const average = (key: Exclude<keyof CpuUse, 'wallSeconds'>) =>
    cpus.some((cpu) => cpu[key] === null) || wall === 0
      ? null
      : cpus.reduce((sum, cpu) => sum + cpu[key]! * cpu.wallSeconds, 0) / wall
  const cpu: CpuUse | undefined = cpus.length
    ? {
        loadGenerator: average('loadGenerator'),
        server: average('server'),
        postgres: average('postgres'),
        machine: average('machine'),
        steal: average('steal'),
        wallSeconds: wall,
      }
    : undefined
  return { rps: ok / seconds, ok, failed, seconds, ...latencies.summary(), statusCodes, ...(cpu ? { cpu } : {}) }
}

/** Counts a response: 2xx is throughput and latency, anything else is a failure. */
function responseCounter() {
  const slice = { ok: 0, failed: 0, latencies: new Latencies(), statusCodes: {} as Record<string, number> }
  const record = (status: number, ms: number) => {
    slice.statusCodes[status] = (slice.statusCodes[status] ?? 0) + 1
    if (status >= 200 && status < 300) {
      slice.ok++
      slice.latencies.add(ms)
    } else slice.failed++
  }
  return { slice, record }
}

/**
 * Closed-loop HTTP load with autocannon: `connections` keep one request in flight each, for
 * `seconds`. Connection errors and timeouts count as failures.
 */
export async function closedLoop(options: {
  url: string
  connections: number
  seconds: number
  requests: Request[]
}): Promise<Slice> {
  const { slice, record } = responseCounter()
  const started = performance.now()
  const instance = autocannon({
    url: options.url,
    connections: options.connections,
    duration: options.seconds,
    timeout: 10,
    requests: options.requests,
  })
  instance.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => record(status, ms))
  const result = await instance
  return { ...slice, failed: slice.failed + result.errors, seconds: (performance.now() - started) / 1000 }
}

/** A closed-loop autocannon run that goes on until `stop()`, for background load (the login flood). */
export function background(options: { url: string; connections: number; requests: Request[]; timeoutSeconds: number }) {
  const { slice, record } = responseCounter()
  const started = performance.now()
  const instance = autocannon({
    url: options.url,
    connections: options.connections,
    duration: 3600, // ended by stop(); the caller's scenario is the bound
    timeout: options.timeoutSeconds,
    requests: options.requests,
  })
  instance.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => record(status, ms))
  return {
    stop: async (): Promise<Slice> => {
      instance.stop()
      const result = await instance
      return { ...slice, failed: slice.failed + result.errors, seconds: (performance.now() - started) / 1000 }
    },
  }
}

/**
 * A closed-loop GET load from a child process (bench/noisy-client.ts): another client, whose
 * responses are parsed on its own event loop, not on the one that times the measured client.
 * `start()` begins a run, `stop()` ends it with its status counts; `close()` ends the process.
 */
export async function noisyClient(options: {
  url: string
  connections: number
  path: string
  headers: Record<string, string>
}) {
  // No inherited execArgv: under a test runner that would load its hooks into the client too.
  const child = fork(new URL('./noisy-client.ts', import.meta.url), {
    execArgv: [],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const reply = <T>() =>
    new Promise<T>((resolve, reject) => {
      const onExit = () => reject(new Error('the noisy client exited'))
      child.once('exit', onExit)
      child.once('message', (message) => {
        child.off('exit', onExit)
        resolve(message as T)
      })
    })
  let startedAt = 0
  return {
    pid: child.pid ?? null,
    start: async () => {
      const started = reply<{ started: true }>()
      child.send({ start: options })
      await started
      startedAt = performance.now()
    },
    stop: async (): Promise<{ statusCodes: Record<string, number>; errors: number; seconds: number }> => {
      const stopped = reply<{ statusCodes: Record<string, number>; errors: number }>()
      child.send({ stop: true })
      return { ...(await stopped), seconds: (performance.now() - startedAt) / 1000 }
    },
    close: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.send({ exit: true })
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(timer)
    },
  }
}

/** A response as `postFrom` saw it. */
export type Answer = { status: number; headers: http.IncomingHttpHeaders; body: string; ms: number }

/**
 * A real HTTP POST of JSON from `localAddress`: Linux routes all of 127.0.0.0/8 to loopback, so
 * the server sees a distinct client for every 127.x.y.z the socket binds to. No agent: each
 * request is a fresh connection from that address. `headers` are sent too (e.g. x-device-token).
 */
export function postFrom(
  url: string,
  localAddress: string,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const started = performance.now()
  const payload = JSON.stringify(body)
  const { hostname, port } = new URL(url)
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: hostname,
        port,
        path,
        method: 'POST',
        localAddress,
        agent: false,
        headers: { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
      },
      (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (chunk) => {
          text += chunk
        })
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text, ms: performance.now() - started }),
        )
      },
    )
    req.on('error', reject)
    req.end(payload)
  })
}

/**
 * A real HTTP GET from `localAddress` (see `postFrom`), a fresh connection each time, with an
 * optional bearer token; status 0 is a connection error or a 10 s timeout.
 */
export function getFrom(url: string, path: string, localAddress: string, token?: string): Promise<Answer> {
  const started = performance.now()
  const { hostname, port } = new URL(url)
  return new Promise((resolve) => {
    const req = http.request(
      {
        host: hostname,
        port,
        path,
        localAddress,
        agent: false,
        timeout: 10_000,
        headers: token ? { authorization: `Bearer ${token}` } : {},
      },
      (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (chunk) => {
          text += chunk
        })
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text, ms: performance.now() - started }),
        )
      },
    )
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', () => resolve({ status: 0, headers: {}, body: '', ms: performance.now() - started }))
    req.end()
  })
}

/**
 * Open-loop GET load at a fixed rate: request i is due at start + i/rate whatever happened to
 * the previous ones, and its latency is measured from that due time, so a stalled server shows
 * up in the percentiles (no coordinated omission) instead of slowing the load down. Bounded:
 * exactly rate × seconds requests, each with a 30 s timeout.
 */
export async function openLoop(options: {
  url: string
  rate: number
  seconds: number
  maxSockets: number
  headers: () => Record<string, string>
}): Promise<Slice> {
  const { slice, record } = responseCounter()
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.maxSockets })
  const total = Math.round(options.rate * options.seconds)
  const interval = 1000 / options.rate
  let sent = 0
  let settled = 0
  const start = performance.now()
  await new Promise<void>((resolve) => {
    const finish = (due: number, status: number) => {
      record(status, performance.now() - due)
      if (++settled === total) resolve()
    }
    const fire = (due: number) => {
      const request = http.get(options.url, { agent, headers: options.headers(), timeout: 30_000 }, (res) => {
        res.resume()
        res.on('end', () => finish(due, res.statusCode ?? 0))
        res.on('error', () => finish(due, 0))
      })
      request.on('timeout', () => request.destroy(new Error('timeout')))
      request.on('error', () => finish(due, 0))
    }
    const tick = () => {
      const due = Math.min(total, Math.floor((performance.now() - start) / interval) + 1)
      for (; sent < due; sent++) fire(start + sent * interval)
      if (sent < total) setTimeout(tick, 1)
    }
    tick()
  })
  agent.destroy()
  return { ...slice, seconds: (performance.now() - start) / 1000 }
}

/**
 * Runs `task` from `concurrency` loops until `seconds` have passed; each completed task is one
 * sample (status 200), a thrown error a failure. For the database ceiling: no HTTP at all.
 */
export async function loop(options: {
  concurrency: number
  seconds: number
  task: () => Promise<void>
}): Promise<Slice> {
  const { slice, record } = responseCounter()
  let firstError: unknown
  const start = performance.now()
  const deadline = start + options.seconds * 1000
  const worker = async () => {
    while (performance.now() < deadline) {
      const t0 = performance.now()
      try {
        await options.task()
        record(200, performance.now() - t0)
      } catch (error) {
        record(500, performance.now() - t0)
        firstError ??= error
      }
    }
  }
  await Promise.all(Array.from({ length: options.concurrency }, worker))
  if (firstError) console.error('  first error:', firstError)
  return { ...slice, seconds: (performance.now() - start) / 1000 }
}
