import type { FastifyRequest } from 'fastify'
import { z } from 'zod'
import type { Tx } from '../db/context.ts'
import { rememberDevice } from './queries.ts'
import { hashToken, opaqueToken } from './tokens.ts'

/**
 * Device tokens, the OWASP "device cookie" for an API client. Every successful authentication
 * answers a `deviceToken`; the client keeps it and sends it back in this header with every
 * password check (login, accept, DELETE /v1/me) and authentication. A password check that
 * presents a token of its own account is exempt from the per-account cap, so however many
 * guesses strangers make, a user can always sign in from a client they signed in from before.
 */
export const DEVICE_TOKEN_HEADER = 'x-device-token'
/** The newest tokens kept per user; older ones stop being recognised. */
export const DEVICES_PER_USER = 20

/** The request headers' schema part, for the OpenAPI document of the routes that read it. */
export const DeviceTokenHeaders = z.object({
  [DEVICE_TOKEN_HEADER]: z
    .string()
    .optional()
    .describe(
      'The `deviceToken` of an earlier sign-in on this client. With it, a password check is exempt from the ' +
        'per-account cap of failed sign-ins; a missing, unknown or expired one is simply not recognised.',
    ),
})

/** The token this request presents, if it looks like one (anything else counts as none). */
export function presentedDeviceToken(request: FastifyRequest): string | undefined {
  const value = request.headers[DEVICE_TOKEN_HEADER]
  return typeof value === 'string' && /^[A-Za-z0-9_-]{43}$/.test(value) ? value : undefined
}

/**
 * Inside the transaction of a successful authentication: the device token to answer. The one the
 * client presented when it is this user's and alive (its lifetime starts again), else a new one.
 */
export async function deviceTokenFor(
  tx: Tx,
  userId: string,
  presented: string | undefined,
  lifetimeSeconds: number,
): Promise<string> {
  const fresh = opaqueToken()
  const presentedHash = presented === undefined ? null : hashToken(presented)
  const { kept } = await tx.one(rememberDevice(userId, presentedHash, fresh.hash, lifetimeSeconds, DEVICES_PER_USER))
  return kept && presented !== undefined ? presented : fresh.token
}
