import { sql } from 'slonik'

/**
 * A JSON value as a jsonb parameter: text that PostgreSQL parses. One encoding for every jsonb
 * the API writes. Text the server cannot hold (a lone UTF-16 surrogate, written by
 * JSON.stringify as an escape) is refused by PostgreSQL with SQLSTATE 22P02, which maps to a
 * 400; slonik's sql.jsonb threw a code-less error for it instead, which became a 500.
 */
export const jsonb = (value: unknown) => sql.fragment`${JSON.stringify(value)}::jsonb`
