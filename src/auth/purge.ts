import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import * as queries from './queries.ts'

export type PurgeResult = { ran: boolean; sessions: number; refreshTokens: number }

declare module 'fastify' {
  interface FastifyInstance {
    /** One purge of ended sessions and expired refresh tokens (skipped while another runs one). */
    purgeSessions: () => Promise<PurgeResult>
  }
}

/**
 * The purge on demand. Its schedule is a cron job of the job worker (src/jobs/runner.ts, every
 * SESSION_PURGE_INTERVAL), so there is one scheduler; the database still lets one purge run at a
 * time (an advisory lock in app_private.purge_sessions).
 */
export const sessionPurgePlugin = fp(
  async (app: FastifyInstance) => {
    const maxAge = app.config.SESSION_MAX_AGE
    app.decorate('purgeSessions', async (): Promise<PurgeResult> => {
      const row = await app.db.one(queries.purgeSessions(maxAge))
      return { ran: row.ran, sessions: row.sessions, refreshTokens: row.refresh_tokens }
    })
  },
  { name: 'session-purge', dependencies: ['database'] },
)
