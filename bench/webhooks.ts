/**
 * Webhook deliveries (issue 22): the API (its own process, RUN_JOBS off) takes `events` item
 * writes, 20 in flight, for one tenant with one endpoint; a worker process (`npm run worker`)
 * delivers them to a receiver on loopback in this process. Measured: deliveries per second
 * (first write to last delivery), and commit → delivery latency per event (the write's 201,
 * sent after its commit, to the receiver's arrival), p50 and p99. Every delivery must arrive, once.
 * Then the ceiling: `events` more written while the endpoint is disabled, and the time one worker
 * takes to deliver that backlog once it is enabled again.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { performance } from 'node:perf_hooks'
import { withClient } from '../src/db/bootstrap.ts'
import { startServer } from './processes.ts'

export type WebhookBenchResult = {
  events: number
  delivered: number
  duplicates: number
  deliveriesPerSecond: number
  writesPerSecond: number
  latency: { p50: number; p99: number; max: number }
  /** A backlog written while the endpoint was disabled, then enabled: how fast one worker drains it. */
  backlog: { events: number; deliveriesPerSecond: number }
}

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!

export async function webhookScenario(options: {
  apiScript: string
  workerScript: string
  env: NodeJS.ProcessEnv
  ownerUrl: string
  rootUrl: string
  token: string
  tenantId: string
  events: number
  log: (message: string) => void
}): Promise<WebhookBenchResult> {
  // The tenant's plan must not be the limit measured here.
  await withClient(options.rootUrl, (client) =>
    client.query(`update app_public.tenants set plan = 'enterprise' where id = $1`, [options.tenantId]),
  )
  const arrivals = new Map<string, number>()
  let received = 0
  const receiver = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      received++
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { data: { target: string } }
      if (!arrivals.has(body.data.target)) arrivals.set(body.data.target, performance.now())
      res.writeHead(204).end()
    })
  })
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
  const hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`

  const env = { ...options.env, WEBHOOK_ALLOW_PRIVATE: 'true', RUN_JOBS: 'false' }
  const api = await startServer(options.apiScript, env)
  let worker: ChildProcess | null = null
  try {
    const headers = { 'content-type': 'application/json', authorization: `Bearer ${options.token}` }
    const created = await fetch(`${api.url}/v1/webhooks`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ url: hookUrl, events: ['ITEM_CREATED'] }),
    })
    if (created.status !== 201) throw new Error(`webhook endpoint: ${created.status} ${await created.text()}`)
    worker = spawn(process.execPath, [options.workerScript], {
      env: { ...env, DATABASE_OWNER_URL: options.ownerUrl, WORKER_CONCURRENCY: '5' },
      stdio: ['ignore', 'inherit', 'inherit'],
    })

    const committed = new Map<string, number>()
    let next = 0
    const started = performance.now()
    const write = async () => {
      while (next < options.events) {
        next++
        const res = await fetch(`${api.url}/v1/items`, {
          method: 'POST',
          headers,
          body: JSON.stringify({ name: 'hook' }),
        })
        const at = performance.now()
        if (res.status !== 201) throw new Error(`write: ${res.status} ${await res.text()}`)
        committed.set(((await res.json()) as { id: string }).id, at)
      }
    }
    await Promise.all(Array.from({ length: 20 }, write))
    const writesDone = performance.now()
    const deadline = Date.now() + 120_000
    while (arrivals.size < options.events && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
    await new Promise((r) => setTimeout(r, 500)) // a duplicate would arrive by now
    const latencies = [...committed].flatMap(([id, at]) => {
      const arrived = arrivals.get(id)
      return arrived === undefined ? [] : [arrived - at]
    })
    latencies.sort((a, b) => a - b)
    const live = {
      delivered: arrivals.size,
      deliveriesPerSecond: arrivals.size / ((Math.max(...arrivals.values()) - started) / 1000),
    }
    const endpointId = ((await created.clone().json()) as { id: string }).id
    const setEnabled = (enabled: boolean) =>
      fetch(`${api.url}/v1/webhooks/${endpointId}`, { method: 'PATCH', headers, body: JSON.stringify({ enabled }) })
    await setEnabled(false)
    const before = arrivals.size
    next = 0
    await Promise.all(Array.from({ length: 20 }, write))
    const drainStarted = performance.now()
    await setEnabled(true)
    while (arrivals.size < before + options.events && Date.now() < deadline + 120_000)
      await new Promise((r) => setTimeout(r, 20))
    const drainLast = Math.max(...arrivals.values())
    await new Promise((r) => setTimeout(r, 500)) // a duplicate would arrive by now
    const result: WebhookBenchResult = {
      events: options.events,
      delivered: live.delivered,
      duplicates: received - arrivals.size,
      deliveriesPerSecond: live.deliveriesPerSecond,
      writesPerSecond: options.events / ((writesDone - started) / 1000),
      latency: { p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), max: latencies.at(-1) ?? 0 },
      backlog: {
        events: arrivals.size - before,
        deliveriesPerSecond: (arrivals.size - before) / ((drainLast - drainStarted) / 1000),
      },
    }
    options.log(
      `  ${result.delivered} of ${result.events} delivered (${result.duplicates} duplicates), ` +
        `${result.deliveriesPerSecond.toFixed(0)} deliveries/s while writes ran at ${result.writesPerSecond.toFixed(0)}/s; ` +
        `commit → delivery p50 ${result.latency.p50.toFixed(1)} ms, p99 ${result.latency.p99.toFixed(1)} ms; ` +
        `a backlog of ${result.backlog.events} drained at ${result.backlog.deliveriesPerSecond.toFixed(0)}/s`,
    )
    return result
  } finally {
    if (worker) {
      const exited = new Promise((resolve) => worker!.once('exit', resolve))
      worker.kill('SIGTERM')
      await exited
    }
    await api.stop()
    await new Promise<void>((resolve) => receiver.close(() => resolve()))
  }
}
