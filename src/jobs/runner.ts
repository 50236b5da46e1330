import { EventEmitter } from 'node:events'
import { parseCronItems, type Runner, type RunnerOptions, run, Logger as WorkerLogger } from 'graphile-worker'
import pg from 'pg'
import type { Config } from '../config.ts'
import { devMailbox, type Log, type Mailer, smtpMailer } from '../mail/mailer.ts'
import { FORCE_UNLOCK, HOLD_POOL_LOCK, RELEASE_DEAD_POOLS } from './queries.ts'
import { taskList } from './tasks.ts'

/** How often a worker looks for the jobs of workers that died (and once at start). */
const DEAD_POOL_SWEEP_MS = 10_000

export type JobWorker = { runner: Runner; stop: () => Promise<void> }

/**
 * SESSION_PURGE_INTERVAL (seconds) as a cron pattern: whole minutes, then whole hours. One purge
 * per tick across every worker (graphile-worker's cron keeps the last tick in the database).
 */
export function purgeCronPattern(seconds: number): string {
  const minutes = Math.max(1, Math.round(seconds / 60))
  if (minutes < 60) return `*/${minutes} * * * *`
  const hours = Math.min(24, Math.round(minutes / 60))
  return hours >= 24 ? '0 0 * * *' : `0 */${hours} * * *`
}

/**
 * The job worker: graphile-worker on its own pool, connected as the owner role (it locks and
 * deletes jobs in the graphile_worker schema, which the API role cannot touch). `npm start` runs
 * it in-process, `npm run worker` alone (src/worker.ts), tests on their own database.
 */
export async function startWorker(options: {
  config: Config
  connectionString: string
  log: Log
  mailer?: Mailer
  concurrency?: number
  pollInterval?: number
}): Promise<JobWorker> {
  const { config, log } = options
  const mailer = options.mailer ?? (config.SMTP_URL ? smtpMailer(config.SMTP_URL, config.MAIL_FROM) : devMailbox(log))
  const concurrency = options.concurrency ?? config.WORKER_CONCURRENCY
  // Held for the pool's life: PostgreSQL releases it when this process dies (src/jobs/queries.ts).
  const liveness = new pg.Client({ connectionString: options.connectionString })
  liveness.on('error', (error: Error) => log.error({ err: error }, 'job worker liveness connection failed'))
  await liveness.connect()
  const events = new EventEmitter() as NonNullable<RunnerOptions['events']>
  const poolIds: string[] = []
  events.on('pool:create', ({ workerPool }) => {
    poolIds.push(workerPool.id)
    liveness.query(HOLD_POOL_LOCK, [workerPool.id]).catch(() => {})
  })
  // Our own pool, so it has error listeners: when PostgreSQL ends an idle connection (a restart,
  // the embedded cluster stopping after us), an unheard 'error' would crash the process.
  const pgPool = new pg.Pool({ connectionString: options.connectionString, max: concurrency + 2 })
  pgPool.on('error', (error: Error) => log.warn({ err: error }, 'a job worker connection ended'))
  // The same for a connection ended while a job holds it: the query in flight fails (and the job
  // is retried), but the client's own 'error' event must be heard, or it ends the process.
  pgPool.on('connect', (client) =>
    client.on('error', (error: Error) => log.warn({ err: error }, 'a job worker connection ended mid-job')),
  )
  const runner = await run({
    events,
    pgPool,
    concurrency,
    noHandleSignals: true,
    pollInterval: options.pollInterval ?? 2000,
    logger: new WorkerLogger((scope) => (level, message) => {
      const line = { worker: scope.workerId, task: scope.taskIdentifier, job: scope.jobId }
      if (level === 'error') log.error(line, message)
      else if (level === 'warning') log.warn(line, message)
      else log.debug(line, message)
    }),
    taskList: taskList({ config, mailer, log }),
    parsedCronItems:
      config.SESSION_PURGE_INTERVAL === 0
        ? []
        : parseCronItems([
            {
              task: 'purge_sessions',
              identifier: 'purge_sessions',
              match: purgeCronPattern(config.SESSION_PURGE_INTERVAL),
              options: { backfillPeriod: 0, maxAttempts: 1 },
            },
          ]),
  })
  // The runner's promise settles when it stops; a rejection nobody awaits (a job still running
  // while SIGTERM stops the pool) would end the process with code 1 instead of a clean shutdown.
  runner.promise.catch((error: unknown) => log.error({ err: error }, 'the job worker stopped with an error'))
  const releaseDeadPools = async () => {
    const { rows } = await liveness.query<{ pools: string[] }>(RELEASE_DEAD_POOLS)
    const dead = rows[0]!.pools.filter((id) => !poolIds.includes(id))
    if (dead.length === 0) return
    await liveness.query(FORCE_UNLOCK, [dead])
    log.warn({ pools: dead }, 'released the jobs of job workers that died')
  }
  const sweep = () => void releaseDeadPools().catch((error) => log.error({ err: error }, 'dead worker sweep failed'))
  sweep()
  const timer = setInterval(sweep, DEAD_POOL_SWEEP_MS)
  timer.unref()
  return {
    runner,
    stop: async () => {
      clearInterval(timer)
      await runner.stop()
      mailer.close()
      await pgPool.end()
      await liveness.end()
    },
  }
}
