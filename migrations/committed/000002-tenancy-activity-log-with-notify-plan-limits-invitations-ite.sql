--! Previous: sha1:5e82682a2121afe993c10e0de2d160d75a20381d
--! Hash: sha1:bfc1e289e8e46cc0c4fb3f518615fcac4bcfda39
--! Message: tenancy: activity log with NOTIFY, plan limits, invitations, items

/*
 * 3000 — activities: the append-only audit log, and the source of every realtime event.
 *
 * Rows are written by triggers (SECURITY DEFINER, so the API role needs no INSERT grant for
 * them) in the same transaction as the change they describe: a rollback removes both. The API
 * role may insert exactly one kind itself, BROADCAST_MESSAGE, and never updates or deletes.
 * actor_id and target are plain ids, not foreign keys: the log outlives the users it mentions.
 */
create table app_public.activities (
  tenant_id uuid not null default app_public.current_tenant_id()
    references app_public.tenants (id) on delete cascade,
  id bigint generated always as identity,
  type text not null check (type in (
    'USER_JOINED', 'USER_REMOVED', 'ROLE_CHANGED', 'PLAN_UPGRADED', 'PLAN_DOWNGRADED',
    'BROADCAST_MESSAGE', 'INVITATION_CREATED', 'INVITATION_REVOKED', 'TENANT_UPDATED',
    'ITEM_CREATED', 'ITEM_UPDATED', 'ITEM_DELETED'
  )),
  actor_id uuid default app_public.current_user_id(),
  target text,
  payload jsonb not null default '{}' check (jsonb_typeof(payload) = 'object' and octet_length(payload::text) <= 4000),
  created_at timestamptz not null default now(),
  primary key (tenant_id, id)
);
alter table app_public.activities enable row level security;
alter table app_public.activities force row level security;

-- The primary key serves newest-first pages and `after=` gap fills; this one serves `?type=`.
create index activities_tenant_type_idx on app_public.activities (tenant_id, type, id);

/*
 * One channel for every tenant; the payload carries ids and the type only (well under the
 * 8000-byte NOTIFY limit whatever the activity holds), and the listener re-reads the row.
 */
create function app_private.tg_activities__notify() returns trigger
  language plpgsql volatile
  set search_path to pg_catalog, pg_temp
as $$
begin
  perform pg_catalog.pg_notify(
    'tenantry_activity',
    pg_catalog.json_build_object('tenantId', new.tenant_id, 'id', new.id, 'type', new.type)::text
  );
  return null;
end;
$$;
comment on function app_private.tg_activities__notify() is E'Trigger: NOTIFY tenantry_activity with {tenantId, id, type} after each activity insert.';

create trigger _900_notify after insert on app_public.activities
  for each row execute procedure app_private.tg_activities__notify();

-- Members of the current tenant read its log.
create policy select_member on app_public.activities for select to tenantry_app
  using (
    tenant_id = (select app_public.current_tenant_id())
    and (select app_public.current_member_role()) is not null
  );
comment on policy select_member on app_public.activities is E'Members of the current tenant read its log.';
-- Admins broadcast messages; every other activity is written by triggers.
create policy insert_admin_broadcast on app_public.activities for insert to tenantry_app
  with check (
    tenant_id = (select app_public.current_tenant_id())
    and (select app_public.current_member_role()) >= 'admin'
    and type = 'BROADCAST_MESSAGE'
    and actor_id = (select app_public.current_user_id())
  );
comment on policy insert_admin_broadcast on app_public.activities is E'Admins broadcast messages; every other activity is written by triggers.';

grant select on app_public.activities to tenantry_app;
grant insert (type, payload) on app_public.activities to tenantry_app;

comment on table app_public.activities is E'Append-only audit log per tenant, written by triggers in the same transaction as the change. tenantry_app may not update or delete it.';
comment on column app_public.activities.actor_id is E'Who did it (app.user_id at the time); NULL for the platform. Not a foreign key: the log outlives users.';
comment on column app_public.activities.target is E'Id of what it was done to (a user, item or invitation id).';

-- Internal: not granted to tenantry_app. Skips tenants being deleted (cascades fire our triggers).
create function app_private.log_activity(
  p_tenant_id uuid, p_type text, p_target text, p_payload jsonb,
  p_actor_id uuid default app_public.current_user_id()
) returns void
  language sql volatile
  set search_path to pg_catalog, pg_temp
as $$
  insert into app_public.activities (tenant_id, type, actor_id, target, payload)
  select p_tenant_id, p_type, p_actor_id, p_target, p_payload
  where exists (select 1 from app_public.tenants t where t.id = p_tenant_id)
