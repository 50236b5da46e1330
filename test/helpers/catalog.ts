/** Shapes of the app_audit views (db/audit.sql) and a small query helper, for the catalog tests. */
import type pg from 'pg'

export const API_ROLE = 'tenantry_app'
export const OWNER_ROLE = 'tenantry_owner'
export const COMMANDS = ['select', 'insert', 'update', 'delete'] as const
export type Command = (typeof COMMANDS)[number]

export type TableSecurity = {
  schema_name: string
  table_name: string
  owner: string
  rls_enabled: boolean
  rls_forced: boolean
} & { [K in `${Command}_policies`]: string[] } & { [K in `${Command}_granted`]: boolean | null }

export type Policy = {
  schema_name: string
  table_name: string
  policy_name: string
  command: Command | 'all'
  roles: string[]
  kind: 'permissive' | 'restrictive'
  using_expression: string | null
  with_check_expression: string | null
}

export type Grant = {
  object_type: string
  schema_name: string | null
  object_name: string
  column_name: string | null
  privilege: string
  granted_to: string
}

export async function rows<T>(client: pg.Client, text: string, values: unknown[] = []): Promise<T[]> {
  return (await client.query(text, values)).rows as T[]
}
