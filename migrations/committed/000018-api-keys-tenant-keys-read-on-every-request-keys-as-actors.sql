--! Previous: sha1:115441ebf3c4decc65145baffbb60e8742377eac
--! Hash: sha1:1be30cfe85c7dfeda3c9c03bbaef4b24ad1fa638
--! Message: API keys: tenant keys read on every request, keys as actors

--! split: 4000-api-keys.sql
/*
 * 4000 — API keys: machine clients of one tenant (DESIGN.md, "Integrations").
 *
 * A key is `tnt_<prefix>_<secret>`; the table keeps the prefix (to name the key in lists and
 * logs), and app_private.api_key_hashes the SHA-256 of the whole key, which tenantry_app records
 * once, at creation, and never reads back (its keys lead with the hash, so it is no tenant table). A
 * key has a role below owner and an optional expiry. Nothing about a key is trusted from the
 * API process: app_private.begin_key_request, the key's sibling of begin_request, reads the
 * key's tenant, role, revocation, expiry and the tenant's suspension on every request, so each
 * change takes effect on the next request, from any instance.
 *
 * A request made with a key has no user: app.user_id stays unset and app.api_key_id names the
 * key. Activities record it (activities.actor_api_key_id), and the few policies that compared a
 * column with the current user now accept "no user" for a key's rows (created_by, invited_by,
 * actor_id stay NULL), so a key works on every tenant route at its role. Keys never manage keys:
 * the api_keys policies require a user.
 */

-- ---- context ---------------------------------------------------------------------------------

create function app_public.current_api_key_id() returns uuid
  language sql stable parallel safe
as $$
  select case
    when pg_catalog.current_setting('app.api_key_id', true)
         operator(pg_catalog.~*) '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
    then pg_catalog.current_setting('app.api_key_id', true)::pg_catalog.uuid
  end
$$;
grant execute on function app_public.current_api_key_id() to tenantry_app;
revoke execute on function app_public.current_api_key_id() from public;
comment on function app_public.current_api_key_id() is E'API key of the current request (app.api_key_id, set by begin_key_request), NULL when unset, empty or malformed, and for every request made by a user.';

-- ---- plans -----------------------------------------------------------------------------------

alter table app_public.plans add column api_key_limit integer check (api_key_limit > 0);
update app_public.plans set api_key_limit = 3 where id = 'free';
update app_public.plans set api_key_limit = 50 where id = 'pro';
update app_public.plans set api_key_limit = null where id = 'enterprise';
comment on column app_public.plans.api_key_limit is E'Maximum live API keys per tenant (neither revoked nor expired); NULL means unlimited. Enforced by a trigger on api_keys.';

-- ---- api_keys --------------------------------------------------------------------------------

create table app_public.api_keys (
  tenant_id uuid not null default app_public.current_tenant_id()
    references app_public.tenants (id) on delete cascade,
  id uuid not null default gen_random_uuid(),
  name text not null check (char_length(name) between 1 and 100),
  role app_public.membership_role not null check (role <> 'owner'),
  prefix text not null check (prefix ~ '^[a-z0-9]{8}$'),
  created_by uuid default app_public.current_user_id(),
  created_at timestamptz not null default now(),
  expires_at timestamptz,
  revoked_at timestamptz,
  last_used_at timestamptz,
  primary key (tenant_id, id),
  check (expires_at is null or expires_at > created_at)
);
alter table app_public.api_keys enable row level security;
alter table app_public.api_keys force row level security;

create index api_keys_tenant_live_idx on app_public.api_keys (tenant_id, created_at desc, id desc)
  where revoked_at is null;

-- Parallel creations of one tenant wait on its row, so each counts the ones committed before it
-- (as the item quota does: lock first, then count in a fresh READ COMMITTED snapshot).
create function app_private.tg_api_keys__enforce_plan_quota() returns trigger
  language plpgsql volatile security definer
  set search_path to pg_catalog, pg_temp
as $$
declare
  v_plan record;
  v_live bigint;
begin
  perform 1 from app_public.tenants t where t.id = new.tenant_id for no key update;
  select p.id, p.api_key_limit into v_plan
  from app_public.tenants t join app_public.plans p on p.id = t.plan
  where t.id = new.tenant_id;
  if v_plan.api_key_limit is not null then
    select count(*) into v_live from app_public.api_keys k
    where k.tenant_id = new.tenant_id and k.revoked_at is null
      and (k.expires_at is null or k.expires_at > pg_catalog.now());
    if v_live >= v_plan.api_key_limit then
      raise exception 'the % plan allows at most % API keys', v_plan.id, v_plan.api_key_limit
        using errcode = 'TNPLM';
    end if;
  end if;
  return new;
