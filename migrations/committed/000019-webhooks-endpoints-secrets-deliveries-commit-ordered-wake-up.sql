--! Previous: sha1:1be30cfe85c7dfeda3c9c03bbaef4b24ad1fa638
--! Hash: sha1:eecfeef3b47ce480d538e8615a18ffdd993cbe3e
--! Message: Webhooks: endpoints, secrets, deliveries, commit-ordered wake-ups

--! split: 4100-webhooks.sql
/*
 * 4100 — Webhooks: a tenant's activities delivered to its HTTPS endpoints (DESIGN.md,
 * "Integrations").
 *
 * Source and order: each endpoint keeps a position (after_tx, after_seq) in the same commit order
 * as realtime (activities.tx, seq; delivered only below the snapshot horizon, so a lower id that
 * commits late is never skipped). One graphile-worker job per endpoint at a time (queue
 * `webhooks:<endpoint>`) sends the next matching activity, waits for a 2xx, then moves the
 * position past it: per endpoint in commit order, once, across any number of workers.
 *
 * Wake-up: a trigger on activities queues the endpoint's job in the writing transaction (a
 * rolled-back change wakes nothing; a committed one is never forgotten). A job that finds rows
 * above the horizon comes back shortly; a failed delivery comes back after its backoff.
 *
 * Secrets live in app_private.webhook_secrets (the worker signs with them; the API shows one once).
 * Deliveries are a tenant table the worker writes and admins read.
 */

-- ---- endpoints --------------------------------------------------------------------------------

create table app_public.webhook_endpoints (
  tenant_id uuid not null default app_public.current_tenant_id()
    references app_public.tenants (id) on delete cascade,
  id uuid not null default gen_random_uuid(),
  url text not null check (char_length(url) <= 2000 and url ~ '^https?://'),
  events text[] not null check (cardinality(events) between 1 and 100),
  enabled boolean not null default true,
  disabled_reason text,
  created_by uuid default app_public.current_user_id(),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  -- Everything committed after the endpoint's own transaction is delivered.
  after_tx xid8 not null default pg_current_xact_id(),
  after_seq bigint not null default 9223372036854775807,
  primary key (tenant_id, id)
);
alter table app_public.webhook_endpoints enable row level security;
alter table app_public.webhook_endpoints force row level security;

create index webhook_endpoints_tenant_idx on app_public.webhook_endpoints (tenant_id, created_at desc, id desc);

-- Not on a move of the position: updated_at is when an admin last changed the endpoint.
create trigger _100_timestamps before insert or update of url, events, enabled on app_public.webhook_endpoints
  for each row execute procedure app_private.tg__timestamps();

-- Admins manage the current tenant's endpoints.
create policy select_admin on app_public.webhook_endpoints for select to tenantry_app
  using (tenant_id = (select app_public.current_tenant_id()) and (select app_public.current_member_role()) >= 'admin');
comment on policy select_admin on app_public.webhook_endpoints is E'Admins and owners see the current tenant''s webhook endpoints.';
-- Admins add endpoints to the current tenant.
create policy insert_admin on app_public.webhook_endpoints for insert to tenantry_app
  with check (tenant_id = (select app_public.current_tenant_id()) and (select app_public.current_member_role()) >= 'admin'
              and created_by is not distinct from (select app_public.current_user_id()));
comment on policy insert_admin on app_public.webhook_endpoints is E'Admins and owners add webhook endpoints to the current tenant.';
-- Admins change the current tenant's endpoints.
create policy update_admin on app_public.webhook_endpoints for update to tenantry_app
  using (tenant_id = (select app_public.current_tenant_id()) and (select app_public.current_member_role()) >= 'admin')
  with check (tenant_id = (select app_public.current_tenant_id()));
comment on policy update_admin on app_public.webhook_endpoints is E'Admins and owners change the current tenant''s webhook endpoints.';
-- Admins delete the current tenant's endpoints.
create policy delete_admin on app_public.webhook_endpoints for delete to tenantry_app
  using (tenant_id = (select app_public.current_tenant_id()) and (select app_public.current_member_role()) >= 'admin');
comment on policy delete_admin on app_public.webhook_endpoints is E'Admins and owners delete the current tenant''s webhook endpoints.';

grant select (tenant_id, id, url, events, enabled, disabled_reason, created_by, created_at, updated_at)
  on app_public.webhook_endpoints to tenantry_app;
grant insert (url, events, enabled) on app_public.webhook_endpoints to tenantry_app;
grant update (url, events, enabled) on app_public.webhook_endpoints to tenantry_app;
grant delete on app_public.webhook_endpoints to tenantry_app;

