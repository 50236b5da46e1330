import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { LoopPressure } from '../fairness/loop-pressure.ts'
import { TenantSlots } from '../fairness/tenant-slots.ts'
import { createDatabasePool } from './pool.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** Each tenant's share of the pool: request transactions run through it. */
    tenantSlots: TenantSlots
  }
}

/**
 * The API role's pool as `app.db`. It is created with the app and released when the app closes
 * (after every other plugin's onClose, since it is registered first), so server, tests and bench
 * share one lifecycle instead of each ending the pool themselves.
 *
 * One tenant may hold at most `perTenant` connections (default half the pool): beyond that its
 * requests wait briefly, then get 429, while other tenants keep the rest of the pool. While the
 * event loop is saturated and another tenant is active, each tenant holds at most
 * `perTenantBusy` (see tenant-slots.ts).
 */
export const databasePlugin = fp(
  async (
    app: FastifyInstance,
    options: {
      url: string
      maxPoolSize: number
      statementTimeout: number
      connectionTimeout: number
      perTenant?: number | undefined
      perTenantBusy?: number | undefined
    },
  ) => {
    const { url, perTenant: _, perTenantBusy: __, ...poolOptions } = options
    const pool = await createDatabasePool(url, poolOptions)
    app.decorate('db', pool)
    const perTenant = Math.min(options.perTenant ?? Math.ceil(options.maxPoolSize / 2), options.maxPoolSize)
    // Waiting is cheap (no connection held): a burst of a tenant queues behind itself, bounded
    // in length and in time, rather than being refused at once and retried in a storm.
    const perTenantBusy = Math.min(options.perTenantBusy ?? 1, perTenant)
    const pressure = perTenantBusy < perTenant ? new LoopPressure() : undefined
    if (pressure) app.addHook('onClose', async () => pressure.close())
    app.decorate(
      'tenantSlots',
      new TenantSlots({ perTenant, perTenantBusy, maxWaiting: options.maxPoolSize * 10, maxWaitMs: 2000, pressure }),
    )
    app.addHook('onClose', async () => {
      // A test may end the pool itself to show a route needs no connection.
      if (pool.state().state !== 'ACTIVE') return
      // After the server went away (a restart, a failover), slonik may still be destroying the
      // dead connections and throws "Client is pending destroy" from end(): closing must not fail.
      await pool.end().catch((error: unknown) => app.log.warn({ err: error }, 'the database pool did not end cleanly'))
    })
  },
  { name: 'database' },
)
