/**
 * A latency probe in a process of its own (bench/sockets.ts forks it), so the attack's client
 * loop never delays the probe's own event loop: sequential GETs of PROBE_PATH (optionally with
 * a bearer token), each from the next address of PROBE_PREFIX.1–250 on a fresh connection,
 * PROBE_PAUSE_MS apart, until the parent sends 'stop'; then it sends back the summary.
 */
import http from 'node:http'
import { performance } from 'node:perf_hooks'
import { Latencies } from './load.ts'

const url = new URL(process.env.PROBE_URL ?? '')
const path = process.env.PROBE_PATH ?? '/health'
const token = process.env.PROBE_TOKEN
const prefix = process.env.PROBE_PREFIX ?? '127.0.60'
const pause = Number(process.env.PROBE_PAUSE_MS ?? 20)

function get(localAddress: string): Promise<{ status: number; ms: number }> {
  const started = performance.now()
  return new Promise((resolve) => {
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        path,
        localAddress,
        agent: false,
        timeout: 10_000,
        headers: token ? { authorization: `Bearer ${token}` } : {},
      },
      (res) => {
        res.resume()
        res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - started }))
      },
    )
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', () => resolve({ status: 0, ms: performance.now() - started }))
    req.end()
  })
}

let running = true
process.on('message', (message) => {
  if (message === 'stop') running = false
})

const latencies = new Latencies()
let count = 0
let failures = 0
const statuses: Record<string, number> = {}
while (running) {
  const answer = await get(`${prefix}.${1 + (count++ % 250)}`)
  statuses[answer.status] = (statuses[answer.status] ?? 0) + 1
  if (answer.status === 200) latencies.add(answer.ms)
  else failures++
  if (pause > 0) await new Promise((resolve) => setTimeout(resolve, pause))
}
process.send?.({ ...latencies.summary(), count, failures, statuses }, () => process.exit(0))