$$;
comment on function app_private.log_activity(uuid, text, text, jsonb, uuid) is E'Appends an activity for the current actor; used by the _900_activity triggers only.';

/*
 * 3100 — member limits. Every check locks the tenant row first: concurrent accepts, invites and
 * plan changes of one tenant then run one after another, and the count taken after the lock
 * (a fresh READ COMMITTED snapshot) includes everything committed before it.
 */
create function app_private.lock_tenant_member_limit(p_tenant_id uuid, out plan text, out member_limit integer)
  language plpgsql volatile
  set search_path to pg_catalog, pg_temp
as $$
begin
  -- Lock first, read after, in two statements: `select ... join plans ... for update of t`
  -- would re-check a concurrently changed tenant row against the plans row it had already
  -- joined (EvalPlanQual), find the join no longer matching, and return no row at all: the
  -- limit would silently not apply to anyone racing a plan change.
  perform 1 from app_public.tenants t where t.id = p_tenant_id for update;
  select t.plan, p.member_limit into plan, member_limit
  from app_public.tenants t join app_public.plans p on p.id = t.plan
  where t.id = p_tenant_id;
end;
$$;
comment on function app_private.lock_tenant_member_limit(uuid) is E'Locks the tenant row and returns its plan and member limit (NULL = unlimited).';

create function app_private.tg_memberships__enforce_member_limit() returns trigger
  language plpgsql volatile security definer
  set search_path to pg_catalog, pg_temp
as $$
declare
  v_limit record;
begin
  select * into v_limit from app_private.lock_tenant_member_limit(new.tenant_id);
  if v_limit.member_limit is not null
     and (select count(*) from app_public.memberships m where m.tenant_id = new.tenant_id) >= v_limit.member_limit then
    raise exception 'the % plan allows at most % members', v_limit.plan, v_limit.member_limit
      using errcode = 'TNPLM';
  end if;
  return new;
end;
$$;
comment on function app_private.tg_memberships__enforce_member_limit() is E'Trigger: a new membership must fit the plan''s member limit (SQLSTATE TNPLM). Serialised per tenant by a row lock.';

create trigger _500_enforce_member_limit before insert on app_public.memberships
  for each row execute procedure app_private.tg_memberships__enforce_member_limit();

create function app_private.tg_tenants__enforce_plan_fits() returns trigger
  language plpgsql volatile security definer
  set search_path to pg_catalog, pg_temp
as $$
declare
  v_limit integer;
  v_members bigint;
begin
  perform 1 from app_public.tenants t where t.id = new.id for update;
  select p.member_limit into v_limit from app_public.plans p where p.id = new.plan;
  select count(*) into v_members from app_public.memberships m where m.tenant_id = new.id;
  if v_limit is not null and v_members > v_limit then
    raise exception 'the % plan allows % members; this tenant has %', new.plan, v_limit, v_members
      using errcode = 'TNPLM';
  end if;
  return new;
end;
$$;
comment on function app_private.tg_tenants__enforce_plan_fits() is E'Trigger: no plan change below the current member count (SQLSTATE TNPLM).';

create trigger _500_enforce_plan_fits before update of plan on app_public.tenants
  for each row when (old.plan is distinct from new.plan)
  execute procedure app_private.tg_tenants__enforce_plan_fits();

/*
 * 3200 — invitations. The token is random, shown once, stored as its SHA-256 in token_hash,
 * which tenantry_app may write but never read (column privileges).
 */
create table app_public.invitations (
  tenant_id uuid not null default app_public.current_tenant_id()
    references app_public.tenants (id) on delete cascade,
  id uuid not null default gen_random_uuid(),
  email text not null
    check (char_length(email) <= 254 and email ~ '^[^@\s]+@[^@\s]+$' and email = lower(email)),
  role app_public.membership_role not null default 'member',
  token_hash bytea not null unique check (octet_length(token_hash) = 32),
  invited_by uuid default app_public.current_user_id(),
  created_at timestamptz not null default now(),
  expires_at timestamptz not null default now() + interval '7 days',
  accepted_at timestamptz,
  accepted_by uuid,
  revoked_at timestamptz,
  primary key (tenant_id, id),
  check (expires_at > created_at)
);
alter table app_public.invitations enable row level security;
alter table app_public.invitations force row level security;

-- Pending invitations, newest first, and the duplicate check per email.
create index invitations_tenant_pending_idx on app_public.invitations (tenant_id, created_at desc, id desc)
  where accepted_at is null and revoked_at is null;
create index invitations_tenant_email_idx on app_public.invitations (tenant_id, email)
  where accepted_at is null and revoked_at is null;

