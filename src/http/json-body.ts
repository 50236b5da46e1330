import type { FastifyInstance } from 'fastify'

/**
 * JSON bodies, with one leniency: an empty body sent as `application/json` is no body. Many HTTP
 * clients send exactly that on a POST without payload (logout); fastify's own parser refuses it
 * with "the JSON body is empty". A route that needs a body still refuses a missing one, with a
 * validation problem from its schema. Everything else (prototype poisoning checks included) is
 * fastify's default parser.
 */
export function registerJsonBodyParser(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser('error', 'error')
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = body as string // parseAs: 'string'
    if (text.trim() === '') return done(null, undefined)
    return parseJson(request, text, done)
  })
}
