import { createHash, createHmac, randomBytes } from 'node:crypto'

/** A random, opaque token (256 bits) and the SHA-256 that is all the database ever stores. */
export function opaqueToken(): { token: string; hash: Buffer } {
  const token = randomBytes(32).toString('base64url')
  return { token, hash: hashToken(token) }
}

export const hashToken = (token: string): Buffer => createHash('sha256').update(token).digest()

/**
 * The successor of a refresh token: an HMAC of the token under a key derived from the server
 * secret (labelled, so it is never the JWT signing key itself). Every exchange of one token asks
 * for the same successor, so a replay within the reuse window gets the token the first exchange
 * issued instead of starting a second chain; the database stores only its SHA-256.
 */
export function refreshSuccessors(serverSecret: string): (token: string) => { token: string; hash: Buffer } {
  const key = createHmac('sha256', serverSecret).update('tenantry refresh-token successor v1').digest()
  return (presented) => {
    const token = createHmac('sha256', key).update(presented).digest('base64url')
    return { token, hash: hashToken(token) }
  }
}
