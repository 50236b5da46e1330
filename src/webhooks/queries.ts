import { sql } from 'slonik'
import { z } from 'zod'
import { NoColumns } from '../db/context.ts'
import { fieldsOf } from '../http/schemas.ts'
import { WebhookDelivery, WebhookEndpoint } from './schemas.ts'

// ---- the API (slonik, the request's tenant context) ---------------------------------------------

const EndpointRow = WebhookEndpoint.extend({ sortAt: z.string() })
type EndpointRow = z.infer<typeof EndpointRow>
const DeliveryRow = WebhookDelivery.extend({ sortAt: z.string() })
type DeliveryRow = z.infer<typeof DeliveryRow>

export const toEndpoint = fieldsOf(WebhookEndpoint)
export const endpointCursor = (row: EndpointRow) => [row.sortAt, row.id] as const
export const toDelivery = fieldsOf(WebhookDelivery)
export const deliveryCursor = (row: DeliveryRow) => [row.sortAt, row.id] as const

const endpointColumns = sql.fragment`
  id, url, events, enabled, disabled_reason as "disabledReason", created_at as "createdAt",
  updated_at as "updatedAt", created_at::text as "sortAt"`

const inTenant = sql.fragment`tenant_id = app_public.current_tenant_id()`

export const createEndpoint = (input: { url: string; events: string[]; enabled: boolean }) =>
  sql.type(EndpointRow)`
    insert into app_public.webhook_endpoints (url, events, enabled)
    values (${input.url}, ${sql.array(input.events, 'text')}, ${input.enabled})
    returning ${endpointColumns}`

export const setSecret = (id: string, secret: string, graceSeconds: number) =>
  sql.type(z.object({ until: z.string().nullable() }))`
    select app_private.set_webhook_secret(${id}::uuid, ${secret}::text, make_interval(secs => ${graceSeconds})) as until`

export const listEndpoints = (before: readonly [string, string] | null, limit: number) =>
  sql.type(EndpointRow)`
    select ${endpointColumns} from app_public.webhook_endpoints
    where ${inTenant}
      ${before ? sql.fragment`and (created_at, id) < (${before[0]}::timestamptz, ${before[1]}::uuid)` : sql.fragment``}
    order by created_at desc, id desc
    limit ${limit + 1}`

export const getEndpoint = (id: string) =>
  sql.type(
    EndpointRow,
  )`select ${endpointColumns} from app_public.webhook_endpoints where ${inTenant} and id = ${id}::uuid`

export const updateEndpoint = (
  id: string,
  changes: { url?: string | undefined; events?: string[] | undefined; enabled?: boolean | undefined },
) =>
  sql.type(EndpointRow)`
    update app_public.webhook_endpoints
    set url = coalesce(${changes.url ?? null}::text, url),
        events = coalesce(${changes.events ? sql.array(changes.events, 'text') : null}::text[], events),
        enabled = coalesce(${changes.enabled ?? null}::boolean, enabled)
    where ${inTenant} and id = ${id}::uuid
    returning ${endpointColumns}`

export const deleteEndpoint = (id: string) =>
  sql.type(z.object({ id: z.uuid() }))`
    delete from app_public.webhook_endpoints where ${inTenant} and id = ${id}::uuid returning id`

export const listDeliveries = (endpointId: string, before: readonly [string, string] | null, limit: number) =>
  sql.type(DeliveryRow)`
    select id, activity_id as "activityId", event_type as type, status, attempts, response_status as "responseStatus",
           error, latency_ms as "latencyMs", created_at as "createdAt", last_attempt_at as "lastAttemptAt",
           next_attempt_at as "nextAttemptAt", delivered_at as "deliveredAt", created_at::text as "sortAt"
    from app_public.webhook_deliveries
    where ${inTenant} and endpoint_id = ${endpointId}::uuid
      ${before ? sql.fragment`and (created_at, id) < (${before[0]}::timestamptz, ${before[1]}::uuid)` : sql.fragment``}
    order by created_at desc, id desc
    limit ${limit + 1}`

export const retryDelivery = (endpointId: string, deliveryId: string) =>
  sql.type(NoColumns)`select from app_private.retry_webhook_delivery(${endpointId}::uuid, ${deliveryId}::uuid)`

// ---- the worker (graphile-worker's pg pool, the owner role; plain parameterised SQL) ----------

/**
 * The endpoint's next activities (up to $3): the first of its types after its position, below the snapshot
 * horizon (every older transaction has ended: nothing can commit before it any more), as the
 * Standard Webhooks body {type, timestamp, data} with data exactly as GET /v1/activities shows it.
 */
