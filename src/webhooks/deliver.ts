import http from 'node:http'
import https from 'node:https'
import type { JobHelpers, Task } from 'graphile-worker'
import { z } from 'zod'
import type { Config } from '../config.ts'
import { type OutboundOptions, OutboundRefused, postOutbound } from './outbound.ts'
import {
  ADVANCE,
  DELIVERED,
  DELIVERIES_FOR,
  DELIVERY_TO_RETRY,
  DISABLE,
  NEXT_EVENT,
  RECORD_ATTEMPT,
  SECRETS,
  WAITING_ABOVE_HORIZON,
  WAKE,
} from './queries.ts'
import { signatureHeaders } from './signing.ts'

type Log = { info: (o: object, m: string) => void; warn: (o: object, m: string) => void }

const EndpointJob = z.object({ tenantId: z.uuid(), endpointId: z.uuid() })
const RetryJob = EndpointJob.extend({ deliveryId: z.uuid() })

/** Deliveries one job makes before it yields the worker to other endpoints (it queues itself again). */
const BATCH = 500
/** Activities read per query. */
const FETCH = 50
/** How soon an endpoint looks again when an activity it wants is still above the horizon. */
const HORIZON_RECHECK_MS = 200
const MAX_DELAY_MS = 9 * 3600 * 1000

/** The wait before attempt `attempts + 1`: base, then 3× longer each time, at most 9 hours. */
export const retryDelayMs = (config: Pick<Config, 'WEBHOOK_RETRY_BASE_MS'>, attempts: number) =>
  Math.min(config.WEBHOOK_RETRY_BASE_MS * 3 ** (attempts - 1), MAX_DELAY_MS)

/** What the statements here need of a connection: graphile-worker's helpers, or one client of its pool. */
type Db = Pick<JobHelpers, 'query'>

type Attempt = { ok: boolean; status: number | null; error: string | null; latencyMs: number }

/**
 * The graphile-worker tasks of webhooks (src/jobs/tasks.ts lists them):
 *
 * - `webhook_deliver` ({tenantId, endpointId}): sends the endpoint's next activities in commit
 *   order, each until a 2xx. A failure records the attempt and queues the job again after its
 *   backoff (the endpoint's queue keeps later events behind it: order holds); after
 *   WEBHOOK_MAX_ATTEMPTS (about a day) the endpoint is disabled with WEBHOOK_DISABLED. A crash
 *   between a 2xx and the position's move resends that event with the same webhook-id:
 *   at-least-once, duplicates recognisable.
 * - `webhook_redeliver` ({tenantId, endpointId, deliveryId}): one more attempt by hand.
 */
