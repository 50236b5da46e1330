import type { FastifyReply, FastifyRequest } from 'fastify'
import { z } from 'zod'
import { Problem } from '../problems.ts'

/*
 * Optimistic concurrency for single resources. The ETag is a strong validator computed by the
 * database from the JSON representation itself (app_api.etag over the text it sends), so it changes exactly when what the client sees changes (an item's
 * fields, a tenant's plan or member count), and needs no version column. A write with If-Match
 * locks the row, recomputes the current ETag in the same transaction and refuses with 412 when
 * they differ: of two editors holding the same ETag, the second waits for the first's lock, then
 * sees the new representation and is refused.
 */

/** The entity tags of an If-Match / If-None-Match list (`*` stays `*`). */
const entityTags = (header: string): string[] => header.split(',').map((tag) => tag.trim())

export const ConditionalWriteHeaders = z.looseObject({
  'if-match': z
    .string()
    .max(1000)
    .optional()
    .describe('The ETag you last read: the change is applied only if the resource still has it (412 otherwise)'),
})

export const ConditionalReadHeaders = z.looseObject({
  'if-none-match': z
    .string()
    .max(1000)
    .optional()
    .describe('The ETag you hold: 304 without a body when it is still current'),
})

/** Strong comparison (RFC 9110 §13.1.1): a weak tag never matches. */
export function requireMatch(ifMatch: string | undefined, currentEtag: string, what: string): void {
  if (ifMatch === undefined) return
  const tags = entityTags(ifMatch)
  if (tags.includes('*') || tags.includes(currentEtag)) return
  throw new Problem('precondition-failed', `the ${what} has changed since you read it; nothing was written`)
}

/**
 * Sets the ETag; true when the client's If-None-Match already holds it, in which case the handler
 * answers 304 without a body (weak comparison, §13.1.2).
 */
export function withEtag(request: FastifyRequest, reply: FastifyReply, etag: string | null): boolean {
  if (etag === null) return false
  reply.header('etag', etag)
  const held = request.headers['if-none-match']
  if (typeof held !== 'string') return false
  const tags = entityTags(held).map((tag) => tag.replace(/^W\//, ''))
  return tags.includes('*') || tags.includes(etag)
}