export const NEXT_EVENT = `
  select a.id::text as id, a.type, a.tx::text as tx, a.seq::text as seq, e.url,
         json_build_object('type', a.type, 'timestamp', app_api.iso(a.created_at), 'data', app_api.activity_json(a))::text as body
  from app_public.webhook_endpoints e
  join app_public.activities a on a.tenant_id = e.tenant_id
  where e.tenant_id = $1 and e.id = $2 and e.enabled
    and (a.tx, a.seq) > (e.after_tx, e.after_seq)
    and a.tx < pg_snapshot_xmin(pg_current_snapshot())
    and a.type = any (e.events)
  order by a.tx, a.seq
  limit $3`

/** Whether an activity the endpoint wants is still above the horizon (its transaction, or an older one, runs). */
export const WAITING_ABOVE_HORIZON = `
  select exists (
    select 1 from app_public.webhook_endpoints e
    join app_public.activities a on a.tenant_id = e.tenant_id
    where e.tenant_id = $1 and e.id = $2 and e.enabled
      and (a.tx, a.seq) > (e.after_tx, e.after_seq)
      and a.tx >= pg_snapshot_xmin(pg_current_snapshot())
      and a.type = any (e.events)
  ) as waiting`

export const SECRETS = `
  select secret, case when previous_valid_until > now() then previous_secret end as previous
  from app_private.webhook_secrets where tenant_id = $1 and endpoint_id = $2`

/**
 * The deliveries of (endpoint, activity) for a batch of activities, in one statement: made once,
 * so every attempt of one carries one webhook-id.
 */
export const DELIVERIES_FOR = `
  insert into app_public.webhook_deliveries (tenant_id, endpoint_id, activity_id, event_type)
  select $1, $2, a.id, a.type from unnest($3::bigint[], $4::text[]) as a (id, type)
  on conflict (tenant_id, endpoint_id, activity_id) do update set event_type = excluded.event_type
  returning id, activity_id::text as activity_id, status, attempts`

/** A 2xx: the delivery is done and the position moves past it, in one statement. */
export const DELIVERED = `
  with delivery as (
    update app_public.webhook_deliveries
    set attempts = attempts + 1, status = 'delivered', response_status = $4, error = null, latency_ms = $5,
        last_attempt_at = now(), next_attempt_at = null, delivered_at = coalesce(delivered_at, now())
    where tenant_id = $1 and id = $3
  )
  update app_public.webhook_endpoints set after_tx = $6::xid8, after_seq = $7::bigint
  where tenant_id = $1 and id = $2 and (after_tx, after_seq) < ($6::xid8, $7::bigint)`

/** One attempt's outcome. Status null (an attempt by hand that failed): the delivery's status stands. */
export const RECORD_ATTEMPT = `
  update app_public.webhook_deliveries
  set attempts = attempts + 1,
      status = case when $3 = 'delivered' or status = 'delivered' then 'delivered' else coalesce($3, status) end,
      response_status = $4, error = $5, latency_ms = $6, last_attempt_at = now(),
      next_attempt_at = case when $3 is null then next_attempt_at else $7 end,
      delivered_at = case when $3 = 'delivered' then coalesce(delivered_at, now()) else delivered_at end
  where tenant_id = $1 and id = $2
  returning attempts`

/** Moves the position past a handled activity (never backwards). */
export const ADVANCE = `
  update app_public.webhook_endpoints set after_tx = $3::xid8, after_seq = $4::bigint
  where tenant_id = $1 and id = $2 and (after_tx, after_seq) < ($3::xid8, $4::bigint)`

export const WAKE = `select app_private.wake_webhook($1::uuid, $2::uuid, $3::timestamptz, $4::text)`

export const DISABLE = `select app_private.disable_webhook($1::uuid, $2::uuid, $3::text)`

/** One delivery to attempt again by hand: its activity's body and the endpoint's URL. */
export const DELIVERY_TO_RETRY = `
  select d.id, e.url, e.enabled,
         json_build_object('type', a.type, 'timestamp', app_api.iso(a.created_at), 'data', app_api.activity_json(a))::text as body
  from app_public.webhook_deliveries d
  join app_public.webhook_endpoints e on e.tenant_id = d.tenant_id and e.id = d.endpoint_id
  join app_public.activities a on a.tenant_id = d.tenant_id and a.id = d.activity_id
  where d.tenant_id = $1 and d.endpoint_id = $2 and d.id = $3`