end;
$$;
revoke execute on function app_private.tg_api_keys__enforce_plan_quota() from public;
comment on function app_private.tg_api_keys__enforce_plan_quota() is E'Trigger: a new API key must fit the plan''s api_key_limit of live keys (SQLSTATE TNPLM). Inserts are serialised per tenant by a row lock.';

create trigger _500_enforce_plan_quota before insert on app_public.api_keys
  for each row execute procedure app_private.tg_api_keys__enforce_plan_quota();

create function app_private.tg_api_keys__activity() returns trigger
  language plpgsql volatile security definer
  set search_path to pg_catalog, pg_temp
as $$
begin
  if tg_op = 'INSERT' then
    perform app_private.log_activity(new.tenant_id, 'API_KEY_CREATED', new.id::text,
      pg_catalog.jsonb_build_object('apiKeyId', new.id, 'name', new.name, 'prefix', new.prefix,
        'role', new.role, 'expiresAt', app_api.iso(new.expires_at)));
  elsif old.revoked_at is null and new.revoked_at is not null then
    perform app_private.log_activity(new.tenant_id, 'API_KEY_REVOKED', new.id::text,
      pg_catalog.jsonb_build_object('apiKeyId', new.id, 'name', new.name, 'prefix', new.prefix));
  elsif (old.name, old.role) is distinct from (new.name, new.role) then
    perform app_private.log_activity(new.tenant_id, 'API_KEY_UPDATED', new.id::text,
      pg_catalog.jsonb_build_object('apiKeyId', new.id, 'name', new.name, 'prefix', new.prefix,
        'role', new.role, 'previousName', old.name, 'previousRole', old.role));
  end if;
  return null;
end;
$$;
revoke execute on function app_private.tg_api_keys__activity() from public;
comment on function app_private.tg_api_keys__activity() is E'Trigger: API_KEY_CREATED, API_KEY_UPDATED (name or role), API_KEY_REVOKED.';

create trigger _900_activity after insert or update of name, role, revoked_at on app_public.api_keys
  for each row execute procedure app_private.tg_api_keys__activity();

-- Admins manage the current tenant's keys; a key never manages keys (no user).
create policy select_admin on app_public.api_keys for select to tenantry_app
  using (tenant_id = (select app_public.current_tenant_id())
         and (select app_public.current_member_role()) >= 'admin'
         and (select app_public.current_user_id()) is not null);
comment on policy select_admin on app_public.api_keys is E'Admins and owners (people, not keys) see the current tenant''s API keys.';
-- Admins create keys of any role below owner, in the current tenant, as themselves.
create policy insert_admin on app_public.api_keys for insert to tenantry_app
  with check (tenant_id = (select app_public.current_tenant_id())
              and (select app_public.current_member_role()) >= 'admin'
              and created_by = (select app_public.current_user_id()));
comment on policy insert_admin on app_public.api_keys is E'Admins and owners (people, not keys) create the current tenant''s API keys.';
-- Admins rename, re-role or revoke a live key; a revoked key stays revoked.
create policy update_admin on app_public.api_keys for update to tenantry_app
  using (tenant_id = (select app_public.current_tenant_id())
         and (select app_public.current_member_role()) >= 'admin'
         and (select app_public.current_user_id()) is not null
         and revoked_at is null)
  with check (tenant_id = (select app_public.current_tenant_id()));
comment on policy update_admin on app_public.api_keys is E'Admins and owners (people, not keys) rename, re-role or revoke the current tenant''s live API keys.';

grant select (tenant_id, id, name, role, prefix, created_by, created_at, expires_at, revoked_at, last_used_at)
  on app_public.api_keys to tenantry_app;
grant insert (name, role, prefix, expires_at) on app_public.api_keys to tenantry_app;
grant update (name, role, revoked_at) on app_public.api_keys to tenantry_app;

