import type { FastifyInstance } from 'fastify'
import type { z } from 'zod'
import { setRequestContext, setUserContext, type TokenIdentity, type Tx } from '../db/context.ts'
import { deviceTokenFor } from './devices.ts'
import * as queries from './queries.ts'
import type { SessionResponse } from './schemas.ts'

/**
 * Inside a transaction that just opened a session: set its context, answer with a token pair.
 * A tenantless session (a user who belongs to no tenant) gets `tenant: null, role: null`, and
 * an access token whose tenant_id and role are null: only the routes declared `user` take it.
 * `presentedDevice` is the device token the client sent (presentedDeviceToken): the answer's
 * `deviceToken` is that one when it is still this user's, else a new one.
 */
export async function startSessionResponse(
  app: FastifyInstance,
  tx: Tx,
  identity: TokenIdentity,
  refreshToken: string,
  presentedDevice: string | undefined,
): Promise<z.infer<typeof SessionResponse>> {
  const { tenantId } = identity
  let answer: Pick<z.infer<typeof SessionResponse>, 'user' | 'tenant' | 'role'>
  if (tenantId === null) {
    await setUserContext(tx, identity)
    answer = { user: (await tx.one(queries.currentUser())).user, tenant: null, role: null }
  } else {
    const role = await setRequestContext(tx, { ...identity, tenantId })
    answer = { ...(await tx.one(queries.currentUserAndTenant())), role }
  }
  const accessToken = app.jwt.sign({
    sub: identity.userId,
    tenant_id: tenantId,
    role: answer.role,
    sid: identity.sessionId,
  })
  const deviceToken = await deviceTokenFor(tx, identity.userId, presentedDevice, app.config.DEVICE_TOKEN_TTL)
  return { ...answer, accessToken, refreshToken, expiresIn: app.config.ACCESS_TOKEN_TTL, deviceToken }
}
