import pino from 'pino'
import { ConfigError, loadConfig } from './config.ts'
import { migrate } from './db/bootstrap.ts'
import { startWorker } from './jobs/runner.ts'

/**
 * `npm run worker`: the job worker alone (mail, purges), for deployments that run API instances
 * with RUN_JOBS=false. It connects as DATABASE_OWNER_URL: the jobs schema is the owner's.
 */
async function main() {
  const config = loadConfig()
  const log = pino({ level: config.LOG_LEVEL, base: { process: 'worker' } })
  if (!config.DATABASE_OWNER_URL) {
    throw new ConfigError('Invalid configuration:\n  DATABASE_OWNER_URL: required by npm run worker (the owner role)')
  }
  await migrate(config.DATABASE_OWNER_URL, config.ROOT_DATABASE_URL)
  const worker = await startWorker({ config, connectionString: config.DATABASE_OWNER_URL, log })
  log.info({ concurrency: config.WORKER_CONCURRENCY, smtp: config.SMTP_URL !== undefined }, 'job worker running')
  let stopping = false
  const stop = async (signal: string) => {
    if (stopping) process.exit(1)
    stopping = true
    log.info({ signal }, 'stopping the job worker (jobs in flight finish first)')
    await worker.stop()
    process.exit(0)
  }
  process.on('SIGINT', () => void stop('SIGINT'))
  process.on('SIGTERM', () => void stop('SIGTERM'))
}

main().catch((error: unknown) => {
  console.error(error instanceof ConfigError ? error.message : error)
  process.exit(1)
})
