import { constants } from 'node:zlib'
import fastifyCompress from '@fastify/compress'
import type { FastifyInstance } from 'fastify'

/**
 * Responses over 1 KiB are compressed (br, then gzip) when the client accepts it. Brotli at
 * quality 4 compresses JSON about as well as gzip -6 at a fraction of the default quality 11's
 * CPU, which matters on the request path.
 */
export async function registerCompression(app: FastifyInstance): Promise<void> {
  await app.register(fastifyCompress, {
    threshold: 1024,
    encodings: ['br', 'gzip'],
    brotliOptions: { params: { [constants.BROTLI_PARAM_QUALITY]: 4 } },
  })
}
