/**
 * A latency probe in a process of its own (bench/sockets.ts forks it), so the attack's client
 * loop never delays the probe's own event loop: sequential GETs of PROBE_PATH (optionally with
 * a bearer token), each from the next address of PROBE_PREFIX.1–250 on a fresh connection,
 * PROBE_PAUSE_MS apart, until the parent sends 'stop'; then it sends back the summary.
 */
import { getFrom, Latencies } from './load.ts'

const url = process.env.PROBE_URL ?? ''
const path = process.env.PROBE_PATH ?? '/health'
const token = process.env.PROBE_TOKEN
const prefix = process.env.PROBE_PREFIX ?? '127.0.60'
const pause = Number(process.env.PROBE_PAUSE_MS ?? 20)

let running = true
process.on('message', (message) => {
  if (message === 'stop') running = false
})

const latencies = new Latencies()
let count = 0
let failures = 0
const statuses: Record<string, number> = {}
while (running) {
  const answer = await getFrom(url, path, `${prefix}.${1 + (count++ % 250)}`, token)
  statuses[answer.status] = (statuses[answer.status] ?? 0) + 1
  if (answer.status === 200) latencies.add(answer.ms)
  else failures++
  if (pause > 0) await new Promise((resolve) => setTimeout(resolve, pause))
}
process.send?.({ ...latencies.summary(), count, failures, statuses }, () => process.exit(0))
