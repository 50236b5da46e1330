import type { Task, TaskList } from 'graphile-worker'
import { z } from 'zod'
import type { Config } from '../config.ts'
import { composeMail, type Log, type Mailer, MailJob } from '../mail/mailer.ts'
import { sealer } from '../mail/seal.ts'
import { webhookTasks } from '../webhooks/deliver.ts'
import { PURGE_MAIL_LEFTOVERS, PURGE_SESSIONS, REQUEST_PASSWORD_RESET, STORE_DEV_MAIL } from './queries.ts'

const PasswordResetJob = z.object({
  email: z.string(),
  tokenHash: z.string().regex(/^[0-9a-f]{64}$/),
  sealed: z.string(),
})

export type TaskDeps = { config: Config; mailer: Mailer; log: Log }

/**
 * Every task the worker runs, in one place (issue 22's webhook deliveries join this list). A
 * task that throws is retried by graphile-worker with exponential backoff, up to the job's
 * max_attempts; app_audit.mail_queue shows what waits and what failed.
 */
export function taskList(deps: TaskDeps): TaskList {
  const seal = sealer(deps.config.JWT_SECRET)

  const sendMail: Task = async (payload, helpers) => {
    const job = MailJob.parse(payload)
    const mail = composeMail(job, helpers.job.id, { publicUrl: deps.config.PUBLIC_URL, seal })
    await deps.mailer.send(mail, async (stored) => {
      await helpers.query(STORE_DEV_MAIL, [
        stored.to,
        stored.subject,
        stored.text,
        stored.html,
        stored.links,
        stored.messageId,
      ])
    })
    // The address is the recipient's business: logged as the kind and job only.
    deps.log.info({ job: helpers.job.id, kind: job.kind, attempt: helpers.job.attempts }, 'mail sent')
  }

  const purgeSessions: Task = async (_payload, helpers) => {
    const sessions = await helpers.query(PURGE_SESSIONS, [deps.config.SESSION_MAX_AGE])
    const leftovers = await helpers.query(PURGE_MAIL_LEFTOVERS)
    deps.log.info({ purged: sessions.rows[0], leftovers: leftovers.rows[0] }, 'purged ended sessions and tokens')
  }

  // Forgot password: whether the address has an account is decided here, not in the request.
  const passwordReset: Task = async (payload, helpers) => {
    const job = PasswordResetJob.parse(payload)
    await helpers.query(REQUEST_PASSWORD_RESET, [job.email, job.tokenHash, job.sealed])
  }

  return {
    send_mail: sendMail,
    password_reset: passwordReset,
    purge_sessions: purgeSessions,
    ...webhookTasks(deps),
  }
}