comment on table app_public.webhook_endpoints is E'Where a tenant''s activities are POSTed (Standard Webhooks), filtered by type. The worker keeps each one''s position in the commit-ordered log.';
comment on column app_public.webhook_endpoints.events is E'Activity types delivered to this endpoint.';
comment on column app_public.webhook_endpoints.disabled_reason is E'Why the worker disabled it (failing for about a day); cleared when an admin enables it again.';
comment on column app_public.webhook_endpoints.after_tx is E'Position: the commit-order position (tx, seq) of the last activity handled; the next delivery is the first matching one after it, below the snapshot horizon.';
comment on column app_public.webhook_endpoints.after_seq is E'Position: see after_tx.';

-- ---- secrets ----------------------------------------------------------------------------------

create table app_private.webhook_secrets (
  tenant_id uuid not null,
  endpoint_id uuid not null,
  secret text not null check (secret ~ '^whsec_[A-Za-z0-9+/]+=*$'),
  previous_secret text check (previous_secret ~ '^whsec_[A-Za-z0-9+/]+=*$'),
  previous_valid_until timestamptz,
  primary key (tenant_id, endpoint_id),
  foreign key (tenant_id, endpoint_id) references app_public.webhook_endpoints (tenant_id, id) on delete cascade
);
comment on table app_private.webhook_secrets is E'The signing secret of each webhook endpoint, and during a rotation''s grace period the previous one (both sign). Shown to an admin once; read by the worker only.';

/*
 * Sets an endpoint's signing secret: for an endpoint just created, or a rotation (the old secret
 * keeps signing until p_grace has passed). One job; the caller must be an admin of its tenant.
 */
create function app_private.set_webhook_secret(p_endpoint_id uuid, p_secret text, p_grace interval)
  returns timestamptz
  language plpgsql volatile security definer
  set search_path to pg_catalog, pg_temp
as $$
declare
  v_tenant_id uuid := app_public.current_tenant_id();
  v_until timestamptz;
begin
  if v_tenant_id is null or app_public.current_member_role() is null
     or app_public.current_member_role() operator(pg_catalog.<) 'admin'::app_public.membership_role then
    raise exception 'your role does not allow this' using errcode = '42501';
  end if;
  perform 1 from app_public.webhook_endpoints e where e.tenant_id = v_tenant_id and e.id = p_endpoint_id;
  if not found then
    raise exception 'webhook not found' using errcode = 'TN404';
  end if;
  insert into app_private.webhook_secrets (tenant_id, endpoint_id, secret)
  values (v_tenant_id, p_endpoint_id, p_secret)
  on conflict (tenant_id, endpoint_id) do update
    set previous_secret = webhook_secrets.secret,
        previous_valid_until = pg_catalog.now() + p_grace,
        secret = excluded.secret
  returning previous_valid_until into v_until;
  return v_until;
end;
$$;
grant execute on function app_private.set_webhook_secret(uuid, text, interval) to tenantry_app;
revoke execute on function app_private.set_webhook_secret(uuid, text, interval) from public;
comment on function app_private.set_webhook_secret(uuid, text, interval) is E'Sets the signing secret of a webhook endpoint of the current tenant (admins): the first one, or a rotation that keeps the previous secret signing for p_grace. Returns when the previous one stops (NULL for the first). TN404: no such endpoint; 42501: not an admin.';

-- ---- deliveries -------------------------------------------------------------------------------

create table app_public.webhook_deliveries (
  tenant_id uuid not null references app_public.tenants (id) on delete cascade,
  id uuid not null default gen_random_uuid(),
  endpoint_id uuid not null,
  activity_id bigint not null,
  event_type text not null,
  status text not null default 'pending' check (status in ('pending', 'delivered', 'failed')),
  attempts integer not null default 0,
  response_status integer,
  error text,
  latency_ms integer,
  created_at timestamptz not null default now(),
  last_attempt_at timestamptz,
  next_attempt_at timestamptz,
  delivered_at timestamptz,
  primary key (tenant_id, id),
  unique (tenant_id, endpoint_id, activity_id),
  foreign key (tenant_id, endpoint_id) references app_public.webhook_endpoints (tenant_id, id) on delete cascade
);
alter table app_public.webhook_deliveries enable row level security;
alter table app_public.webhook_deliveries force row level security;

create index webhook_deliveries_tenant_endpoint_idx
  on app_public.webhook_deliveries (tenant_id, endpoint_id, created_at desc, id desc);