create function app_private.tg_invitations__check_new() returns trigger
  language plpgsql volatile security definer
  set search_path to pg_catalog, pg_temp
as $$
declare
  v_limit record;
begin
  select * into v_limit from app_private.lock_tenant_member_limit(new.tenant_id);
  if exists (
    select 1 from app_public.memberships m join app_public.users u on u.id = m.user_id
    where m.tenant_id = new.tenant_id and u.email = new.email
  ) then
    raise exception 'this person is already a member' using errcode = 'TN409';
  end if;
  if exists (
    select 1 from app_public.invitations i
    where i.tenant_id = new.tenant_id and i.email = new.email
      and i.accepted_at is null and i.revoked_at is null and i.expires_at > pg_catalog.now()
  ) then
    raise exception 'this email already has a pending invitation' using errcode = 'TN409';
  end if;
  -- Members plus pending invitations: an accepted invitation must never find the tenant full.
  if v_limit.member_limit is not null and (
    (select count(*) from app_public.memberships m where m.tenant_id = new.tenant_id)
    + (select count(*) from app_public.invitations i
       where i.tenant_id = new.tenant_id and i.accepted_at is null and i.revoked_at is null
         and i.expires_at > pg_catalog.now())
  ) >= v_limit.member_limit then
    raise exception 'the % plan allows at most % members, counting pending invitations', v_limit.plan, v_limit.member_limit
      using errcode = 'TNPLM';
  end if;
  return new;
end;
$$;
comment on function app_private.tg_invitations__check_new() is E'Trigger: no invitation for a member or a pending email (TN409); members + pending invitations within the plan limit (TNPLM).';

create trigger _500_check_new before insert on app_public.invitations
  for each row execute procedure app_private.tg_invitations__check_new();

-- Revocation is the only change the API makes: pending → revoked, once.
create function app_private.tg_invitations__revoke_only() returns trigger
  language plpgsql volatile
  set search_path to pg_catalog, pg_temp
as $$
begin
  if old.accepted_at is not null or old.revoked_at is not null or new.revoked_at is null then
    raise exception 'only a pending invitation can be revoked' using errcode = 'TN409';
  end if;
  new.revoked_at := pg_catalog.now();
  return new;
end;
$$;
comment on function app_private.tg_invitations__revoke_only() is E'Trigger: tenantry_app may only revoke a pending invitation.';

create trigger _200_revoke_only before update on app_public.invitations
  for each row when (current_user = 'tenantry_app')
  execute procedure app_private.tg_invitations__revoke_only();

-- Admins see the current tenant's invitations.
create policy select_admin on app_public.invitations for select to tenantry_app
  using (
    tenant_id = (select app_public.current_tenant_id())
    and (select app_public.current_member_role()) >= 'admin'
  );
comment on policy select_admin on app_public.invitations is E'Admins see the current tenant''s invitations.';
-- Admins invite to the current tenant; only an owner invites an owner.
create policy insert_admin on app_public.invitations for insert to tenantry_app
  with check (
    tenant_id = (select app_public.current_tenant_id())
    and (select app_public.current_member_role()) >= 'admin'
    and (role <> 'owner' or (select app_public.current_member_role()) = 'owner')
    and invited_by = (select app_public.current_user_id())
  );
comment on policy insert_admin on app_public.invitations is E'Admins invite to the current tenant; only an owner invites an owner.';
-- Admins revoke the current tenant's invitations.
create policy update_admin on app_public.invitations for update to tenantry_app
  using (
    tenant_id = (select app_public.current_tenant_id())
    and (select app_public.current_member_role()) >= 'admin'
  )
  with check (tenant_id = (select app_public.current_tenant_id()));
comment on policy update_admin on app_public.invitations is E'Admins revoke the current tenant''s invitations.';

grant select (tenant_id, id, email, role, invited_by, created_at, expires_at, accepted_at, accepted_by, revoked_at)
  on app_public.invitations to tenantry_app;
grant insert (email, role, token_hash, expires_at) on app_public.invitations to tenantry_app;
grant update (revoked_at) on app_public.invitations to tenantry_app;

comment on table app_public.invitations is E'Invitations to join a tenant with a fixed role. Single use, expiring; accepted through app_private.accept_invitation.';
comment on column app_public.invitations.token_hash is E'SHA-256 of the invitation token. tenantry_app can write it but has no SELECT on this column.';

/*
 * Accepting: looked up by token hash (the invitee has no tenant context yet), so SECURITY
 * DEFINER. The FOR UPDATE on the invitation makes it single-use under parallel accepts; the
 * membership insert fires the member-limit trigger, and its failure rolls everything back,
 * leaving the invitation pending.
 */
