import type { FastifyInstance } from 'fastify'
import type { z } from 'zod'
import { type RequestIdentity, setRequestContext, type Tx } from '../db/context.ts'
import * as queries from './queries.ts'
import type { SessionResponse } from './schemas.ts'

/** Inside a transaction that just opened a session: set its context, answer with a token pair. */
export async function startSessionResponse(
  app: FastifyInstance,
  tx: Tx,
  identity: RequestIdentity,
  refreshToken: string,
): Promise<z.infer<typeof SessionResponse>> {
  const role = await setRequestContext(tx, identity)
  const { user, tenant } = await tx.one(queries.currentUserAndTenant())
  const accessToken = app.jwt.sign({
    sub: identity.userId,
    tenant_id: identity.tenantId,
    role,
    sid: identity.sessionId,
  })
  return { user, tenant, role, accessToken, refreshToken, expiresIn: app.config.ACCESS_TOKEN_TTL }
}