-- Admins read the delivery log of the current tenant; only the worker writes it.
create policy select_admin on app_public.webhook_deliveries for select to tenantry_app
  using (tenant_id = (select app_public.current_tenant_id()) and (select app_public.current_member_role()) >= 'admin');
comment on policy select_admin on app_public.webhook_deliveries is E'Admins and owners read the current tenant''s delivery log.';
grant select on app_public.webhook_deliveries to tenantry_app;

comment on table app_public.webhook_deliveries is E'One row per (endpoint, activity) sent: attempts, status and the last attempt''s response code, latency and error. Its id is the webhook-id every attempt carries.';

-- ---- queueing ---------------------------------------------------------------------------------

/*
 * Queues the endpoint's delivery job. One queue per endpoint (its jobs run one at a time, in
 * order) and one job key (wake-ups collapse into the waiting job). 'preserve_run_at' for a
 * wake-up (a new activity must not cut a backoff short); 'replace' to schedule a retry.
 */
create function app_private.wake_webhook(p_tenant_id uuid, p_endpoint_id uuid, p_run_at timestamptz, p_mode text)
  returns void
  language plpgsql volatile security definer
  set search_path to pg_catalog, pg_temp
as $$
begin
  perform graphile_worker.add_job(
    'webhook_deliver',
    pg_catalog.json_build_object('tenantId', p_tenant_id, 'endpointId', p_endpoint_id),
    queue_name => 'webhooks:' || p_endpoint_id::text,
    run_at => p_run_at,
    max_attempts => 25,
    job_key => 'webhook:' || p_endpoint_id::text,
    job_key_mode => p_mode
  );
end;
$$;
revoke execute on function app_private.wake_webhook(uuid, uuid, timestamptz, text) from public;
comment on function app_private.wake_webhook(uuid, uuid, timestamptz, text) is E'Queues (or reschedules) the delivery job of one webhook endpoint (graphile-worker task webhook_deliver). Called by triggers and the worker only.';

create function app_private.tg_activities__wake_webhooks() returns trigger
  language plpgsql volatile security definer
  set search_path to pg_catalog, pg_temp
as $$
begin
  perform app_private.wake_webhook(e.tenant_id, e.id, null, 'preserve_run_at')
  from app_public.webhook_endpoints e
  where e.tenant_id = new.tenant_id and e.enabled and new.type = any (e.events);
  return null;
end;
$$;
revoke execute on function app_private.tg_activities__wake_webhooks() from public;
comment on function app_private.tg_activities__wake_webhooks() is E'Trigger: an activity wakes the delivery job of every enabled endpoint of its tenant that wants its type, in the same transaction.';

create trigger _910_wake_webhooks after insert on app_public.activities
  for each row execute procedure app_private.tg_activities__wake_webhooks();

-- Enabling an endpoint again (or creating one enabled) wakes its job: it resumes at its position.
create function app_private.tg_webhook_endpoints__wake() returns trigger
  language plpgsql volatile security definer
  set search_path to pg_catalog, pg_temp
as $$
begin
  if new.enabled and (tg_op = 'INSERT' or not old.enabled) then
    -- A delivery the worker gave up on gets a fresh round of attempts.
    update app_public.webhook_deliveries d set status = 'pending', attempts = 0, next_attempt_at = null
    where d.tenant_id = new.tenant_id and d.endpoint_id = new.id and d.status = 'failed';
    perform app_private.wake_webhook(new.tenant_id, new.id, null, 'replace');
  end if;
  return null;
end;
$$;
revoke execute on function app_private.tg_webhook_endpoints__wake() from public;
comment on function app_private.tg_webhook_endpoints__wake() is E'Trigger: an endpoint enabled again resumes delivery from its position at once, its given-up deliveries pending again with a fresh count of attempts.';

create trigger _900_wake after insert or update of enabled on app_public.webhook_endpoints
  for each row execute procedure app_private.tg_webhook_endpoints__wake();

-- An admin enabling an endpoint clears why it was disabled.
create function app_private.tg_webhook_endpoints__clear_reason() returns trigger
  language plpgsql volatile
  set search_path to pg_catalog, pg_temp
as $$
begin
  if new.enabled then
    new.disabled_reason := null;
  end if;
  return new;
end;
$$;
revoke execute on function app_private.tg_webhook_endpoints__clear_reason() from public;
comment on function app_private.tg_webhook_endpoints__clear_reason() is E'Trigger: an enabled endpoint has no disabled_reason.';

create trigger _200_clear_reason before update of enabled on app_public.webhook_endpoints
  for each row execute procedure app_private.tg_webhook_endpoints__clear_reason();