create function app_private.invitation_for_token(p_token_hash bytea)
  returns table (invitation_id uuid, tenant_id uuid, email text, existing_user_id uuid, existing_password_hash text)
  language sql stable security definer
  set search_path to pg_catalog, pg_temp
as $$
  select i.id, i.tenant_id, i.email, u.id, s.password_hash
  from app_public.invitations i
  left join app_public.users u on u.email = i.email
  left join app_private.user_secrets s on s.user_id = u.id
  where i.token_hash = p_token_hash
    and i.accepted_at is null and i.revoked_at is null and i.expires_at > pg_catalog.now()
$$;
comment on function app_private.invitation_for_token(bytea) is E'A pending invitation by token hash, with the invitee''s account (and hash, for the API to verify the password) when one exists.';
grant execute on function app_private.invitation_for_token(bytea) to tenantry_app;

create function app_private.accept_invitation(
  p_token_hash bytea,
  p_existing_user_id uuid,
  p_new_user_name text,
  p_new_user_password_hash text,
  p_refresh_token_hash bytea,
  p_refresh_token_ttl interval
) returns table (session_id uuid, tenant_id uuid, user_id uuid)
  language plpgsql volatile security definer
  set search_path to pg_catalog, pg_temp
as $$
declare
  v_invitation app_public.invitations;
  v_user_id uuid;
  v_session_id uuid;
begin
  select * into v_invitation from app_public.invitations i
    where i.token_hash = p_token_hash
    for update;
  if not found or v_invitation.accepted_at is not null or v_invitation.revoked_at is not null
     or v_invitation.expires_at <= pg_catalog.now() then
    raise exception 'invitation not found' using errcode = 'TN404';
  end if;

  select u.id into v_user_id from app_public.users u where u.email = v_invitation.email;
  if p_existing_user_id is not null then
    -- The API verified this user's password; it must be the invited address.
    if v_user_id is distinct from p_existing_user_id then
      raise exception 'invitation not found' using errcode = 'TN404';
    end if;
  else
    if v_user_id is not null then
      raise exception 'an account with this email exists: accept with its password' using errcode = 'TN409';
    end if;
    insert into app_public.users (email, name) values (v_invitation.email, p_new_user_name)
      returning id into v_user_id;
    insert into app_private.user_secrets (user_id, password_hash) values (v_user_id, p_new_user_password_hash);
  end if;

  if exists (select 1 from app_public.memberships m
             where m.tenant_id = v_invitation.tenant_id and m.user_id = v_user_id) then
    raise exception 'already a member of this tenant' using errcode = 'TN409';
  end if;
  insert into app_public.memberships (tenant_id, user_id, role)
    values (v_invitation.tenant_id, v_user_id, v_invitation.role);
  update app_public.invitations i set accepted_at = pg_catalog.now(), accepted_by = v_user_id
    where i.tenant_id = v_invitation.tenant_id and i.id = v_invitation.id;

  insert into app_private.sessions (user_id, tenant_id) values (v_user_id, v_invitation.tenant_id)
    returning id into v_session_id;
  insert into app_private.refresh_tokens (token_hash, session_id, expires_at)
    values (p_refresh_token_hash, v_session_id, pg_catalog.now() + p_refresh_token_ttl);
  return query select v_session_id, v_invitation.tenant_id, v_user_id;
end;
$$;
comment on function app_private.accept_invitation(bytea, uuid, text, text, bytea, interval) is E'Single-use accept: joins the invitee (creating the account if new) with the invited role and starts a session. TN404: unknown, used, revoked or expired; TNPLM: tenant full.';
grant execute on function app_private.accept_invitation(bytea, uuid, text, text, bytea, interval) to tenantry_app;

/*
 * 3300 — items: the generic tenant resource.
 */
create table app_public.items (
  tenant_id uuid not null default app_public.current_tenant_id()
    references app_public.tenants (id) on delete cascade,
  id uuid not null default gen_random_uuid(),
  name text not null check (char_length(name) between 1 and 200),
  payload jsonb not null default '{}' check (octet_length(payload::text) <= 65536),
  created_by uuid default app_public.current_user_id(),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (tenant_id, id)
);
alter table app_public.items enable row level security;
alter table app_public.items force row level security;

-- Keyset pagination, newest first.
create index items_tenant_created_idx on app_public.items (tenant_id, created_at desc, id desc);

create trigger _100_timestamps before insert or update on app_public.items
  for each row execute procedure app_private.tg__timestamps();

