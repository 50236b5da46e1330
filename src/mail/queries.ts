import { sql } from 'slonik'
import { z } from 'zod'

/** The dev mailbox as JSON text built by PostgreSQL ({data: [...]}, newest first). */
export const devMailbox = (limit: number) =>
  sql.type(z.object({ body: z.string() }))`select app_private.dev_mailbox(${limit}::int) as body`
