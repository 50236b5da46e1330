import {
  ConnectionError,
  createPool,
  createTimestampWithTimeZoneTypeParser,
  type DatabasePool,
  type DatabasePoolConnection,
  type Interceptor,
  SchemaValidationError,
} from 'slonik'

const timestamptz = createTimestampWithTimeZoneTypeParser()

/**
 * The API's pool, connected as tenantry_app.
 *
 * - Rows of `sql.type(schema)` queries are validated by the schema (slonik validates nothing
 *   without such an interceptor).
 * - timestamptz comes back as an ISO 8601 string and int8 as a number (our bigints are identity
 *   ids and counts, far below 2^53), which is what the JSON contract carries.
 * - No connection reset on release: request settings are transaction-local (SET LOCAL in begin_request),
 *   so slonik's default `DISCARD ALL` would only cost a round trip per request and drop prepared
 *   statements. test/tenancy/isolation.test.ts proves a reused connection carries no settings.
 */
export async function createDatabasePool(
  connectionUri: string,
  options: { maxPoolSize: number; statementTimeout?: number; connectionTimeout?: number },
): Promise<DatabasePool> {
  const connectionTimeout = options.connectionTimeout ?? 5_000
  const pool = await createPool(connectionUri, {
    maxPoolSize: options.maxPoolSize,
    interceptors: [validateRows],
    typeParsers: [
      { name: 'int8', parse: (value) => Number(value) },
      { name: 'timestamptz', parse: (value) => new Date(timestamptz.parse(value) as number).toISOString() },
    ],
    resetConnection: async () => {},
    captureStackTrace: false,
    // Keep idle connections for a minute: bursts otherwise pay for new connections and SCRAM.
    idleTimeout: 60_000,
    // Bounds every statement's time in the database, lock waits included (a 503 past it).
    statementTimeout: options.statementTimeout ?? 15_000,
    idleInTransactionSessionTimeout: 30_000,
    // How long a request waits for a pooled connection before a 503: never an unbounded queue.
    connectionTimeout,
  })
  return withAcquireTimeout(pool, connectionTimeout)
}

const QUERY_METHODS = new Set([
  'any',
  'anyFirst',
  'exists',
  'many',
  'manyFirst',
  'maybeOne',
  'maybeOneFirst',
  'one',
  'oneFirst',
  'query',
  'record',
  'transaction',
])

/**
 * slonik queues a request for a connection without limit when the pool is full, so a few slow
 * requests made every other one hang for as long as they did. Through this wrapper every use of
 * the pool waits at most `ms` for a connection, then fails with a ConnectionError (a 503
 * problem). A waiter that gave up gets its connection later and hands it straight back.
 */
function withAcquireTimeout(pool: DatabasePool, ms: number): DatabasePool {
  const acquire = <T>(use: (connection: DatabasePoolConnection) => Promise<T>): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      let gaveUp = false
      const timer = setTimeout(() => {
        gaveUp = true
        reject(new ConnectionError(`no database connection became free within ${ms} ms`))
      }, ms)
      pool
        .connect(async (connection) => {
          if (gaveUp) return undefined as T
          clearTimeout(timer)
          return use(connection)
        })
        .then(resolve, (error: unknown) => {
          clearTimeout(timer)
          reject(error)
        })
    })
  return new Proxy(pool, {
    get(target, property, receiver) {
      if (property === 'connect') {
        return <T>(handler: (connection: DatabasePoolConnection) => Promise<T>) => acquire(handler)
      }
      if (typeof property === 'string' && QUERY_METHODS.has(property)) {
        return (...args: unknown[]) =>
          acquire(
            (connection) => Reflect.apply(Reflect.get(connection, property), connection, args) as Promise<unknown>,
          )
      }
      return Reflect.get(target, property, receiver)
    },
  })
}

const validateRows: Interceptor = {
  name: 'validate-rows',
  transformRow: (context, query, row) => {
    const parser = context.resultParser
    if (!parser) return row
    const result = parser['~standard'].validate(row)
    if (result instanceof Promise) throw new TypeError('async row schemas are not supported')
    if (result.issues) throw new SchemaValidationError(query, row, result.issues)
    return result.value as typeof row
  },
}
