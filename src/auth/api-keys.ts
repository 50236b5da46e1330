import { randomBytes } from 'node:crypto'
import type { DatabasePool } from 'slonik'
import type { KeyIdentity } from '../db/context.ts'
import { Problem } from '../problems.ts'
import { apiKeyForHash } from './queries.ts'
import { hashToken } from './tokens.ts'

/**
 * API keys (DESIGN.md, "Integrations"): `tnt_<prefix>_<secret>`. The prefix (8 lower-case
 * letters and digits) names the key in lists and logs; the secret is 32 random bytes (256 bits,
 * base64url). The database keeps the SHA-256 of the whole key, never the key.
 */
export const API_KEY_PATTERN = /^tnt_([a-z0-9]{8})_([A-Za-z0-9_-]{43})$/
const PREFIX_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789'

export function newApiKey(): { key: string; prefix: string; hash: Buffer } {
  // 36 letters and 256 % 36 = 4: the bias is irrelevant for a public label that is not a secret.
  const prefix = [...randomBytes(8)].map((byte) => PREFIX_ALPHABET[byte % PREFIX_ALPHABET.length]).join('')
  const key = `tnt_${prefix}_${randomBytes(32).toString('base64url')}`
  return { key, prefix, hash: hashToken(key) }
}

/** A bearer credential that has the shape of an API key (not yet verified). */
export const looksLikeApiKey = (token: string) => token.startsWith('tnt_')

/** How long a verified key's tenant is remembered: only for the rate limiter's key and the pool share. */
export const API_KEY_CACHE_MS = 30_000

/**
 * Verifies a presented key by its hash and answers its id and tenant. The tenant is needed in
 * onRequest, before any transaction, to count the request on its tenant's budget; the answer is
 * cached briefly per key hash. The cache is never the authority: every request's first statement
 * (begin_key_request) reads the key again, so a revocation, an expiry, a role change or a
 * suspension takes effect on the next request, cached or not.
 */
export function apiKeyVerifier(pool: DatabasePool) {
  const cache = new Map<string, { expires: number; identity: Promise<KeyIdentity | null> }>()
  return async (token: string): Promise<KeyIdentity> => {
    if (!API_KEY_PATTERN.test(token)) throw new Problem('invalid-token', 'the API key is invalid')
    const hash = hashToken(token)
    const id = hash.toString('base64url')
    const now = Date.now()
    let hit = cache.get(id)
    if (!hit || hit.expires <= now) {
      if (cache.size > 10_000) {
        for (const [key, entry] of cache) if (entry.expires <= now) cache.delete(key)
      }
      const identity = pool
        .maybeOne(apiKeyForHash(hash))
        .then((row) => (row ? { apiKeyId: row.api_key_id, tenantId: row.tenant_id } : null))
      hit = { expires: now + API_KEY_CACHE_MS, identity }
      cache.set(id, hit)
      // Neither an unknown key nor a failed lookup is remembered: the next request asks again.
      identity.then(
        (found) => found ?? cache.delete(id),
        () => cache.delete(id),
      )
    }
    const identity = await hit.identity
    if (!identity) throw new Problem('invalid-token', 'the API key is unknown, revoked or expired')
    return identity
  }
}