comment on table app_public.api_keys is E'API keys of a tenant: machine clients acting at a role below owner. Revoked keys are kept (the log names them); begin_key_request reads every field on every request.';
comment on column app_public.api_keys.prefix is E'The public part of the key (tnt_<prefix>_<secret>): names the key in lists and logs.';
comment on column app_public.api_keys.created_by is E'The admin who created the key.';
comment on column app_public.api_keys.last_used_at is E'The last request made with the key, to the minute: begin_key_request writes it at most once a minute.';

-- ---- the key's hash --------------------------------------------------------------------------

create table app_private.api_key_hashes (
  key_hash bytea primary key check (octet_length(key_hash) = 32),
  tenant_id uuid not null,
  api_key_id uuid not null,
  foreign key (tenant_id, api_key_id) references app_public.api_keys (tenant_id, id) on delete cascade,
  unique (tenant_id, api_key_id)
);
comment on table app_private.api_key_hashes is E'SHA-256 of each API key (tnt_<prefix>_<secret>), looked up by app_private.api_key_for_hash. Only SECURITY DEFINER functions read or write it.';

/*
 * The API creates a key under RLS (insert_admin on api_keys), then records its hash here in the
 * same transaction. One job: a key of the current tenant, created by this transaction, gets its
 * one hash; nothing else can be given one.
 */
create function app_private.record_api_key_hash(p_api_key_id uuid, p_key_hash bytea) returns void
  language plpgsql volatile security definer
  set search_path to pg_catalog, pg_temp
as $$
begin
  insert into app_private.api_key_hashes (key_hash, tenant_id, api_key_id)
  select p_key_hash, k.tenant_id, k.id from app_public.api_keys k
  where k.tenant_id = app_public.current_tenant_id() and k.id = p_api_key_id
    and k.xmin = pg_catalog.xid(pg_catalog.pg_current_xact_id());
  if not found then
    raise exception 'no API key of this transaction' using errcode = 'TN404';
  end if;
end;
$$;
grant execute on function app_private.record_api_key_hash(uuid, bytea) to tenantry_app;
revoke execute on function app_private.record_api_key_hash(uuid, bytea) from public;
comment on function app_private.record_api_key_hash(uuid, bytea) is E'Records the SHA-256 of an API key the current transaction created in the current tenant (once: the hash and the key are unique). TN404 for any other key.';

-- ---- the request context of a key -------------------------------------------------------------

/*
 * The API verifies a presented key by its hash before it knows the tenant (to count the request
 * on the tenant's rate budget): this returns the key's id and tenant, for live keys only, and
 * nothing else. It is not the authority: begin_key_request checks the key again in the request.
 */
create function app_private.api_key_for_hash(p_key_hash bytea)
  returns table (api_key_id uuid, tenant_id uuid)
  language sql stable security definer
  set search_path to pg_catalog, pg_temp
as $$
  select k.id, k.tenant_id
  from app_private.api_key_hashes h
  join app_public.api_keys k on k.tenant_id = h.tenant_id and k.id = h.api_key_id
  where h.key_hash = p_key_hash and k.revoked_at is null
    and (k.expires_at is null or k.expires_at > pg_catalog.now())
$$;
grant execute on function app_private.api_key_for_hash(bytea) to tenantry_app;
revoke execute on function app_private.api_key_for_hash(bytea) from public;
comment on function app_private.api_key_for_hash(bytea) is E'The live API key with this SHA-256 (its id and tenant), or no row. For the API''s authentication step only; begin_key_request decides each request.';

create function app_private.begin_key_request(p_tenant_id uuid, p_api_key_id uuid)
  returns app_public.membership_role
  language plpgsql volatile security definer
  set search_path to pg_catalog, pg_temp
as $$
declare
  v_key record;
begin
  select k.role, k.last_used_at, t.suspended_at into v_key
  from app_public.api_keys k join app_public.tenants t on t.id = k.tenant_id
  where k.tenant_id = p_tenant_id and k.id = p_api_key_id and k.revoked_at is null
    and (k.expires_at is null or k.expires_at > pg_catalog.now());
  if not found then
    raise exception 'this API key is unknown, revoked or expired' using errcode = 'TN401';
  end if;
  if v_key.suspended_at is not null then
    raise exception 'this tenant is suspended' using errcode = 'TNSUS';
  end if;
  -- Usage to the minute, not a write per request. SKIP LOCKED: a request never waits for
  -- another one's transaction (or a revocation) only to note the time.
  if v_key.last_used_at is null or v_key.last_used_at < pg_catalog.now() - interval '1 minute' then
    update app_public.api_keys k set last_used_at = pg_catalog.now()
    where (k.tenant_id, k.id) in (
      select l.tenant_id, l.id from app_public.api_keys l
      where l.tenant_id = p_tenant_id and l.id = p_api_key_id
      for update skip locked);
  end if;
  perform pg_catalog.set_config('app.tenant_id', p_tenant_id::text, true),
          pg_catalog.set_config('app.api_key_id', p_api_key_id::text, true),
          pg_catalog.set_config('app.role', v_key.role::text, true);
  return v_key.role;
