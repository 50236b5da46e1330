import {
  BackendTerminatedError,
  BackendTerminatedUnexpectedlyError,
  ConnectionError,
  IdleTransactionTimeoutError,
  InvalidInputError,
  StatementCancelledError,
  StatementTimeoutError,
} from 'slonik'
import { Problem } from '../problems.ts'

// A client may retry an outage or a timeout; a second is a fair first wait.
const unavailable = (detail: string) => new Problem('unavailable', detail, { headers: { 'retry-after': '1' } })

/**
 * The one place where database errors become problems. Our own SQLSTATEs (class TN) carry
 * messages written for clients; PostgreSQL's own messages never reach a response.
 *
 * slonik's own error classes come first: some carry no SQLSTATE at all (InvalidInputError for a
 * value it cannot bind, ConnectionError when the pool cannot hand out a connection in time),
 * and the others wrap the driver's error, whose code is found through `cause` below.
 */
export function problemFromDatabaseError(error: unknown): Problem | undefined {
  if (error instanceof InvalidInputError) return new Problem('validation-failed', 'a value is invalid for this field')
  if (error instanceof StatementTimeoutError || error instanceof StatementCancelledError) {
    return unavailable('the database took too long to answer')
  }
  if (
    error instanceof ConnectionError ||
    error instanceof BackendTerminatedError ||
    error instanceof BackendTerminatedUnexpectedlyError ||
    error instanceof IdleTransactionTimeoutError ||
    isConnectionFailure(error)
  ) {
    return unavailable('the database is unavailable; retry shortly')
  }
  const pgError = findPgError(error)
  if (!pgError) return undefined
  if (pgError.code.startsWith('08')) return unavailable('the database is unavailable; retry shortly')
  const own = problemFromOwnCode(pgError.code, pgError.message)
  if (own) return own
  switch (pgError.code) {
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
    case '22023': // invalid_parameter_value, e.g. an unknown time zone in a timestamp
    case '22009': // invalid_time_zone_displacement_value, e.g. a +16:00 offset
      return new Problem('validation-failed', 'a value is invalid for this field')
    case '40001':
    case '40P01':
      return new Problem('conflict', 'the request conflicted with a concurrent change; retry it')
    case '57014':
      return unavailable('the database took too long to answer')
    case '57P01': // admin_shutdown: the server is restarting
    case '57P02': // crash_shutdown
    case '57P03': // cannot_connect_now: starting up or shutting down
    case '53300': // too_many_connections
      return unavailable('the database is unavailable; retry shortly')
    default:
      return undefined
  }
}

/**
 * Our own SQLSTATEs (class TN), raised or returned by our functions with a message written for
 * clients (app_private.session_standing returns begin_request's refusal this way).
 */
export function problemFromOwnCode(code: string, message: string): Problem | undefined {
  switch (code) {
    case 'TN401':
      return new Problem('unauthorized', message)
    case 'TN403':
      return new Problem('forbidden', message)
    case 'TNSUS':
      return new Problem('tenant-suspended', message)
    case 'TN404':
      return new Problem('not-found', message)
    case 'TN409':
      return new Problem('conflict', message)
    case 'TNPLM':
      return new Problem('plan-limit-exceeded', message)
    case 'TNLOW':
      return new Problem('last-owner', message)
    case 'TN410':
      return new Problem('token-expired', message)
    default:
      return undefined
  }
}

/**
 * Access lost: the database no longer lets this session in (TN401: no live session or
 * membership; TNSUS: the tenant is suspended), as the problem HTTP answers; null for any other
 * error. A socket that gets one is revoked; other errors are the database's, not the session's.
 */
export function accessLost(error: unknown): Problem | null {
  const problem = error instanceof Problem ? error : problemFromDatabaseError(error)
  return problem && (problem.type === 'unauthorized' || problem.type === 'tenant-suspended') ? problem : null
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

/**
 * The driver's own failures to reach the server carry a Node.js system code (ECONNREFUSED while
 * PostgreSQL restarts) or only a message ("Connection terminated unexpectedly").
 */
function isConnectionFailure(error: unknown): boolean {
  for (let current = error, depth = 0; current && depth < 5; depth++) {
    const candidate = current as { code?: unknown; message?: unknown; cause?: unknown }
    if (
      typeof candidate.code === 'string' &&
      /^E(CONNREFUSED|CONNRESET|PIPE|TIMEDOUT|HOSTUNREACH)$/.test(candidate.code)
    ) {
      return true
    }
    if (
      typeof candidate.message === 'string' &&
      /^Connection terminated|timeout exceeded when trying to connect/.test(candidate.message)
    ) {
      return true
    }
    current = candidate.cause
  }
  return false
}
