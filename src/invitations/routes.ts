import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { DeviceTokenHeaders, presentedDeviceToken } from '../auth/devices.ts'
import { SessionResponse } from '../auth/schemas.ts'
import { startSessionResponse } from '../auth/sessions.ts'
import { hashToken, opaqueToken } from '../auth/tokens.ts'
import { oneOrNotFound } from '../db/not-found.ts'
import { arg } from '../db/read.ts'
import { decodeCursor, TimeAndIdCursor } from '../http/cursor.ts'
import { sendJsonText } from '../http/json-text.ts'
import { Accepted, IdParams, PageQuery } from '../http/schemas.ts'
import { accountKey } from '../limits/client.ts'
import { mailToken, sealer } from '../mail/seal.ts'
import { notFound, Problem } from '../problems.ts'
import * as queries from './queries.ts'
import { AcceptInvitationBody, CreatedInvitation, CreateInvitationBody, Invitation, InvitationPage } from './schemas.ts'

export async function invitationRoutes(fastify: FastifyInstance) {
  const app = fastify.withTypeProvider<ZodTypeProvider>()
  const { config } = app
  const seal = sealer(config.JWT_SECRET)

  app.post(
    '/v1/invitations',
    {
      config: {
        access: 'admin',
        problems: ['plan-limit-exceeded', 'conflict'],
        responses: { 201: 'The invitation; its token is mailed to the invitee' },
      },
      schema: {
        operationId: 'createInvitation',
        tags: ['invitations'],
        summary: 'Invite someone by email with a fixed role',
        description:
          'Members plus pending invitations must fit the plan (`/problems/plan-limit-exceeded`). Only an owner invites an owner. ' +
          'The invitee gets the token by mail (a link to `/account/accept`), never the inviter; accepting it proves ' +
          'the address. `POST /v1/invitations/{id}/resend` mails it again.',
        body: CreateInvitationBody,
        response: { 201: CreatedInvitation },
      },
    },
    async (request, reply) => {
      const row = await request.inTenant(async (tx) => {
        const created = await tx.one(queries.createInvitation({ ...request.body, ttlSeconds: config.INVITATION_TTL }))
        await tx.query(queries.mailInvitation(created.id, mailToken(seal)))
        return created
      })
      return reply
        .code(201)
        .header('location', `/v1/invitations/${row.id}`)
        .send({ id: row.id, email: row.email, role: row.role, expiresAt: row.expiresAt })
    },
  )

  app.post(
    '/v1/invitations/:id/resend',
    {
      config: {
        access: 'admin',
        problems: ['not-found'],
        responses: { 202: 'Accepted: the invitation is mailed again (same expiry)' },
      },
      schema: {
        operationId: 'resendInvitation',
        tags: ['invitations'],
        summary: 'Mail a pending invitation again',
        description:
          'A new link replaces the earlier ones; the expiry stays. At most one mail per invitation per 60 s and five ' +
          'per hour: beyond, nothing is sent and the answer is the same. Accepted, revoked and expired invitations answer 404.',
        params: IdParams,
        body: z.strictObject({}).nullish(),
        response: { 202: Accepted },
      },
    },
    async (request, reply) => {
      await request.inTenant((tx) => tx.query(queries.mailInvitation(request.params.id, mailToken(seal))))
      return reply.code(202).send({ message: 'If the address can receive it, a mail is on its way.' })
    },
  )

  app.get(
    '/v1/invitations',
    {
      config: { access: 'admin', responses: { 200: 'One page of pending invitations' } },
      schema: {
        operationId: 'listInvitations',
        tags: ['invitations'],
        summary: 'Pending invitations, newest first',
        description: 'Accepted, revoked and expired invitations are not listed.',
        querystring: PageQuery,
        response: { 200: InvitationPage },
      },
    },
    async (request, reply) => {
      const { limit, cursor } = request.query
      const before = decodeCursor(cursor, TimeAndIdCursor)
      const page = await request.readInTenant('list_invitations', [
        arg(limit, 'int4'),
        arg(before?.[0] ?? null, 'timestamptz'),
        arg(before?.[1] ?? null, 'uuid'),
      ])
      return sendJsonText(reply, page?.body ?? null)
    },
  )

  app.get(
    '/v1/invitations/:id',
    {
      config: { access: 'admin', problems: ['not-found'], responses: { 200: 'The pending invitation' } },
      schema: {
        operationId: 'getInvitation',
        tags: ['invitations'],
        summary: 'One pending invitation',
        description: 'Accepted, revoked and expired invitations answer 404. The token is never shown again.',
        params: IdParams,
        response: { 200: Invitation },
      },
    },
    async (request, reply) => {
      const invitation = await request.readInTenant('get_invitation', [arg(request.params.id, 'uuid')])
      if (invitation === null) throw notFound('invitation')
      return sendJsonText(reply, invitation.body)
    },
  )

  app.delete(
    '/v1/invitations/:id',
    {
      config: { access: 'admin', problems: ['not-found'], responses: { 204: 'Revoked: its token no longer works' } },
      schema: {
        operationId: 'revokeInvitation',
        tags: ['invitations'],
        summary: 'Revoke a pending invitation',
        description:
          'Records INVITATION_REVOKED. An invitation that was already accepted, revoked or expired answers 404.',
        params: IdParams,
        response: { 204: z.null() },
      },
    },
    async (request, reply) => {
      await request.inTenant((tx) => oneOrNotFound(tx, queries.revokeInvitation(request.params.id), 'invitation'))
      return reply.code(204).send(null)
    },
  )

  app.post(
    '/v1/invitations/accept',
    {
      config: {
        access: 'public',
        throttle: 'password',
        problems: ['unauthorized', 'not-found', 'plan-limit-exceeded', 'conflict'],
        responses: { 200: 'Signed in to the tenant of the invitation' },
      },
      schema: {
        operationId: 'acceptInvitation',
        tags: ['invitations'],
        summary: 'Accept an invitation and get a token pair for its tenant',
        description:
          'A new email needs `name` and `password` (the account is created); an existing account needs its `password`. ' +
          "Unknown, used, revoked or expired tokens answer 404. Checking an existing account's password is a sign-in " +
          "attempt: without that account's `x-device-token` it counts against the per-account cap.",
        body: AcceptInvitationBody,
        headers: DeviceTokenHeaders,
        response: { 200: SessionResponse },
      },
    },
    async (request, reply) => {
      const { token, name, password } = request.body
      const tokenHash = hashToken(token)
      const invitation = await oneOrNotFound(app.db, queries.invitationForToken(tokenHash), 'invitation')
      if (password === undefined) {
        throw new Problem('validation-failed', 'password is required', {
          errors: [{ path: 'body.password', message: 'required' }],
        })
      }
      let existingUserId: string | null = null
      let newUserPasswordHash: string | null = null
      if (invitation.existing_user_id) {
        // A password guess like any other: an invitation to the victim's address must not be a side door.
        const client = await app.passwordAttempt(request, reply, invitation.email)
        if (!(await app.passwords.verify(password, invitation.existing_password_hash, client))) {
          throw new Problem('unauthorized', 'the password does not match the invited account')
        }
        existingUserId = invitation.existing_user_id
      } else {
        if (name === undefined) {
          throw new Problem('validation-failed', 'name is required for a new account', {
            errors: [{ path: 'body.name', message: 'required' }],
          })
        }
        newUserPasswordHash = await app.passwords.hash(password, [request.clientKey, accountKey(invitation.email)])
      }
      const refresh = opaqueToken()
      return app.db.transaction(async (tx) => {
        const accepted = await tx.one(
          queries.acceptInvitation({
            tokenHash,
            existingUserId,
            newUserName: existingUserId ? null : (name ?? null),
            newUserPasswordHash,
            refreshTokenHash: refresh.hash,
            refreshTtlSeconds: config.REFRESH_TOKEN_TTL,
          }),
        )
        return startSessionResponse(
          app,
          tx,
          { userId: accepted.user_id, tenantId: accepted.tenant_id, sessionId: accepted.session_id },
          refresh.token,
          presentedDeviceToken(request),
        )
      })
    },
  )
}
