import { randomBytes } from 'node:crypto'
import { Webhook } from 'standardwebhooks'

/**
 * Standard Webhooks signing (https://www.standardwebhooks.com): `webhook-id` (the same on every
 * retry of one delivery, so a receiver can drop duplicates), `webhook-timestamp` (seconds), and
 * `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`. Signed with the
 * `standardwebhooks` package, the one receivers verify with.
 */

/** A new endpoint secret: 32 random bytes, as Standard Webhooks spells secrets. */
export const newWebhookSecret = () => `whsec_${randomBytes(32).toString('base64')}`

/**
 * The three headers for one attempt. Several secrets (a rotation's grace period: the new one and
 * the old one) give several space-separated signatures; a receiver holding either verifies.
 */
export function signatureHeaders(
  id: string,
  at: Date,
  body: string,
  secrets: readonly string[],
): Record<'webhook-id' | 'webhook-timestamp' | 'webhook-signature', string> {
  return {
    'webhook-id': id,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': secrets.map((secret) => new Webhook(secret).sign(id, at, body)).join(' '),
  }
}
