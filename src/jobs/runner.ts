import { parseCronItems, type Runner, run, Logger as WorkerLogger } from 'graphile-worker'
import type { Logger } from 'pino'
import type { Config } from '../config.ts'
import { devMailbox, type Mailer, smtpMailer } from '../mail/mailer.ts'
import { taskList } from './tasks.ts'

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
  log: Logger
  mailer?: Mailer
  concurrency?: number
  pollInterval?: number
}): Promise<JobWorker> {
  const { config, log } = options
  const mailer = options.mailer ?? (config.SMTP_URL ? smtpMailer(config.SMTP_URL, config.MAIL_FROM) : devMailbox(log))
  const concurrency = options.concurrency ?? config.WORKER_CONCURRENCY
  const runner = await run({
    connectionString: options.connectionString,
    concurrency,
    maxPoolSize: concurrency + 2,
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
  return {
    runner,
    stop: async () => {
      await runner.stop()
      mailer.close()
    },
  }
}
