import { sql } from 'slonik'
import { z } from 'zod'

const RateRow = z.object({ requests_per_minute: z.number().int().nullable() })

/** The request rate of a tenant's plan; null for a tenant that does not exist (any more). */
export const tenantRequestsPerMinute = (tenantId: string) =>
  sql.type(RateRow)`
    select app_private.tenant_requests_per_minute(${tenantId}::uuid) as requests_per_minute`