end;
$$;
grant execute on function app_private.begin_key_request(uuid, uuid) to tenantry_app;
revoke execute on function app_private.begin_key_request(uuid, uuid) from public;
comment on function app_private.begin_key_request(uuid, uuid) is E'begin_request for an API key: sets app.tenant_id, app.api_key_id and app.role (the key''s role, read now) for the current transaction; app.user_id stays unset. TN401: unknown, revoked or expired key; TNSUS: tenant suspended. Notes last_used_at at most once a minute.';

create or replace function app_api.enter(
  p_tenant_id uuid, p_user_id uuid, p_session_id uuid, p_minimum_role app_public.membership_role
) returns app_public.membership_role
  language plpgsql
  set search_path = pg_catalog
  as $$
declare
  -- A request is a user's session, or an API key (no user: p_session_id names the key).
  v_role app_public.membership_role := case
    when p_user_id is null then app_private.begin_key_request(p_tenant_id, p_session_id)
    else app_private.begin_request(p_tenant_id, p_user_id, p_session_id)
  end;
begin
  if p_minimum_role is not null and v_role < p_minimum_role then
    raise exception 'this requires the % role or higher; you are %', p_minimum_role,
      case when v_role = 'admin' then 'an admin' else 'a ' || v_role end
      using errcode = 'TN403';
  end if;
  return v_role;
end;
$$;
comment on function app_api.enter(uuid, uuid, uuid, app_public.membership_role) is E'The first statement of every app_api read: begin_request (a session: p_user_id and p_session_id), or begin_key_request (an API key: p_user_id NULL, p_session_id the key), then the route''s minimum role (from the database, never the token). TN401/TNSUS from those; TN403 below the minimum.';

-- ---- what a key may do elsewhere -------------------------------------------------------------

-- The tenant of the request is readable with a key too (GET /v1/tenant); people still see
-- theirs. One policy, not two permissive ones (each would run for every row).
drop policy select_member on app_public.tenants;
create policy select_member on app_public.tenants for select to tenantry_app
  using (exists (select 1 from app_public.memberships m
                 where m.tenant_id = tenants.id and m.user_id = (select app_public.current_user_id()))
         or (id = (select app_public.current_tenant_id()) and (select app_public.current_api_key_id()) is not null));
comment on policy select_member on app_public.tenants is E'You can see the tenants you belong to; an API key sees its own tenant.';

drop policy select_authenticated on app_public.plans;
create policy select_authenticated on app_public.plans for select to tenantry_app
  using ((select app_public.current_user_id()) is not null or (select app_public.current_api_key_id()) is not null);
comment on policy select_authenticated on app_public.plans is E'Anyone with a request context (a user or an API key) can read the plan catalogue.';

-- Rows made with a key carry no user: "the current user" is then NULL on both sides.
drop policy insert_member on app_public.items;
create policy insert_member on app_public.items for insert to tenantry_app
  with check (tenant_id = (select app_public.current_tenant_id())
              and (select app_public.current_member_role()) >= 'member'
              and created_by is not distinct from (select app_public.current_user_id()));
comment on policy insert_member on app_public.items is E'Members and above (people or keys) create items in the current tenant.';

drop policy insert_admin on app_public.invitations;
create policy insert_admin on app_public.invitations for insert to tenantry_app
  with check (tenant_id = (select app_public.current_tenant_id())
              and (select app_public.current_member_role()) >= 'admin'
              and (role <> 'owner' or (select app_public.current_member_role()) = 'owner')
              and invited_by is not distinct from (select app_public.current_user_id()));
comment on policy insert_admin on app_public.invitations is E'Admins invite to the current tenant; only an owner invites an owner.';

-- ---- activities: the key as actor, and the new types ------------------------------------------

alter table app_public.activities
  add column actor_api_key_id uuid default app_public.current_api_key_id();
