/**
 * The hello-world baseline: a bare Fastify 5 app started exactly like src/server.ts (same Node,
 * same environment, same logger level, its own process), answering the read path's URL with a
 * constant. No auth, no database: what one HTTP round trip costs on this machine.
 */
import Fastify from 'fastify'
import { loadConfig } from '../src/config.ts'

const config = loadConfig()
const app = Fastify({ logger: { level: config.LOG_LEVEL } })
app.get('/health', async () => ({ status: 'ok' }))
app.get('/v1/items', async () => ({ hello: 'world' }))

const shutdown = async () => {
  await app.close()
  process.exit(0)
}
process.on('SIGTERM', () => void shutdown())
process.on('SIGINT', () => void shutdown())

await app.listen({ host: config.HOST, port: config.PORT })
