import { sql } from 'slonik'
import { z } from 'zod'

const One = z.object({ ok: z.number() })

/** A round trip through the pool: proves a connection can be had and the server answers. */
export const ping = () => sql.type(One)`select 1 as ok`