comment on column app_public.activities.actor_api_key_id is E'The API key that did it (app.api_key_id at the time; actor_id is then NULL). Not a foreign key: the log outlives keys.';

alter table app_public.activities drop constraint activities_type_check;
alter table app_public.activities add constraint activities_type_check check (type = any (array[
  'USER_JOINED', 'USER_REMOVED', 'ROLE_CHANGED', 'PLAN_UPGRADED', 'PLAN_DOWNGRADED', 'BROADCAST_MESSAGE',
  'INVITATION_CREATED', 'INVITATION_REVOKED', 'TENANT_UPDATED', 'TENANT_SUSPENDED', 'TENANT_RESUMED',
  'ITEM_CREATED', 'ITEM_UPDATED', 'ITEM_DELETED', 'API_KEY_CREATED', 'API_KEY_UPDATED', 'API_KEY_REVOKED'
]::text[]));

drop policy select_member on app_public.activities;
create policy select_member on app_public.activities for select to tenantry_app
  using (tenant_id = (select app_public.current_tenant_id())
         and (select app_public.current_member_role()) is not null
         and (type <> all (array['INVITATION_CREATED', 'INVITATION_REVOKED',
                                 'API_KEY_CREATED', 'API_KEY_UPDATED', 'API_KEY_REVOKED']::text[])
              or (select app_public.current_member_role()) >= 'admin'));
comment on policy select_member on app_public.activities is E'Members read the current tenant''s log; INVITATION_* (they carry the invitee''s email) and API_KEY_* only admins and owners, as the lists they come from.';

drop policy insert_admin_broadcast on app_public.activities;
create policy insert_admin_broadcast on app_public.activities for insert to tenantry_app
  with check (tenant_id = (select app_public.current_tenant_id())
              and (select app_public.current_member_role()) >= 'admin'
              and type = 'BROADCAST_MESSAGE'
              and actor_id is not distinct from (select app_public.current_user_id()));
comment on policy insert_admin_broadcast on app_public.activities is E'Admins broadcast messages; every other activity is written by triggers.';

-- "left" is a boolean: an API key removing a member did not leave.
create or replace function app_private.tg_memberships__activity() returns trigger
  language plpgsql volatile security definer
  set search_path to pg_catalog, pg_temp
as $$
begin
  if tg_op = 'INSERT' then
    -- Without a request context (register, accepting an invitation) the joiner is the actor.
    perform app_private.log_activity(new.tenant_id, 'USER_JOINED', new.user_id::text,
      pg_catalog.jsonb_build_object('userId', new.user_id, 'role', new.role),
      coalesce(app_public.current_user_id(), new.user_id));
  elsif tg_op = 'UPDATE' then
    perform app_private.log_activity(new.tenant_id, 'ROLE_CHANGED', new.user_id::text,
      pg_catalog.jsonb_build_object('userId', new.user_id, 'from', old.role, 'to', new.role));
  else
    perform app_private.log_activity(old.tenant_id, 'USER_REMOVED', old.user_id::text,
      pg_catalog.jsonb_build_object('userId', old.user_id, 'role', old.role,
        'left', coalesce(old.user_id = app_public.current_user_id(), false)));
  end if;
  return null;
end;
$$;

create or replace function app_api.activity_json(p_activity app_public.activities) returns json
  language sql stable parallel safe
  set search_path = pg_catalog
  as $$
    select row_to_json(r) from (
      select (p_activity).id, (p_activity).type, (p_activity).tenant_id as "tenantId", (p_activity).actor_id as actor,
             (p_activity).actor_api_key_id as "actorApiKey",
             (p_activity).target, (p_activity).payload, app_api.iso((p_activity).created_at) as "createdAt"
    ) r
  $$;

-- The notice now returns whole activity rows, so it follows the table's columns.
drop function app_private.realtime_removal_notice(uuid, xid8);
create function app_private.realtime_removal_notice(p_session_id uuid, p_after_tx xid8)
  returns setof app_public.activities
  language sql stable security definer
  set search_path to pg_catalog, pg_temp
as $$
  select a.*
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
grant execute on function app_private.realtime_removal_notice(uuid, xid8) to tenantry_app;
revoke execute on function app_private.realtime_removal_notice(uuid, xid8) from public;
comment on function app_private.realtime_removal_notice(uuid, xid8) is E'Realtime bridge: the USER_REMOVED activity about the owner of this session, when they are no longer a member; nothing otherwise.';
