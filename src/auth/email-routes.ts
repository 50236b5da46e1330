import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { Accepted } from '../http/schemas.ts'
import { accountKey } from '../limits/client.ts'
import { mailToken, sealer } from '../mail/seal.ts'
import { forbidden } from '../problems.ts'
import { DeviceTokenHeaders } from './devices.ts'
import * as queries from './queries.ts'
import {
  ChangeEmailBody,
  ChangePasswordBody,
  ConfirmEmailBody,
  ForgotPasswordBody,
  ResetPasswordBody,
} from './schemas.ts'
import { hashToken } from './tokens.ts'

/** The one answer of every request that may mail: nothing in it depends on the address. */
export const MAIL_ACCEPTED = { message: 'If the address can receive it, a mail is on its way.' }

/**
 * Password reset, address confirmation, password and email change. Every mail is queued by the
 * definer function that makes the change, in its transaction (DESIGN.md, "Email and account
 * recovery"); a mailed token is consumed only by these POSTs, never by a GET.
 */
export async function emailRoutes(fastify: FastifyInstance) {
  const app = fastify.withTypeProvider<ZodTypeProvider>()
  const seal = sealer(app.config.JWT_SECRET)
  const newToken = () => mailToken(seal)

  app.post(
    '/v1/auth/password/forgot',
    {
      config: {
        access: 'public',
        throttle: 'auth',
        responses: { 202: 'Accepted: a reset link is mailed if the address has an account' },
      },
      schema: {
        operationId: 'forgotPassword',
        tags: ['auth'],
        summary: 'Mail a password reset link',
        description:
          'Answers 202 with the same body, in similar time, whether or not the address has an account, and whether ' +
          'or not its mail budget (one per 60 s, five per hour) allows another mail. The link opens `/account/reset` ' +
          'and works once, for 1 hour.',
        body: ForgotPasswordBody,
        response: { 202: Accepted },
      },
    },
    async (request, reply) => {
      // The same work for every address: one job; the worker looks the address up.
      await app.db.query(queries.queuePasswordReset(request.body.email, newToken()))
      return reply.code(202).send(MAIL_ACCEPTED)
    },
  )

  app.post(
    '/v1/auth/password/reset',
    {
      config: {
        access: 'public',
        throttle: 'auth',
        problems: ['token-expired'],
        responses: { 204: 'The password is set; every session of the account has ended' },
      },
      schema: {
        operationId: 'resetPassword',
        tags: ['auth'],
        summary: 'Set a new password with a mailed reset token',
        description:
          'Ends every session of the account, revokes its other mailed links, marks the address verified and mails a ' +
          'notice. Does not sign in: sign in with the new password. A used, replaced or expired link is a ' +
          '`/problems/token-expired`. Attempts count against the sign-in budget of your address.',
        body: ResetPasswordBody,
        response: { 204: z.null() },
      },
    },
    async (request, reply) => {
      const { token, password } = request.body
      const tokenHash = hashToken(token)
      // The hash queue is fair per address and per account; the account is unknown until the
      // token is consumed, so the token stands in for it.
      const passwordHash = await app.passwords.hash(password, [request.clientKey, tokenHash.toString('hex')])
      await app.db.transaction((tx) => tx.query(queries.resetPassword(tokenHash, passwordHash)))
      return reply.code(204).send(null)
    },
  )

  app.post(
    '/v1/auth/email/confirm',
    {
      config: {
        access: 'public',
        throttle: 'auth',
        problems: ['token-expired', 'conflict'],
        responses: { 204: 'Done: the address is verified, changed, or the change cancelled' },
      },
      schema: {
        operationId: 'confirmEmail',
        tags: ['auth'],
        summary: 'Confirm an address with a mailed token',
        description:
          'The link mailed at registration verifies the address; the one mailed to a new address completes the email ' +
          'change; the cancel link mailed to the old address cancels a pending change, or reverts a completed one and ' +
          'ends every session of the account. Each works once, for 24 hours ' +
          '(`/problems/token-expired`). Attempts count against the sign-in budget of your address.',
        body: ConfirmEmailBody,
        response: { 204: z.null() },
      },
    },
    async (request, reply) => {
      await app.db.transaction((tx) => tx.query(queries.confirmEmail(hashToken(request.body.token))))
      return reply.code(204).send(null)
    },
  )

  app.post(
    '/v1/me/email/verification',
    {
      config: { access: 'user', responses: { 202: 'Accepted: a new confirmation link is mailed if one is due' } },
      schema: {
        operationId: 'resendEmailVerification',
        tags: ['auth'],
        summary: 'Mail the confirmation link of your address again',
        description:
          'Nothing is sent when the address is already verified or its budget (one per 60 s, five per hour) is spent; ' +
          'the answer is the same. Takes no body.',
        body: z.strictObject({}).nullish(),
        response: { 202: Accepted },
      },
    },
    async (request, reply) => {
      await request.inUser((tx) => tx.query(queries.resendEmailVerification(newToken())))
      return reply.code(202).send(MAIL_ACCEPTED)
    },
  )

  app.put(
    '/v1/me/password',
    {
      config: {
        access: 'user',
        throttle: 'password',
        responses: { 204: 'The password is changed; your other sessions have ended' },
      },
      schema: {
        operationId: 'changePassword',
        tags: ['auth'],
        summary: 'Change your password',
        description:
          'Confirmed with your current password (a wrong one is `/problems/forbidden`; the check is a sign-in attempt ' +
          'under the per-account cap). Ends your other sessions and mailed links, keeps this one, and mails a notice.',
        body: ChangePasswordBody,
        headers: DeviceTokenHeaders,
        response: { 204: z.null() },
      },
    },
    async (request, reply) => {
      const credentials = await request.inUser((tx) => tx.one(queries.currentUserCredentials()))
      const client = await app.passwordAttempt(request, reply, credentials.email)
      if (!(await app.passwords.verify(request.body.currentPassword, credentials.password_hash, client))) {
        throw forbidden('the current password is incorrect')
      }
      const passwordHash = await app.passwords.hash(request.body.password, [
        request.clientKey,
        accountKey(credentials.email),
      ])
      await request.inUser((tx, context) => tx.query(queries.changePassword(passwordHash, context.sessionId)))
      return reply.code(204).send(null)
    },
  )

  app.put(
    '/v1/me/email',
    {
      config: {
        access: 'user',
        throttle: 'password',
        responses: { 202: 'Accepted: the new address gets a confirmation link, the old one a notice' },
      },
      schema: {
        operationId: 'changeEmail',
        tags: ['auth'],
        summary: 'Change your email address',
        description:
          'Confirmed with your password (a wrong one is `/problems/forbidden`; the check is a sign-in attempt). A ' +
          'confirmation link goes to the new address and a notice with a cancel link to the old one; nothing changes ' +
          'until the new address confirms (`POST /v1/auth/email/confirm`), and you keep signing in with the old one ' +
          'meanwhile. An address that already has an account gets nothing, and the answer is the same.',
        body: ChangeEmailBody,
        headers: DeviceTokenHeaders,
        response: { 202: Accepted },
      },
    },
    async (request, reply) => {
      const credentials = await request.inUser((tx) => tx.one(queries.currentUserCredentials()))
      const client = await app.passwordAttempt(request, reply, credentials.email)
      if (!(await app.passwords.verify(request.body.password, credentials.password_hash, client))) {
        throw forbidden('the password is incorrect')
      }
      await request.inUser((tx) => tx.query(queries.requestEmailChange(request.body.email, newToken(), newToken())))
      return reply.code(202).send(MAIL_ACCEPTED)
    },
  )
}