-- Every member, viewers included, reads the current tenant's items.
create policy select_viewer on app_public.items for select to tenantry_app
  using (
    tenant_id = (select app_public.current_tenant_id())
    and (select app_public.current_member_role()) >= 'viewer'
  );
comment on policy select_viewer on app_public.items is E'Every member, viewers included, reads the current tenant''s items.';
-- Members and above create items in the current tenant.
create policy insert_member on app_public.items for insert to tenantry_app
  with check (
    tenant_id = (select app_public.current_tenant_id())
    and (select app_public.current_member_role()) >= 'member'
    and created_by = (select app_public.current_user_id())
  );
comment on policy insert_member on app_public.items is E'Members and above create items in the current tenant.';
-- Members and above edit the current tenant's items.
create policy update_member on app_public.items for update to tenantry_app
  using (
    tenant_id = (select app_public.current_tenant_id())
    and (select app_public.current_member_role()) >= 'member'
  )
  with check (tenant_id = (select app_public.current_tenant_id()));
comment on policy update_member on app_public.items is E'Members and above edit the current tenant''s items.';
-- Admins and owners delete items.
create policy delete_admin on app_public.items for delete to tenantry_app
  using (
    tenant_id = (select app_public.current_tenant_id())
    and (select app_public.current_member_role()) >= 'admin'
  );
comment on policy delete_admin on app_public.items is E'Admins and owners delete items.';

grant select, delete on app_public.items to tenantry_app;
grant insert (name, payload), update (name, payload) on app_public.items to tenantry_app;

comment on table app_public.items is E'The generic tenant resource: viewers read, members create and edit, admins delete.';

/*
 * 3400 — activity triggers: one per audited table, all in the same transaction as the change.
 */
create function app_private.tg_memberships__activity() returns trigger
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
        'left', old.user_id = app_public.current_user_id()));
  end if;
  return null;
end;
$$;
create trigger _900_activity after insert or delete on app_public.memberships
  for each row execute procedure app_private.tg_memberships__activity();
create trigger _900_activity_role after update of role on app_public.memberships
  for each row when (old.role is distinct from new.role)
  execute procedure app_private.tg_memberships__activity();

create function app_private.tg_tenants__activity() returns trigger
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
  return null;
end;
$$;
create trigger _900_activity after update of plan, name on app_public.tenants
  for each row execute procedure app_private.tg_tenants__activity();

create function app_private.tg_invitations__activity() returns trigger
  language plpgsql volatile security definer
  set search_path to pg_catalog, pg_temp
as $$
begin
  if tg_op = 'INSERT' then
    perform app_private.log_activity(new.tenant_id, 'INVITATION_CREATED', new.id::text,
      pg_catalog.jsonb_build_object('invitationId', new.id, 'email', new.email, 'role', new.role));
  elsif old.revoked_at is null and new.revoked_at is not null then
    perform app_private.log_activity(new.tenant_id, 'INVITATION_REVOKED', new.id::text,
      pg_catalog.jsonb_build_object('invitationId', new.id, 'email', new.email));
  end if;
  return null;
end;
$$;
create trigger _900_activity after insert or update of revoked_at on app_public.invitations
  for each row execute procedure app_private.tg_invitations__activity();

create function app_private.tg_items__activity() returns trigger
  language plpgsql volatile security definer
  set search_path to pg_catalog, pg_temp
as $$
begin
  if tg_op = 'INSERT' then
    perform app_private.log_activity(new.tenant_id, 'ITEM_CREATED', new.id::text,
      pg_catalog.jsonb_build_object('itemId', new.id, 'name', new.name));
  elsif tg_op = 'UPDATE' then
    perform app_private.log_activity(new.tenant_id, 'ITEM_UPDATED', new.id::text,
      pg_catalog.jsonb_build_object('itemId', new.id, 'name', new.name));
  else
    perform app_private.log_activity(old.tenant_id, 'ITEM_DELETED', old.id::text,
      pg_catalog.jsonb_build_object('itemId', old.id, 'name', old.name));
  end if;
  return null;
end;
$$;
create trigger _900_activity after insert or update or delete on app_public.items
  for each row execute procedure app_private.tg_items__activity();

comment on function app_private.tg_memberships__activity() is E'Trigger: USER_JOINED, ROLE_CHANGED, USER_REMOVED.';
comment on function app_private.tg_tenants__activity() is E'Trigger: PLAN_UPGRADED, PLAN_DOWNGRADED, TENANT_UPDATED.';
comment on function app_private.tg_invitations__activity() is E'Trigger: INVITATION_CREATED, INVITATION_REVOKED.';
comment on function app_private.tg_items__activity() is E'Trigger: ITEM_CREATED, ITEM_UPDATED, ITEM_DELETED.';
