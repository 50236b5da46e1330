import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto'
import { opaqueToken } from '../auth/tokens.ts'

/**
 * A mailed token is made by the API and stored as SHA-256 only; the worker still has to put the
 * token itself into the link. It travels in the job's payload sealed with AES-256-GCM under a
 * key derived from the server secret (labelled, so it is never the JWT key itself): the jobs
 * table, a backup of it or a DBA reading app_audit.mail_queue never holds a usable link.
 */
export type Sealer = { seal: (token: string) => string; unseal: (sealed: string) => string }

export function sealer(serverSecret: string): Sealer {
  const key = createHmac('sha256', serverSecret).update('tenantry mail-token seal v1').digest()
  return {
    seal(token) {
      const iv = randomBytes(12)
      const cipher = createCipheriv('aes-256-gcm', key, iv)
      const body = Buffer.concat([cipher.update(token, 'utf8'), cipher.final()])
      return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url')
    },
    unseal(sealed) {
      const raw = Buffer.from(sealed, 'base64url')
      const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12))
      decipher.setAuthTag(raw.subarray(12, 28))
      return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8')
    },
  }
}

/** A new mailed token: what the database stores (hash) and what the job carries (sealed). */
export function mailToken(seal: Sealer): { token: string; hash: Buffer; sealed: string } {
  const { token, hash } = opaqueToken()
  return { token, hash, sealed: seal.seal(token) }
}