/*
 * Manual retry (POST /v1/webhooks/:id/deliveries/:deliveryId/retry): one more attempt of one
 * delivery, with its webhook-id, whatever its status; then the endpoint's job continues.
 */
create function app_private.retry_webhook_delivery(p_endpoint_id uuid, p_delivery_id uuid) returns void
  language plpgsql volatile security definer
  set search_path to pg_catalog, pg_temp
as $$
declare
  v_tenant_id uuid := app_public.current_tenant_id();
begin
  if v_tenant_id is null or app_public.current_member_role() is null
     or app_public.current_member_role() operator(pg_catalog.<) 'admin'::app_public.membership_role then
    raise exception 'your role does not allow this' using errcode = '42501';
  end if;
  perform 1 from app_public.webhook_deliveries d
  where d.tenant_id = v_tenant_id and d.endpoint_id = p_endpoint_id and d.id = p_delivery_id;
  if not found then
    raise exception 'delivery not found' using errcode = 'TN404';
  end if;
  perform graphile_worker.add_job(
    'webhook_redeliver',
    pg_catalog.json_build_object('tenantId', v_tenant_id, 'endpointId', p_endpoint_id, 'deliveryId', p_delivery_id),
    queue_name => 'webhooks:' || p_endpoint_id::text,
    max_attempts => 1
  );
end;
$$;
grant execute on function app_private.retry_webhook_delivery(uuid, uuid) to tenantry_app;
revoke execute on function app_private.retry_webhook_delivery(uuid, uuid) from public;
comment on function app_private.retry_webhook_delivery(uuid, uuid) is E'Queues one more attempt of a delivery of an endpoint of the current tenant (admins), in the endpoint''s queue. TN404: no such delivery; 42501: not an admin.';

-- ---- the activity: WEBHOOK_DISABLED --------------------------------------------------------------

alter table app_public.activities drop constraint activities_type_check;
alter table app_public.activities add constraint activities_type_check check (type = any (array[
  'USER_JOINED', 'USER_REMOVED', 'ROLE_CHANGED', 'PLAN_UPGRADED', 'PLAN_DOWNGRADED', 'BROADCAST_MESSAGE',
  'INVITATION_CREATED', 'INVITATION_REVOKED', 'TENANT_UPDATED', 'TENANT_SUSPENDED', 'TENANT_RESUMED',
  'ITEM_CREATED', 'ITEM_UPDATED', 'ITEM_DELETED', 'API_KEY_CREATED', 'API_KEY_UPDATED', 'API_KEY_REVOKED',
  'WEBHOOK_DISABLED'
]::text[]));

drop policy select_member on app_public.activities;
create policy select_member on app_public.activities for select to tenantry_app
  using (tenant_id = (select app_public.current_tenant_id())
         and (select app_public.current_member_role()) is not null
         and (type <> all (array['INVITATION_CREATED', 'INVITATION_REVOKED',
                                 'API_KEY_CREATED', 'API_KEY_UPDATED', 'API_KEY_REVOKED', 'WEBHOOK_DISABLED']::text[])
              or (select app_public.current_member_role()) >= 'admin'));
comment on policy select_member on app_public.activities is E'Members read the current tenant''s log; INVITATION_* (they carry the invitee''s email), API_KEY_* and WEBHOOK_* only admins and owners, as the lists they come from.';

/*
 * The worker gives up on an endpoint: disabled, with its reason, and a WEBHOOK_DISABLED activity
 * (by the platform: no actor) in the same transaction.
 */
create function app_private.disable_webhook(p_tenant_id uuid, p_endpoint_id uuid, p_reason text) returns void
  language plpgsql volatile security definer
  set search_path to pg_catalog, pg_temp
as $$
declare
  v_url text;
begin
  update app_public.webhook_endpoints e set enabled = false, disabled_reason = p_reason
  where e.tenant_id = p_tenant_id and e.id = p_endpoint_id and e.enabled
  returning e.url into v_url;
  if found then
    perform app_private.log_activity(p_tenant_id, 'WEBHOOK_DISABLED', p_endpoint_id::text,
      pg_catalog.jsonb_build_object('webhookId', p_endpoint_id, 'url', v_url, 'reason', p_reason), null);
  end if;
end;
$$;
revoke execute on function app_private.disable_webhook(uuid, uuid, text) from public;
comment on function app_private.disable_webhook(uuid, uuid, text) is E'Worker: disables a failing webhook endpoint with its reason and records WEBHOOK_DISABLED.';
