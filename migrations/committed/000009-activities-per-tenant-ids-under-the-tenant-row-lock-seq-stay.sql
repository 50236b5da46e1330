--! Previous: sha1:9e2af3fb23bdb8af01a0c6dabaf72bbe1d57ef57
--! Hash: sha1:0458312b94d1c79bab79273a6262427fab7d5872
--! Message: Activities: per-tenant ids under the tenant-row lock; seq stays internal

/*
 * 3600 — per-tenant activity ids: nothing a client sees counts other tenants' events.
 *
 * Activity ids came from one identity for every tenant: a new tenant's first event was id 13,
 * and other tenants' writes showed up as gaps. `id` is now numbered per tenant by a trigger,
 * from app_public.tenants.last_activity_id, updated under the tenant-row lock (the lock the
 * item and member-limit triggers already take). The lock is held until commit, so a tenant's
 * ids are gap-free and in commit order: id n + 1 is taken only once the transaction of id n
 * has ended (and a rollback returns its number).
 *
 * The old identity stays as `seq`, internal: the realtime bridge orders every tenant's rows by
 * (tx, seq) across tenants (migration 000005), and (tx, id) is no longer unique there. Existing
 * rows keep their id (id = seq), so a lastEventId a client already holds still works; each
 * tenant's counter continues from its highest id.
 */
alter table app_public.activities rename column id to seq;
alter table app_public.activities add column id bigint;
update app_public.activities set id = seq;
alter table app_public.activities alter column id set not null;
alter table app_public.activities drop constraint activities_pkey;
alter table app_public.activities add primary key (tenant_id, id);
-- The rename carried these to seq; ?type= pages newest first by the per-tenant id.
drop index app_public.activities_tenant_type_idx;
create index activities_tenant_type_idx on app_public.activities (tenant_id, type, id);
-- (tx, seq) stays the bridge's cross-tenant position; it must be unique.
drop index app_public.activities_tx_idx;
create unique index activities_tx_seq_idx on app_public.activities (tx, seq);
alter index app_public.activities_tenant_tx_idx rename to activities_tenant_tx_seq_idx;

alter table app_public.tenants add column last_activity_id bigint not null default 0 check (last_activity_id >= 0);
update app_public.tenants t set last_activity_id = a.last_id
from (select tenant_id, max(id) as last_id from app_public.activities group by tenant_id) a
where a.tenant_id = t.id;

-- The counter moves with every activity; updated_at is about what a member can change.
drop trigger _100_timestamps on app_public.tenants;
create trigger _100_timestamps before insert or update of slug, name, plan, suspended_at, created_at, updated_at
  on app_public.tenants
  for each row execute procedure app_private.tg__timestamps();

create function app_private.tg_activities__number() returns trigger
  language plpgsql volatile security definer
  set search_path to pg_catalog, pg_temp
as $$
begin
  -- Row lock on the tenant until commit: concurrent writers of one tenant number one after another.
  update app_public.tenants t set last_activity_id = t.last_activity_id + 1
  where t.id = new.tenant_id
  returning t.last_activity_id into new.id;
  if not found then
    -- The tenant is being deleted in this transaction (cascades fire triggers): nothing to log.
    return null;
  end if;
  return new;
end;
$$;
comment on function app_private.tg_activities__number() is E'Trigger: numbers each activity per tenant (tenants.last_activity_id + 1) under the tenant-row lock, so a tenant''s ids are gap-free and in commit order; skips the row when the tenant is being deleted.';

create trigger _200_number before insert on app_public.activities
  for each row execute procedure app_private.tg_activities__number();

comment on column app_public.activities.id is E'Per-tenant number, gap-free and in commit order for the tenant (tg_activities__number). What clients see and hand back as lastEventId / after.';
comment on column app_public.activities.seq is E'Internal, never shown to clients: a global insertion number that breaks ties in the bridge''s cross-tenant (tx, seq) commit-order position.';
comment on column app_public.tenants.last_activity_id is E'The tenant''s last activity id: the counter tg_activities__number advances under this row''s lock.';

-- The doorbell carries the row's internal position too, so the bridge can tell retried NOTIFYs apart across tenants.
create or replace function app_private.tg_activities__notify() returns trigger
  language plpgsql volatile
  set search_path to pg_catalog, pg_temp
as $$
begin
  perform pg_catalog.pg_notify(
    'tenantry_activity',
    pg_catalog.json_build_object('tenantId', new.tenant_id, 'id', new.id, 'seq', new.seq, 'type', new.type)::text
  );
  return null;
end;
$$;
comment on function app_private.tg_activities__notify() is E'Trigger: NOTIFY tenantry_activity with {tenantId, id, seq, type} after each activity insert (id per tenant, seq internal).';

-- The bridge's cross-tenant read, now by (tx, seq): per-tenant ids repeat across tenants.
drop function app_private.realtime_committed_after(xid8, bigint, integer);
create function app_private.realtime_committed_after(p_tx xid8, p_seq bigint, p_limit integer)
  returns table (tenant_id uuid, tx xid8, seq bigint, type text, horizon xid8)
  language sql stable security definer
  set search_path to pg_catalog, pg_temp
as $$
  with h as (select pg_catalog.pg_snapshot_xmin(pg_catalog.pg_current_snapshot()) as horizon)
  select a.tenant_id, a.tx, a.seq, a.type, h.horizon
  from h
  left join lateral (
    select a.tenant_id, a.tx, a.seq, a.type
    from app_public.activities a
    where (a.tx, a.seq) > (p_tx, p_seq) and a.tx < h.horizon
    order by a.tx, a.seq
    limit least(greatest(p_limit, 1), 10000)
  ) a on true
  order by a.tx, a.seq
$$;
comment on function app_private.realtime_committed_after(xid8, bigint, integer) is E'Realtime bridge: positions (tx, seq; no content) of activities committed after (p_tx, p_seq) and below the snapshot horizon, in commit order; one row with NULLs and the horizon when there are none.';
grant execute on function app_private.realtime_committed_after(xid8, bigint, integer) to tenantry_app;

-- The removal notice also returns the row's internal position.
drop function app_private.realtime_removal_notice(uuid, xid8);
create function app_private.realtime_removal_notice(p_session_id uuid, p_after_tx xid8)
  returns table (id bigint, type text, tenant_id uuid, actor_id uuid, target text, payload jsonb, created_at timestamptz, tx xid8, seq bigint)
  language sql stable security definer
  set search_path to pg_catalog, pg_temp
as $$
  select a.id, a.type, a.tenant_id, a.actor_id, a.target, a.payload, a.created_at, a.tx, a.seq
  from app_private.sessions s
  join app_public.activities a
    on a.tenant_id = s.tenant_id and a.type = 'USER_REMOVED' and a.target = s.user_id::text
  where s.id = p_session_id
    and a.tx >= p_after_tx
    and a.tx < pg_catalog.pg_snapshot_xmin(pg_catalog.pg_current_snapshot())
    and not exists (
      select 1 from app_public.memberships m where m.tenant_id = s.tenant_id and m.user_id = s.user_id
    )
  order by a.tx desc, a.seq desc
  limit 1
$$;
comment on function app_private.realtime_removal_notice(uuid, xid8) is E'Realtime bridge: the USER_REMOVED activity about the owner of this session, when they are no longer a member; nothing otherwise.';
grant execute on function app_private.realtime_removal_notice(uuid, xid8) to tenantry_app;
