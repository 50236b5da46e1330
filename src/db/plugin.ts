import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { createDatabasePool } from './pool.ts'

/**
 * The API role's pool as `app.db`. It is created with the app and released when the app closes
 * (after every other plugin's onClose, since it is registered first), so server, tests and bench
 * share one lifecycle instead of each ending the pool themselves.
 */
export const databasePlugin = fp(
  async (
    app: FastifyInstance,
    options: { url: string; maxPoolSize: number; statementTimeout: number; connectionTimeout: number },
  ) => {
    const { url, ...poolOptions } = options
    const pool = await createDatabasePool(url, poolOptions)
    app.decorate('db', pool)
    app.addHook('onClose', async () => {
      // A test may end the pool itself to show a route needs no connection.
      if (pool.state().state === 'ACTIVE') await pool.end()
    })
  },
  { name: 'database' },
)
