import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { Webhook } from 'standardwebhooks'
import type { Test } from 'tap'

export type Received = {
  id: string
  timestamp: string
  signature: string
  body: string
  /** The status the receiver answered. */
  status: number
  at: number
}

/**
 * A webhook receiver on loopback (the only address tests ever send to). `answer` decides each
 * status (default 200); every request is recorded, answered or not.
 */
export async function webhookReceiver(t: Test, answer: (n: number, received: Received) => number = () => 200) {
  const received: Received[] = []
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const entry: Received = {
        id: String(req.headers['webhook-id'] ?? ''),
        timestamp: String(req.headers['webhook-timestamp'] ?? ''),
        signature: String(req.headers['webhook-signature'] ?? ''),
        body: Buffer.concat(chunks).toString('utf8'),
        status: 0,
        at: performance.now(),
      }
      entry.status = answer(received.length + 1, entry)
      received.push(entry)
      res.writeHead(entry.status).end()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  )
  const port = (server.address() as AddressInfo).port
  return {
    url: `http://127.0.0.1:${port}/hook`,
    port,
    received,
    /** The deliveries it accepted (2xx), each parsed. */
    accepted: () =>
      received
        .filter((r) => r.status >= 200 && r.status < 300)
        .map((r) => ({
          ...r,
          event: JSON.parse(r.body) as {
            type: string
            timestamp: string
            data: { id: number; type: string; createdAt: string }
          },
        })),
  }
}

/** Verifies a received delivery as a receiver would, with the standardwebhooks package. */
export const verifies = (secret: string, r: Received) => {
  try {
    new Webhook(secret).verify(r.body, {
      'webhook-id': r.id,
      'webhook-timestamp': r.timestamp,
      'webhook-signature': r.signature,
    })
    return true
  } catch {
    return false
  }
}

/** Webhook ids seen more than once, with how often. */
export function duplicates(received: readonly Received[]) {
  const counts = new Map<string, number>()
  for (const r of received) counts.set(r.id, (counts.get(r.id) ?? 0) + 1)
  return [...counts].filter(([, n]) => n > 1)
}
