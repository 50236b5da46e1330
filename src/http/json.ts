import type { FastifyRequest } from 'fastify'
import secureJson from 'secure-json-parse'
import { type FieldError, Problem } from '../problems.ts'

/** Deeper request bodies are refused: no API document needs more, and every later pass stays cheap. */
export const MAX_JSON_DEPTH = 32

/**
 * Parses a request body and refuses, as a 400 naming the field, what would otherwise fail
 * later and far from the client's mistake:
 *
 * - nesting deeper than MAX_JSON_DEPTH, found by a linear scan of the text *before* parsing,
 *   so nothing recursive (JSON.stringify, zod, the driver) ever sees a deep document and no
 *   stack overflow is caught anywhere;
 * - `__proto__` and `constructor.prototype` keys (secure-json-parse, as Fastify's own parser);
 * - numbers beyond double range (`1e400` parses to Infinity, which JSON cannot carry back);
 * - lone UTF-16 surrogates and NUL (U+0000), in keys and in values: PostgreSQL text and jsonb
 *   cannot hold either, and a lone surrogate is not Unicode text at all.
 *
 * An empty body is the caller's decision (Fastify's parser reports it as its own error).
 */
export function parseJsonBody(text: string): unknown {
  const tooDeep = depthExceededAt(text, MAX_JSON_DEPTH)
  if (tooDeep !== -1) {
    throw invalid([{ path: 'body', message: `nested deeper than ${MAX_JSON_DEPTH} levels (at character ${tooDeep})` }])
  }
  let value: unknown
  try {
    value = secureJson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' })
  } catch (error) {
    const prototypeKey = error instanceof SyntaxError && /prototype/i.test(error.message)
    throw invalid([
      {
        path: 'body',
        message: prototypeKey ? '__proto__ and constructor.prototype keys are not allowed' : 'not valid JSON',
      },
    ])
  }
  const errors = unrepresentable(value)
  if (errors.length > 0) throw invalid(errors)
  return value
}

const invalid = (errors: FieldError[]) => new Problem('validation-failed', 'the body is invalid', { errors })

/** The offset of the first bracket that opens level `limit + 1`, or -1. Strings are skipped. */
function depthExceededAt(text: string, limit: number): number {
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 0x5c)
        i++ // backslash: skip the escaped character
      else if (c === 0x22) inString = false
    } else if (c === 0x22) inString = true
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > limit) return i
    } else if (c === 0x7d || c === 0x5d) depth--
  }
  return -1
}

/** Every string, key and number PostgreSQL and JSON cannot carry, with its path (iterative: depth is bounded anyway). */
function unrepresentable(root: unknown): FieldError[] {
  const errors: FieldError[] = []
  const stack: [unknown, string][] = [[root, 'body']]
  while (stack.length > 0 && errors.length < 20) {
    const [value, path] = stack.pop()!
    if (typeof value === 'string') {
      const problem = badText(value)
      if (problem) errors.push({ path, message: problem })
    } else if (typeof value === 'number') {
      if (!Number.isFinite(value)) errors.push({ path, message: 'number out of range' })
    } else if (Array.isArray(value)) {
      value.forEach((element, index) => {
        stack.push([element, `${path}.${index}`])
      })
    } else if (value !== null && typeof value === 'object') {
      for (const [key, element] of Object.entries(value)) {
        const keyProblem = badText(key)
        if (keyProblem) errors.push({ path: `${path}.${printable(key)}`, message: `key: ${keyProblem}` })
        stack.push([element, `${path}.${printable(key)}`])
      }
    }
  }
  return errors
}

function badText(text: string): string | undefined {
  if (text.includes('\u0000')) return 'must not contain NUL (U+0000) characters'
  if (!text.isWellFormed()) return 'must be valid Unicode (no lone UTF-16 surrogates)'
  return undefined
}

/** A key as it can be echoed in a problem: well-formed, bounded. */
const printable = (key: string) => key.toWellFormed().replaceAll('\u0000', '\\0').slice(0, 100)

/**
 * parseJsonBody as Fastify's `application/json` parser (`parseAs: 'string'`), with one leniency:
 * an empty body sent as `application/json` is no body. Many HTTP clients send exactly that on a
 * POST without payload (logout); a route that needs a body still refuses a missing one, with a
 * validation problem from its schema.
 */
export async function jsonBodyParser(_request: FastifyRequest, body: string | Buffer): Promise<unknown> {
  const text = body.toString()
  if (text.trim() === '') return undefined
  return parseJsonBody(text)
}
