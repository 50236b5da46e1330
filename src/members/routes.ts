import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { arg } from '../db/read.ts'
import { refusal } from '../db/refusal.ts'
import { decodeCursor, TimeAndIdCursor } from '../http/cursor.ts'
import { sendJsonText } from '../http/json-text.ts'
import { PageQuery } from '../http/schemas.ts'
import * as queries from './queries.ts'
import { ChangeRoleBody, Member, MemberPage, MemberParams } from './schemas.ts'

export async function memberRoutes(fastify: FastifyInstance) {
  const app = fastify.withTypeProvider<ZodTypeProvider>()

  app.get(
    '/v1/members',
    {
      config: { access: 'viewer', responses: { 200: 'One page of members' } },
      schema: {
        operationId: 'listMembers',
        tags: ['members'],
        summary: 'Members of the current tenant, oldest first',
        description: 'Cursor-paginated: `nextCursor` is null on the last page.',
        querystring: PageQuery,
        response: { 200: MemberPage },
      },
    },
    async (request, reply) => {
      const { limit, cursor } = request.query
      const after = decodeCursor(cursor, TimeAndIdCursor)
      const page = await request.readInTenant('list_members', [
        arg(limit, 'int4'),
        arg(after?.[0] ?? null, 'timestamptz'),
        arg(after?.[1] ?? null, 'uuid'),
      ])
      return sendJsonText(reply, page?.body ?? null)
    },
  )

  app.patch(
    '/v1/members/:userId',
    {
      config: {
        access: 'admin',
        problems: ['not-found', 'last-owner'],
        responses: { 200: 'The member with the new role' },
      },
      schema: {
        operationId: 'changeMemberRole',
        tags: ['members'],
        summary: "Change a member's role",
        description:
          'Only an owner grants or takes away `owner`. Demoting the last owner is refused (`/problems/last-owner`).',
        params: MemberParams,
        body: ChangeRoleBody,
        response: { 200: Member },
      },
    },
    async (request) =>
      request.inTenant(async (tx) => {
        const row = await tx.maybeOne(queries.changeRole(request.params.userId, request.body.role))
        if (!row) throw await refusal(tx, queries.memberVisible(request.params.userId), 'member')
        return queries.toMember(row)
      }),
  )

  app.delete(
    '/v1/members/:userId',
    {
      config: {
        access: 'viewer',
        problems: ['forbidden', 'not-found', 'last-owner'],
        responses: { 204: 'Removed; their sessions for this tenant have ended' },
      },
      schema: {
        operationId: 'removeMember',
        tags: ['members'],
        summary: 'Remove a member, or leave the tenant (your own id)',
        description:
          'Anyone may leave; admins remove members; only owners remove owners; the last owner cannot leave (`/problems/last-owner`).',
        params: MemberParams,
        response: { 204: z.null() },
      },
    },
    async (request, reply) => {
      await request.inTenant(async (tx) => {
        const removed = await tx.maybeOne(queries.removeMember(request.params.userId))
        if (!removed) throw await refusal(tx, queries.memberVisible(request.params.userId), 'member')
      })
      return reply.code(204).send(null)
    },
  )
}
