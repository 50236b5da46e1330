import type { FastifyReply } from 'fastify'

/**
 * Sends a response body that PostgreSQL built as JSON text, as it is: Fastify passes a string
 * with a JSON content type through untouched, so there is no parse and no re-serialisation. The
 * route's zod schema still documents the body (OpenAPI is generated from it), and the test suite
 * validates every such response against that document instead of the server doing it at run time.
 */
export function sendJsonText(reply: FastifyReply, text: string | null): FastifyReply {
  // Lists always build a page (an empty one too): null here is a bug in the function, not a 404.
  if (text === null) throw new Error('the database built no response body')
  // The type provider types send() by the route's response schema; this body is its text.
  return reply.type('application/json; charset=utf-8').send(text as never)
}
