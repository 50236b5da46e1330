import { type ChildProcess, spawn } from 'node:child_process'
import type { FastifyInstance } from 'fastify'
import { runOnce, Logger as WorkerLogger } from 'graphile-worker'
import pino from 'pino'
import { SMTPServer } from 'smtp-server'
import type { Test } from 'tap'
import type { Config } from '../../src/config.ts'
import { type JobWorker, startWorker } from '../../src/jobs/runner.ts'
import { taskList } from '../../src/jobs/tasks.ts'
import { devMailbox } from '../../src/mail/mailer.ts'
import { sealer } from '../../src/mail/seal.ts'
import { freePort } from '../../src/net.ts'
import { factoriesOf } from './app.ts'

/**
 * Runs the queued forgot-password jobs (task password_reset) with the worker's own task, and
 * nothing else: the mails they queue stay queued for queuedToken. For tests that run no worker.
 */
export async function runQueuedResets(app: FastifyInstance): Promise<void> {
  const silent = pino({ level: 'silent' })
  const tasks = taskList({ config: app.config, mailer: devMailbox(silent), log: silent })
  await runOnce({
    pgPool: factoriesOf(app).root,
    taskList: { password_reset: tasks.password_reset! },
    noHandleSignals: true,
    logger: new WorkerLogger(() => () => {}),
  })
}

/**
 * The token a queued mail carries, read from its job (graphile-worker keeps it until it is sent)
 * and unsealed with the app's key: what the recipient would find in the link. For tests that run
 * no worker; `jobKey` is the key app_private.enqueue_mail gave it (`invitation:<id>`, …).
 */
export async function queuedToken(app: FastifyInstance, jobKey: string): Promise<string> {
  // A forgot-password job may be held by another test's runQueuedResets on the same database
  // (two apps over one database run side by side): its mail appears once that run finishes.
  for (let attempt = 0; ; attempt++) {
    if (jobKey.startsWith('reset_password:')) await runQueuedResets(app)
    const { rows } = await factoriesOf(app).root.query<{ sealed: string | null }>(
      `select j.payload->>'sealed' as sealed from graphile_worker._private_jobs j where j.key = $1`,
      [jobKey],
    )
    const sealed = rows[0]?.sealed
    if (sealed) return sealer(app.config.JWT_SECRET).unseal(sealed)
    if (attempt >= 50 || !jobKey.startsWith('reset_password:')) {
      throw new Error(`no queued mail with a token under job key ${jobKey}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

/** The token of the invitation's mail (the create response no longer carries it). */
export const invitationToken = (app: FastifyInstance, invitationId: string) =>
  queuedToken(app, `invitation:${invitationId}`)

/** A job worker on this test's database, as the owner role; stopped at teardown. */
export async function startTestWorker(
  t: Test,
  options: { config: Config; ownerUrl: string; smtpUrl?: string; concurrency?: number },
): Promise<JobWorker> {
  const config = { ...options.config, SMTP_URL: options.smtpUrl }
  const worker = await startWorker({
    config,
    connectionString: options.ownerUrl,
    log: pino({ level: 'silent' }),
    concurrency: options.concurrency ?? 4,
    pollInterval: 200,
  })
  let stopped = false
  t.teardown(async () => {
    if (!stopped) await worker.stop()
  })
  return {
    runner: worker.runner,
    stop: async () => {
      stopped = true
      await worker.stop()
    },
  }
}

export type ReceivedMail = { to: string; subject: string; messageId: string; body: string; token: string | null }

/** Quoted-printable as nodemailer writes it: soft line breaks and =XX escapes. */
const decodeQuotedPrintable = (text: string) =>
  text
    .replace(/=\r?\n/g, '')
    .replace(/=([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)))

/**
 * A real SMTP server (npm smtp-server) on a free port: every mail it accepts is parsed into
 * `received`. `stop()` closes it (the port refuses connections, as a server that is down);
 * `start()` opens it again on the same port.
 */
export async function smtpPeer(t: Test, options: { delayMs?: number } = {}) {
  const port = await freePort()
  const received: ReceivedMail[] = []
  let server: SMTPServer | null = null
  const start = () =>
    new Promise<void>((resolve, reject) => {
      server = new SMTPServer({
        authOptional: true,
        disabledCommands: ['STARTTLS', 'AUTH'],
        logger: false,
        onData(stream, session, callback) {
          const chunks: Buffer[] = []
          stream.on('data', (chunk: Buffer) => chunks.push(chunk))
          stream.on('end', async () => {
            // A slow server: the mail is acknowledged only after the delay.
            if (options.delayMs) await new Promise((resolve) => setTimeout(resolve, options.delayMs))
            const raw = decodeQuotedPrintable(Buffer.concat(chunks).toString('utf8'))
            const header = (name: string) => new RegExp(`^${name}: (.*)$`, 'im').exec(raw)?.[1]?.trim() ?? ''
            received.push({
              to: session.envelope.rcptTo.map((r) => r.address).join(','),
              subject: header('Subject'),
              messageId: header('Message-ID'),
              body: raw,
              token: /#token=([\w-]+)/.exec(raw)?.[1] ?? null,
            })
            callback()
          })
        },
      })
      server.once('error', reject)
      server.listen(port, '127.0.0.1', () => resolve())
    })
  const stop = () =>
    new Promise<void>((resolve) => {
      const closing = server
      server = null
      if (!closing) return resolve()
      closing.close(() => resolve())
    })
  await start()
  t.teardown(stop)
  return { url: `smtp://127.0.0.1:${port}`, received, start, stop }
}

/**
 * A process of ours (`src/server.ts` or `src/worker.ts`) as npm runs it, with `env`; killed at
 * teardown unless the test killed it first. `ready`: an HTTP URL to poll until it answers.
 */
export async function spawnProcess(
  t: Test,
  script: 'src/server.ts' | 'src/worker.ts',
  env: Record<string, string>,
  options: { captureStderr?: boolean } = {},
): Promise<{ child: ChildProcess; exited: Promise<unknown> }> {
  const child = spawn(process.execPath, [script], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', NODE_ENV: 'test', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'inherit', options.captureStderr ? 'pipe' : 'inherit'],
  })
  const exited = new Promise((resolve) => child.once('exit', resolve))
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
    await exited
  })
  return { child, exited }
}

/** src/server.ts in its own process over `env`'s DATABASE_URL; resolves with its URL once ready. */
export async function spawnApi(t: Test, env: Record<string, string>): Promise<string> {
  const port = await freePort()
  const { child } = await spawnProcess(t, 'src/server.ts', { HOST: '127.0.0.1', PORT: String(port), ...env })
  const url = `http://127.0.0.1:${port}`
  for (let i = 0; ; i++) {
    const up = await fetch(`${url}/ready`).then(
      (res) => res.ok,
      () => false,
    )
    if (up) return url
    if (i > 300 || child.exitCode !== null) throw new Error('API process did not become ready')
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}
