import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import * as queries from './queries.ts'

export type PurgeResult = { ran: boolean; sessions: number; refreshTokens: number }

declare module 'fastify' {
  interface FastifyInstance {
    /** One purge of ended sessions and expired refresh tokens (skipped while another instance runs one). */
    purgeSessions: () => Promise<PurgeResult>
  }
}

/**
 * Every instance schedules the purge every SESSION_PURGE_INTERVAL seconds; the database lets one
 * run at a time (an advisory lock in app_private.purge_sessions) and the others skip that round,
 * so adding instances adds no work and no lock queue.
 */
export const sessionPurgePlugin = fp(
  async (app: FastifyInstance) => {
    const { SESSION_PURGE_INTERVAL: interval, SESSION_MAX_AGE: maxAge } = app.config
    const purgeSessions = async (): Promise<PurgeResult> => {
      const row = await app.db.one(queries.purgeSessions(maxAge))
      return { ran: row.ran, sessions: row.sessions, refreshTokens: row.refresh_tokens }
    }
    app.decorate('purgeSessions', purgeSessions)
    if (interval === 0) return

    // One round at a time per instance; closing waits for the round in flight (the pool closes after).
    let inFlight: Promise<void> | null = null
    const timer = setInterval(() => {
      inFlight ??= purgeSessions()
        .then((result) => {
          if (result.ran) app.log.info({ purged: result }, 'purged ended sessions')
        })
        .catch((error: unknown) => app.log.error({ err: error }, 'session purge failed'))
        .finally(() => {
          inFlight = null
        })
    }, interval * 1000)
    timer.unref()
    app.addHook('onClose', async () => {
      clearInterval(timer)
      await inFlight
    })
  },
  { name: 'session-purge', dependencies: ['database'] },
)
