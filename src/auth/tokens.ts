import { createHash, randomBytes } from 'node:crypto'

/** A random, opaque token (256 bits) and the SHA-256 that is all the database ever stores. */
export function opaqueToken(): { token: string; hash: Buffer } {
  const token = randomBytes(32).toString('base64url')
  return { token, hash: hashToken(token) }
}

export const hashToken = (token: string): Buffer => createHash('sha256').update(token).digest()
