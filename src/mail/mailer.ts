import nodemailer from 'nodemailer'
import type { BaseLogger } from 'pino'
import { z } from 'zod'
import type { Sealer } from './seal.ts'
import { type MailKind, TEMPLATES } from './templates/index.ts'

/** pino's logger or Fastify's app.log: what the worker and the mailers log through. */
export type Log = Pick<BaseLogger, 'info' | 'warn' | 'error' | 'debug'>

/** The payload app_private.enqueue_mail gives a send_mail job. */
export const MailJob = z.object({
  kind: z.enum(Object.keys(TEMPLATES) as [MailKind, ...MailKind[]]),
  to: z.string(),
  sealed: z.string().nullable(),
  data: z.record(z.string(), z.unknown()).nullable(),
})
export type MailJob = z.infer<typeof MailJob>

export type OutgoingMail = {
  to: string
  subject: string
  text: string
  html: string
  messageId: string
  links: string[]
}

/** Where a composed mail goes: an SMTP server, or the dev mailbox (`store`: the database). */
export type Mailer = {
  send: (mail: OutgoingMail, store: (mail: OutgoingMail) => Promise<void>) => Promise<void>
  close: () => void
}

/**
 * One job, one mail. The link starts with PUBLIC_URL and carries the token in its fragment, which
 * browsers never send to a server (nor in a Referer): the page reads it and POSTs it. The
 * Message-ID is the job's, so a retried send is recognisable as the same mail.
 */
export function composeMail(job: MailJob, jobId: string, options: { publicUrl: string; seal: Sealer }): OutgoingMail {
  const template = TEMPLATES[job.kind]
  const token = job.sealed ? options.seal.unseal(job.sealed) : null
  const link = template.link && token ? `${options.publicUrl}${template.link}#token=${token}` : null
  if (template.link && !link) throw new Error(`a ${job.kind} mail needs a token`)
  const rendered = template.render({ data: job.data ?? {}, link, publicUrl: options.publicUrl })
  const host = new URL(options.publicUrl).hostname
  return { to: job.to, ...rendered, messageId: `<job-${jobId}@${host}>`, links: link ? [link] : [] }
}

export function smtpMailer(url: string, from: string): Mailer {
  // Short timeouts: a stalled server fails the job, which graphile-worker retries with backoff.
  const transport = nodemailer.createTransport(url, {
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 20_000,
  } as never)
  return {
    async send(mail) {
      await transport.sendMail({
        from,
        to: mail.to,
        subject: mail.subject,
        text: mail.text,
        html: mail.html,
        messageId: mail.messageId,
      })
    },
    close: () => transport.close(),
  }
}

/** Without SMTP_URL (never in production): kept in the database for GET /dev/mail, links logged. */
export function devMailbox(log: Log): Mailer {
  return {
    async send(mail, store) {
      await store(mail)
      for (const link of mail.links) log.info({ to: mail.to, subject: mail.subject, link }, 'dev mailbox: link')
      if (mail.links.length === 0) log.info({ to: mail.to, subject: mail.subject }, 'dev mailbox: mail')
    },
    close: () => {},
  }
}
