import {
  createPool,
  createTimestampWithTimeZoneTypeParser,
  type DatabasePool,
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
 * - No connection reset on release: request settings are transaction-local (set_config(..., true)),
 *   so slonik's default `DISCARD ALL` would only cost a round trip per request and drop prepared
 *   statements. test/isolation-sql.test.ts proves a reused connection carries no settings.
 */
export async function createDatabasePool(
  connectionUri: string,
  options: { maxPoolSize: number },
): Promise<DatabasePool> {
  return createPool(connectionUri, {
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
    statementTimeout: 15_000,
    idleInTransactionSessionTimeout: 30_000,
    connectionTimeout: 5_000,
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
