import { Problem } from '../problems.ts'

/**
 * The one place where database errors become problems. Our own SQLSTATEs (class TN) carry
 * messages written for clients; PostgreSQL's own messages never reach a response.
 */
export function problemFromDatabaseError(error: unknown): Problem | undefined {
  const pgError = findPgError(error)
  if (!pgError) return undefined
  const own = pgError.message
  switch (pgError.code) {
    case 'TN401':
      return new Problem('unauthorized', own)
    case 'TNSUS':
      return new Problem('tenant-suspended', own)
    case 'TN404':
      return new Problem('not-found', own)
    case 'TN409':
      return new Problem('conflict', own)
    case 'TNPLM':
      return new Problem('plan-limit-exceeded', own)
    case 'TNLOW':
      return new Problem('last-owner', own)
    // insufficient_privilege: an RLS WITH CHECK failure or a missing grant.
    case '42501':
      return new Problem('forbidden', 'your role does not allow this')
    case '23505':
      return new Problem('conflict', 'a conflicting record already exists')
    case '23503':
      return new Problem('not-found', 'a referenced record does not exist')
    case '23502':
    case '23514':
    case '22001':
    case '22P02':
    case '22007':
    case '22008':
    case '22003':
    case '22021': // a NUL byte or another character PostgreSQL text cannot hold
    case '22P05':
      return new Problem('validation-failed', 'a value is invalid for this field')
    case '40001':
    case '40P01':
      return new Problem('conflict', 'the request conflicted with a concurrent change; retry it')
    case '57014':
      return new Problem('unavailable', 'the database took too long to answer')
    default:
      return undefined
  }
}

type PgError = { code: string; message: string }

function findPgError(error: unknown): PgError | undefined {
  for (let current = error, depth = 0; current && depth < 5; depth++) {
    const candidate = current as { code?: unknown; message?: unknown; cause?: unknown }
    if (
      typeof candidate.code === 'string' &&
      /^[0-9A-Z]{5}$/.test(candidate.code) &&
      typeof candidate.message === 'string'
    ) {
      return { code: candidate.code, message: candidate.message }
    }
    current = candidate.cause
  }
  return undefined
}
