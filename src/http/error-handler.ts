import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { hasZodFastifySchemaValidationErrors, isResponseSerializationError } from 'fastify-type-provider-zod'
import FindMyWay, { type HTTPMethod } from 'find-my-way'
import { problemFromDatabaseError } from '../db/errors.ts'
import { Problem } from '../problems.ts'

/**
 * Every error leaves as application/problem+json. Known problems keep their detail; anything
 * unexpected is logged in full and answered with a generic 500: no SQL, constraint names or
 * stack traces reach a client.
 */
export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const problem = toProblem(error)
    if (problem.status >= 500) request.log.error({ err: error }, 'request failed')
    else request.log.info({ problem: problem.type, detail: problem.message }, 'request refused')
    return sendProblem(request, reply, problem)
  })

  // A second router that only knows which paths exist, to tell "wrong method" (405 with Allow)
  // from "no such path" (404).
  const paths = FindMyWay({ ignoreTrailingSlash: true })
  app.addHook('onRoute', (route) => {
    if (route.url.includes('*') && route.url.replace(/\/?\*$/, '') === '') return // CORS preflight: every path
    for (const method of [route.method].flat() as HTTPMethod[]) {
      if (!paths.hasRoute(method, route.url)) paths.on(method, route.url, () => {})
    }
  })

  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0] ?? '/'
    const allowed = METHODS.filter((method) => paths.find(method, path) !== null)
    if (allowed.length > 0) {
      return sendProblem(
        request,
        reply,
        new Problem('method-not-allowed', `${path} does not accept ${request.method}; use ${allowed.join(', ')}`, {
          headers: { allow: allowed.join(', ') },
        }),
      )
    }
    return sendProblem(request, reply, new Problem('not-found', `no route for ${request.method} ${path}`))
  })
}

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'] as const

/**
 * RFC 6750 §3: every 401 names the scheme; when a token was presented and refused, it says so
 * (`invalid_token`), which tells OAuth-aware clients to refresh rather than prompt for a login.
 */
function wwwAuthenticate(request: FastifyRequest, problem: Problem): string {
  const tokenRefused =
    problem.type === 'invalid-token' ||
    problem.type === 'token-reused' ||
    (problem.type === 'unauthorized' && /^bearer\s+\S/i.test(request.headers.authorization ?? ''))
  if (!tokenRefused) return 'Bearer realm="tenantry"'
  const description = problem.message.replace(/["\\]/g, '')
  return `Bearer realm="tenantry", error="invalid_token", error_description="${description}"`
}

/**
 * Errors Fastify raises before routing (a URL that does not decode, FST_ERR_BAD_URL) skip the
 * error handler and would answer with Fastify's own JSON: give them the same problem shape.
 */
export function frameworkError(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const problem =
    error.code === 'FST_ERR_BAD_URL'
      ? new Problem('validation-failed', 'the URL is not valid (it does not decode as UTF-8)', {
          errors: [{ path: 'url', message: 'invalid percent-encoding' }],
        })
      : toProblem(error)
  if (problem.status >= 500) request.log.error({ err: error }, 'request failed')
  void sendProblem(request, reply, problem)
}

export function sendProblem(request: FastifyRequest, reply: FastifyReply, problem: Problem): FastifyReply {
  if (problem.headers) reply.headers(problem.headers)
  if (problem.status === 401) reply.header('www-authenticate', wwwAuthenticate(request, problem))
  return reply
    .code(problem.status)
    .type('application/problem+json')
    .send(problem.body(request.url.split('?')[0]))
}

function toProblem(error: FastifyError): Problem {
  if (error instanceof Problem) return error
  if (hasZodFastifySchemaValidationErrors(error)) {
    const where = error.validationContext ?? 'request'
    return new Problem('validation-failed', `the ${where} is invalid`, {
      errors: error.validation.map((issue) => ({
        path: [where, ...issue.instancePath.split('/').filter(Boolean)].join('.'),
        message: issue.message ?? 'invalid',
      })),
    })
  }
  if (isResponseSerializationError(error)) return new Problem('internal', 'the server produced an invalid response')
  const fromDatabase = problemFromDatabaseError(error)
  if (fromDatabase) return fromDatabase
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new Problem('payload-too-large', 'the request body is too large')
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new Problem('unsupported-media-type', 'send the body as application/json')
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new Problem('validation-failed', 'the Content-Length header does not match the body')
    case 'FST_ERR_MAX_PARAM_LENGTH': // Fastify's own 414, before validation could say which
      return new Problem('validation-failed', 'a path parameter is too long', {
        errors: [{ path: 'params', message: 'at most 100 characters' }],
      })
  }
  // secure-json-parse and other client errors carry a 4xx statusCode.
  if (error instanceof SyntaxError || error.statusCode === 400) {
    return new Problem('validation-failed', 'the body is not valid JSON')
  }
  if (typeof error.statusCode === 'number' && error.statusCode === 413) {
    return new Problem('payload-too-large', 'the request body is too large')
  }
  // Any other client error Fastify raises is the request's fault, never a 500 (found by fuzzing).
  if (
    typeof error.statusCode === 'number' &&
    error.statusCode >= 400 &&
    error.statusCode < 500 &&
    error.code?.startsWith('FST_')
  ) {
    return new Problem('validation-failed', 'the request is invalid')
  }
  return new Problem('internal', 'an unexpected error occurred')
}
