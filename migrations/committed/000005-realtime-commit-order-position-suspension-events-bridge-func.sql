--! Previous: sha1:0f65935ddfb7bef5d2159a18e0438711083a162b
--! Hash: sha1:f2b41c1c52262b796189ae2f8af79deaef24589d
--! Message: realtime: commit-order position, suspension events, bridge functions

/*
 * 3500 — realtime: commit order, suspension events, and what the bridge may ask the database.
 *
 * An identity id is taken when a row is inserted, not when its transaction commits: id 41 can
 * commit after id 42, so "everything after id 42" skips 41 forever. `tx` records the inserting
 * transaction (pg_current_xact_id()); a reader delivers only rows whose tx is below
 * pg_snapshot_xmin(pg_current_snapshot()) — every transaction there has ended, so no row can
 * later appear before a position already handed out — in (tx, id) order. A long transaction
 * anywhere in the cluster holds that horizon back: the API bounds its own with
 * idle_in_transaction_session_timeout and statement_timeout (see README, "Realtime").
 */
alter table app_public.activities
  add column tx xid8 not null default pg_catalog.pg_current_xact_id();

-- Replay after a position, per tenant (sockets' lastEventId, GET /v1/activities?after=).
create index activities_tenant_tx_idx on app_public.activities (tenant_id, tx, id);
-- The bridge's one cross-tenant scan: what committed since this instance's position.
create index activities_tx_idx on app_public.activities (tx, id);

comment on column app_public.activities.tx is E'Commit-order position: the inserting transaction (pg_current_xact_id()). Readers deliver rows below pg_snapshot_xmin(pg_current_snapshot()) in (tx, id) order, so a lower id that commits late is never skipped.';

-- The activity types gain the tenant's suspension and its end.
alter table app_public.activities drop constraint activities_type_check;
alter table app_public.activities add constraint activities_type_check check (type in (
  'USER_JOINED', 'USER_REMOVED', 'ROLE_CHANGED', 'PLAN_UPGRADED', 'PLAN_DOWNGRADED',
  'BROADCAST_MESSAGE', 'INVITATION_CREATED', 'INVITATION_REVOKED', 'TENANT_UPDATED',
  'TENANT_SUSPENDED', 'TENANT_RESUMED', 'ITEM_CREATED', 'ITEM_UPDATED', 'ITEM_DELETED'
));

/*
 * INVITATION_* rows carry the invitee's email. GET /v1/invitations is for admins, so the log
 * must not hand the same data to viewers and members; REST and sockets both read through this.
 */
drop policy select_member on app_public.activities;
-- Members read the current tenant's log; invitation events only admins and owners.
create policy select_member on app_public.activities for select to tenantry_app
  using (
    tenant_id = (select app_public.current_tenant_id())
    and (select app_public.current_member_role()) is not null
    and (type not in ('INVITATION_CREATED', 'INVITATION_REVOKED')
         or (select app_public.current_member_role()) >= 'admin')
  );
comment on policy select_member on app_public.activities is E'Members read the current tenant''s log; INVITATION_* (they carry the invitee''s email) only admins and owners, as GET /v1/invitations.';

/*
 * Suspension is written as an activity like every other change, so it reaches every API
 * instance through the same ordered stream (and cuts that tenant's sockets there).
 */
create or replace function app_private.tg_tenants__activity() returns trigger
  language plpgsql volatile security definer
  set search_path to pg_catalog, pg_temp
as $$
declare
  v_old_rank integer;
  v_new_rank integer;
begin
  if old.plan is distinct from new.plan then
    select rank into v_old_rank from app_public.plans where id = old.plan;
    select rank into v_new_rank from app_public.plans where id = new.plan;
    perform app_private.log_activity(new.id,
      case when v_new_rank > v_old_rank then 'PLAN_UPGRADED' else 'PLAN_DOWNGRADED' end,
      new.id::text, pg_catalog.jsonb_build_object('from', old.plan, 'to', new.plan));
  end if;
  if old.name is distinct from new.name then
    perform app_private.log_activity(new.id, 'TENANT_UPDATED', new.id::text,
      pg_catalog.jsonb_build_object('name', new.name, 'previousName', old.name));
  end if;
  if (old.suspended_at is null) is distinct from (new.suspended_at is null) then
    perform app_private.log_activity(new.id,
      case when new.suspended_at is null then 'TENANT_RESUMED' else 'TENANT_SUSPENDED' end,
      new.id::text, pg_catalog.jsonb_build_object('suspendedAt', new.suspended_at));
  end if;
  return null;
end;
$$;
comment on function app_private.tg_tenants__activity() is E'Trigger: PLAN_UPGRADED, PLAN_DOWNGRADED, TENANT_UPDATED, TENANT_SUSPENDED, TENANT_RESUMED.';

drop trigger _900_activity on app_public.tenants;
create trigger _900_activity after update of plan, name, suspended_at on app_public.tenants
  for each row execute procedure app_private.tg_tenants__activity();

/*
 * A revoked session (logout, refresh-token reuse, and whatever revokes sessions later) rings
 * its own doorbell, so every instance disconnects that session's sockets at once. Ids only.
 */
create function app_private.tg_sessions__notify_revoked() returns trigger
  language plpgsql volatile
  set search_path to pg_catalog, pg_temp
as $$
begin
  perform pg_catalog.pg_notify('tenantry_session',
    pg_catalog.json_build_object('sessionId', new.id, 'tenantId', new.tenant_id, 'userId', new.user_id)::text);
  return null;
end;
$$;
comment on function app_private.tg_sessions__notify_revoked() is E'Trigger: NOTIFY tenantry_session with {sessionId, tenantId, userId} when a session is revoked.';

create trigger _900_notify_revoked after update of revoked_at on app_private.sessions
  for each row when (old.revoked_at is null and new.revoked_at is not null)
  execute procedure app_private.tg_sessions__notify_revoked();

/*
 * The bridge's cross-tenant read: positions only (tenant, tx, id, type), no content. Each API
 * instance keeps its own position and asks what committed after it; it then re-reads the rows
 * of each tenant under a member's own context, so RLS decides what a socket receives.
 */
create function app_private.realtime_committed_after(p_tx xid8, p_id bigint, p_limit integer)
  returns table (tenant_id uuid, tx xid8, id bigint, type text, horizon xid8)
  language sql stable security definer
  set search_path to pg_catalog, pg_temp
as $$
  with h as (select pg_catalog.pg_snapshot_xmin(pg_catalog.pg_current_snapshot()) as horizon)
  select a.tenant_id, a.tx, a.id, a.type, h.horizon
  from h
  left join lateral (
    select a.tenant_id, a.tx, a.id, a.type
    from app_public.activities a
    where (a.tx, a.id) > (p_tx, p_id) and a.tx < h.horizon
    order by a.tx, a.id
    limit least(greatest(p_limit, 1), 10000)
  ) a on true
  order by a.tx, a.id
$$;
comment on function app_private.realtime_committed_after(xid8, bigint, integer) is E'Realtime bridge: positions (no content) of activities committed after (p_tx, p_id) and below the snapshot horizon, in commit order; one row with NULLs and the horizon when there are none.';
grant execute on function app_private.realtime_committed_after(xid8, bigint, integer) to tenantry_app;

/*
 * Re-validates every socket of an instance in one round trip: for each session the role
 * begin_request would derive now, or why it would refuse (TN401 gone, TNSUS suspended).
 */
create function app_private.realtime_check_sessions(p_session_ids uuid[])
  returns table (session_id uuid, role app_public.membership_role, refusal text)
  language sql stable security definer
  set search_path to pg_catalog, pg_temp
as $$
  select ids.id,
         case when t.suspended_at is null then m.role end,
         case
           when m.role is null then 'TN401'
           when t.suspended_at is not null then 'TNSUS'
         end
  from pg_catalog.unnest(p_session_ids) as ids (id)
  left join app_private.sessions s on s.id = ids.id and s.revoked_at is null
  left join app_public.memberships m on m.tenant_id = s.tenant_id and m.user_id = s.user_id
  left join app_public.tenants t on t.id = m.tenant_id
$$;
comment on function app_private.realtime_check_sessions(uuid[]) is E'Realtime bridge: for each session id, the member role begin_request would set now, or the refusal (TN401 no live session or membership, TNSUS suspended).';
grant execute on function app_private.realtime_check_sessions(uuid[]) to tenantry_app;

/*
 * A removed member can no longer read the tenant's log, yet their socket must still be told
 * why it is closing. Given their own session (revoked or not), this returns the USER_REMOVED
 * activity about them after a position, and nothing else.
 */
create function app_private.realtime_removal_notice(p_session_id uuid, p_after_tx xid8)
  returns table (id bigint, type text, tenant_id uuid, actor_id uuid, target text, payload jsonb, created_at timestamptz, tx xid8)
  language sql stable security definer
  set search_path to pg_catalog, pg_temp
as $$
  select a.id, a.type, a.tenant_id, a.actor_id, a.target, a.payload, a.created_at, a.tx
  from app_private.sessions s
  join app_public.activities a
    on a.tenant_id = s.tenant_id and a.type = 'USER_REMOVED' and a.target = s.user_id::text
  where s.id = p_session_id
    and a.tx >= p_after_tx
    and a.tx < pg_catalog.pg_snapshot_xmin(pg_catalog.pg_current_snapshot())
    and not exists (
      select 1 from app_public.memberships m where m.tenant_id = s.tenant_id and m.user_id = s.user_id
    )
  order by a.tx desc, a.id desc
  limit 1
$$;
comment on function app_private.realtime_removal_notice(uuid, xid8) is E'Realtime bridge: the USER_REMOVED activity about the owner of this session, when they are no longer a member; nothing otherwise.';
grant execute on function app_private.realtime_removal_notice(uuid, xid8) to tenantry_app;
