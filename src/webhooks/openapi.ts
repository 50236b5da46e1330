import { ACTIVITY_TYPES, pascalCase } from '../activities/schemas.ts'

type Document = Record<string, unknown> & { components?: { schemas?: Record<string, unknown> } }

const header = (name: string, description: string, example: string) => ({
  name,
  in: 'header',
  required: true,
  description,
  schema: { type: 'string' },
  example,
})

/**
 * OpenAPI 3.1's `webhooks` section: one entry per activity type, the body an endpoint receives
 * ({type, timestamp, data}, `data` the very `<Type>Activity` component REST and sockets use) and
 * the Standard Webhooks headers. Added to the generated document by app.ts.
 */
export function addWebhooks<T>(document: T): T {
  const doc = document as Document
  doc.components ??= {}
  const schemas = doc.components.schemas ?? {}
  doc.components.schemas = schemas
  doc.webhooks = Object.fromEntries(
    ACTIVITY_TYPES.map((type) => {
      const name = pascalCase(type)
      schemas[`${name}WebhookEvent`] = {
        type: 'object',
        description: `The body of a ${type} delivery (Standard Webhooks: type, timestamp, data).`,
        properties: {
          type: { type: 'string', const: type },
          timestamp: { type: 'string', format: 'date-time', description: 'When the activity happened' },
          data: { $ref: `#/components/schemas/${name}Activity` },
        },
        required: ['type', 'timestamp', 'data'],
        additionalProperties: false,
      }
      return [
        type,
        {
          post: {
            operationId: `${name.charAt(0).toLowerCase()}${name.slice(1)}Webhook`,
            tags: ['webhooks'],
            summary: `${type}, delivered to endpoints that list it`,
            description:
              'POSTed to each enabled endpoint whose `events` include this type, in commit order per endpoint. Verify the signature ' +
              'before trusting the body (e.g. with the `standardwebhooks` package and the endpoint secret); drop a `webhook-id` you ' +
              'have already processed: retries (and a retry by hand) carry the same one.',
            parameters: [
              header(
                'webhook-id',
                'The delivery: the same on every attempt of it',
                'msg_0b6f3b1e-5d4c-4d0e-9a51-6f7f1c2d3e4a',
              ),
              header('webhook-timestamp', 'When this attempt was signed (Unix seconds)', '1764669600'),
              header(
                'webhook-signature',
                'Space-separated `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, one per live secret (two during a rotation)',
                'v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=',
              ),
            ],
            // Not one of our schemes: the receiver authenticates the sender by the signature.
            security: [],
            requestBody: {
              required: true,
              content: { 'application/json': { schema: { $ref: `#/components/schemas/${name}WebhookEvent` } } },
            },
            responses: {
              '200': {
                description: 'Any 2xx within the timeout acknowledges it; anything else (a redirect too) is retried',
              },
            },
          },
        },
      ]
    }),
  )
  return document
}