export function webhookTasks(deps: { config: Config; log: Log }) {
  const { config, log } = deps
  const outbound: OutboundOptions = {
    allowPrivate: config.WEBHOOK_ALLOW_PRIVATE,
    connectTimeoutMs: Math.min(config.WEBHOOK_TIMEOUT_MS, 5000),
    timeoutMs: config.WEBHOOK_TIMEOUT_MS,
    maxResponseBytes: 4096,
  }

  /** The endpoint's live secrets (the previous one too during a rotation's grace period). */
  const secretsOf = async (helpers: Db, job: z.infer<typeof EndpointJob>) => {
    const row = (
      await helpers.query<{ secret: string; previous: string | null }>(SECRETS, [job.tenantId, job.endpointId])
    ).rows[0]
    return row ? [row.secret, ...(row.previous ? [row.previous] : [])] : []
  }

  const send = async (
    secrets: readonly string[],
    delivery: { id: string; url: string; body: string },
    agent?: http.Agent,
  ): Promise<Attempt> => {
    if (secrets.length === 0) return { ok: false, status: null, error: 'no signing secret', latencyMs: 0 }
    const headers = {
      ...signatureHeaders(`msg_${delivery.id}`, new Date(), delivery.body, secrets),
      'user-agent': 'Tenantry-Webhooks/1',
    }
    const started = performance.now()
    try {
      const url = new URL(delivery.url)
      const response = await postOutbound(url, delivery.body, headers, { ...outbound, ...(agent ? { agent } : {}) })
      const ok = response.status >= 200 && response.status < 300
      return {
        ok,
        status: response.status,
        error: ok ? null : `HTTP ${response.status}`,
        latencyMs: Math.round(performance.now() - started),
      }
    } catch (error) {
      const message = error instanceof OutboundRefused ? `refused: ${error.message}` : (error as Error).message
      return {
        ok: false,
        status: null,
        error: message.slice(0, 500),
        latencyMs: Math.round(performance.now() - started),
      }
    }
  }

  const record = async (
    helpers: Db,
    tenantId: string,
    deliveryId: string,
    attempt: Attempt,
    next: Date | null,
    status: 'pending' | 'failed' | null = next ? 'pending' : 'failed',
  ) =>
    (
      await helpers.query<{ attempts: number }>(RECORD_ATTEMPT, [
        tenantId,
        deliveryId,
        attempt.ok ? 'delivered' : status,
        attempt.status,
        attempt.error,
        attempt.latencyMs,
        next,
      ])
    ).rows[0]!.attempts

  const wake = (helpers: Db, job: z.infer<typeof EndpointJob>, at: Date | null, mode: 'replace' | 'preserve_run_at') =>
    helpers.query(WAKE, [job.tenantId, job.endpointId, at, mode])

  const webhook_deliver: Task = async (payload, jobHelpers) => {
    const job = EndpointJob.parse(payload)
    // One connection for the run, with synchronous_commit off: the bookkeeping of a delivery need
    // not wait for its WAL flush. A crash can lose the last few records; those events are then
    // sent again with their webhook-id (at least once, as always), never lost.
    await jobHelpers.withPgClient(async (client) => {
      await client.query('set synchronous_commit = off')
      try {
        await deliverRun(job, { query: client.query.bind(client) as Db['query'] })
      } finally {
        await client.query('reset synchronous_commit')
      }
    })
  }

  const deliverRun = async (job: z.infer<typeof EndpointJob>, helpers: Db) => {
    const secrets = await secretsOf(helpers, job)
    // One job's deliveries to this endpoint share kept-alive connections (each checked as it connects).
    const agents = {
      http: new http.Agent({ keepAlive: true, maxSockets: 1 }),
      https: new https.Agent({ keepAlive: true, maxSockets: 1 }),
    }
    try {
      for (let handled = 0; handled < BATCH; ) {
        type Next = { id: string; type: string; tx: string; seq: string; url: string; body: string }
        const batch = (await helpers.query<Next>(NEXT_EVENT, [job.tenantId, job.endpointId, FETCH])).rows
        if (batch.length === 0) {
          const { waiting } = (
            await helpers.query<{ waiting: boolean }>(WAITING_ABOVE_HORIZON, [job.tenantId, job.endpointId])
          ).rows[0]!
          if (waiting) await wake(helpers, job, new Date(Date.now() + HORIZON_RECHECK_MS), 'preserve_run_at')
          return
        }
        type Delivery = { id: string; activity_id: string; status: string; attempts: number }
        const deliveries = new Map(
          (
            await helpers.query<Delivery>(DELIVERIES_FOR, [
              job.tenantId,
              job.endpointId,
              batch.map((event) => event.id),
              batch.map((event) => event.type),
            ])
          ).rows.map((row) => [row.activity_id, row]),
        )
        for (const next of batch) {
          handled++
          const delivery = deliveries.get(next.id)!
          if (delivery.status === 'delivered') {
            // Sent before (by hand, or just before a crash): the position moves past it.
            await helpers.query(ADVANCE, [job.tenantId, job.endpointId, next.tx, next.seq])
            continue
          }
          const agent = next.url.startsWith('https:') ? agents.https : agents.http
          const attempt = await send(secrets, { id: delivery.id, url: next.url, body: next.body }, agent)
          if (attempt.ok) {
            await helpers.query(DELIVERED, [
              job.tenantId,
              job.endpointId,
              delivery.id,
              attempt.status,
              attempt.latencyMs,
              next.tx,
              next.seq,
            ])
            continue
          }
          const attempts = delivery.attempts + 1
          if (attempts >= config.WEBHOOK_MAX_ATTEMPTS) {
            await record(helpers, job.tenantId, delivery.id, attempt, null)
            await helpers.query(DISABLE, [
              job.tenantId,
              job.endpointId,
              `${attempts} attempts failed; the last: ${attempt.error}`,
            ])
            log.warn({ endpoint: job.endpointId, attempts }, 'webhook endpoint disabled')
            return
          }
          const at = new Date(Date.now() + retryDelayMs(config, attempts))
          await record(helpers, job.tenantId, delivery.id, attempt, at)
          await wake(helpers, job, at, 'replace')
          return
        }
      }
      // A long backlog: queued again, behind whatever else waits for the workers.
      await wake(helpers, job, null, 'preserve_run_at')
    } finally {
      agents.http.destroy()
      agents.https.destroy()
    }
  }

  const webhook_redeliver: Task = async (payload, helpers) => {
    const job = RetryJob.parse(payload)
    const row = (
      await helpers.query<{ id: string; url: string; enabled: boolean; body: string }>(DELIVERY_TO_RETRY, [
        job.tenantId,
        job.endpointId,
        job.deliveryId,
      ])
    ).rows[0]
    if (!row) return
    const attempt = await send(await secretsOf(helpers, job), row)
    await record(helpers, job.tenantId, row.id, attempt, null, null)
    // The endpoint goes on (a retried head of line no longer waits for its backoff).
    if (row.enabled) await wake(helpers, job, null, 'replace')
  }

  return { webhook_deliver, webhook_redeliver }
}
