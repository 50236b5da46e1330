--! Previous: -
--! Hash: sha1:302612330e38e8b99cc304174435423a5eb89d97
--! Message: baseline: foundation and tenancy schema (squash of the first two migrations, before any release)

/*
 * 0010 — schemas and default privileges.
 *
 * app_public  tenant data; every table has RLS enabled AND forced, with one policy per granted
 *             command, all `to tenantry_app`.
 * app_private secrets (password hashes, refresh-token families) and the SECURITY DEFINER
 *             functions that must cross tenants. tenantry_app may call the functions granted to
 *             it by name, and read or write no table here.
 * app_audit   read-only catalog views for DBAs (db/audit.sql is not a migration: it is re-applied
 *             by `npm run db:audit`, so the views always match the running PostgreSQL version).
 */
create schema app_public;
create schema app_private;
create schema app_audit;

comment on schema app_public is E'Tenant data. Every table: RLS enabled and forced; policies per command for tenantry_app.';
comment on schema app_private is E'Secrets and SECURITY DEFINER functions. No table grants to tenantry_app.';
comment on schema app_audit is E'Read-only views for DBAs auditing RLS, grants and definer functions.';

grant usage on schema app_public to tenantry_app;
grant usage on schema app_private to tenantry_app;

-- Functions are not executable by PUBLIC unless granted by name (PostgreSQL's default is the opposite).
alter default privileges revoke all on functions from public;
alter default privileges in schema app_public revoke all on functions from public;
alter default privileges in schema app_private revoke all on functions from public;

/*
 * 0020 — request context.
 *
 * The API sets app.tenant_id, app.user_id and app.role once per transaction through
 * app_private.begin_request (below). Policies read them through these tiny STABLE helpers,
 * always wrapped as `(select app_public.current_tenant_id())` so PostgreSQL evaluates them once
 * per query (an InitPlan) instead of once per row.
 *
 * A pooled connection that ran set_config(..., true) earlier reports the setting as '' rather
 * than NULL once that transaction ended; and a DBA can set anything by hand. So an empty or
 * malformed value reads as NULL — "no context" — which matches no row, instead of raising.
 *
 * They are single-expression SQL functions without a SET clause so that the planner inlines
 * them: a non-inlined SQL function is re-planned in every query that calls it, which made the
 * two InitPlans of a list query cost more than the index scan itself. Without a pinned
 * search_path every name is schema-qualified, operators included; they are not SECURITY
 * DEFINER, so they run with the caller's rights either way.
 */
create function app_public.current_tenant_id() returns uuid
  language sql stable parallel safe
as $$
  select case
    when pg_catalog.current_setting('app.tenant_id', true)
         operator(pg_catalog.~*) '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
    then pg_catalog.current_setting('app.tenant_id', true)::pg_catalog.uuid
  end
$$;

create function app_public.current_user_id() returns uuid
  language sql stable parallel safe
as $$
  select case
    when pg_catalog.current_setting('app.user_id', true)
         operator(pg_catalog.~*) '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
    then pg_catalog.current_setting('app.user_id', true)::pg_catalog.uuid
  end
$$;

-- Ordered: viewer < member < admin < owner, so policies can say `>= 'admin'`.
create type app_public.membership_role as enum ('viewer', 'member', 'admin', 'owner');
comment on type app_public.membership_role is E'Role of a user in a tenant. Ordered: viewer < member < admin < owner.';

create function app_public.current_member_role() returns app_public.membership_role
  language sql stable parallel safe
as $$
  select case
    when pg_catalog.current_setting('app.role', true)
         operator(pg_catalog.=) any ('{viewer,member,admin,owner}'::pg_catalog.text[])
    then pg_catalog.current_setting('app.role', true)::app_public.membership_role
  end
$$;

comment on function app_public.current_tenant_id() is E'Tenant of the current request (app.tenant_id), NULL when unset, empty or malformed.';
comment on function app_public.current_user_id() is E'User of the current request (app.user_id), NULL when unset, empty or malformed.';
comment on function app_public.current_member_role() is E'Role of the current user in the current tenant (app.role, derived from memberships by begin_request), NULL when unset or unknown.';

grant execute on function app_public.current_tenant_id() to tenantry_app;
grant execute on function app_public.current_user_id() to tenantry_app;
grant execute on function app_public.current_member_role() to tenantry_app;

/*
 * 0030 — shared trigger functions.
 */
create function app_private.tg__timestamps() returns trigger
  language plpgsql volatile
  set search_path to pg_catalog, pg_temp
as $$
begin
  new.created_at := case when tg_op = 'INSERT' then pg_catalog.now() else old.created_at end;
  new.updated_at := case when tg_op = 'INSERT' then pg_catalog.now() else greatest(pg_catalog.now(), old.updated_at + interval '1 millisecond') end;
  return new;
end;
$$;
comment on function app_private.tg__timestamps() is E'Trigger: created_at is immutable, updated_at always moves forward.';

/*
 * 1000 — plans. Reference data, readable by any authenticated request.
 */
create table app_public.plans (
  id text primary key check (id ~ '^[a-z][a-z0-9_]{0,31}$'),
  name text not null check (char_length(name) between 1 and 100),
  rank integer not null unique,
  member_limit integer check (member_limit > 0),
  requests_per_minute integer not null check (requests_per_minute > 0)
);
alter table app_public.plans enable row level security;
alter table app_public.plans force row level security;

-- Anyone with a request context can read the plan catalogue.
create policy select_authenticated on app_public.plans for select to tenantry_app
  using ((select app_public.current_user_id()) is not null);
comment on policy select_authenticated on app_public.plans is E'Anyone with a request context can read the plan catalogue.';

grant select on app_public.plans to tenantry_app;

comment on table app_public.plans is E'Subscription plans: member limit (NULL = unlimited) and per-tenant request rate.';
comment on column app_public.plans.rank is E'Orders plans: moving to a higher rank is an upgrade, to a lower one a downgrade.';
comment on column app_public.plans.member_limit is E'Maximum memberships per tenant; NULL means unlimited. Enforced by triggers.';

insert into app_public.plans (id, name, rank, member_limit, requests_per_minute) values
  ('free', 'Free', 0, 3, 600),
  ('pro', 'Pro', 1, 10, 3000),
  ('enterprise', 'Enterprise', 2, null, 12000);

/*
 * 1100 — tenants.
 */
create table app_public.tenants (
  id uuid primary key default gen_random_uuid(),
  slug text not null unique
    check (char_length(slug) between 2 and 63 and slug ~ '^[a-z0-9]([a-z0-9-]*[a-z0-9])?$'),
  name text not null check (char_length(name) between 1 and 100),
  plan text not null default 'free' references app_public.plans (id) on update cascade on delete restrict,
  suspended_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
alter table app_public.tenants enable row level security;
alter table app_public.tenants force row level security;

create index tenants_plan_idx on app_public.tenants (plan);

create trigger _100_timestamps before insert or update on app_public.tenants
  for each row execute procedure app_private.tg__timestamps();

comment on table app_public.tenants is E'A customer organisation; the unit of isolation.';
comment on column app_public.tenants.suspended_at is E'Set by the platform admin; a suspended tenant''s requests fail with /tenant-suspended.';

/*
 * 1200 — users. Global identities; a user sees themself and the members of the current tenant.
 */
create table app_public.users (
  id uuid primary key default gen_random_uuid(),
  email text not null unique
    check (char_length(email) <= 254 and email ~ '^[^@\s]+@[^@\s]+$' and email = lower(email)),
  name text not null check (char_length(name) between 1 and 100),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
alter table app_public.users enable row level security;
alter table app_public.users force row level security;

create trigger _100_timestamps before insert or update on app_public.users
  for each row execute procedure app_private.tg__timestamps();

comment on table app_public.users is E'People. Email is stored lower-cased, which makes the unique constraint case-insensitive.';

/*
 * 1300 — memberships: who belongs to which tenant, with which role.
 */
create table app_public.memberships (
  tenant_id uuid not null references app_public.tenants (id) on delete cascade,
  user_id uuid not null references app_public.users (id) on delete cascade,
  role app_public.membership_role not null default 'member',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (tenant_id, user_id)
);
alter table app_public.memberships enable row level security;
alter table app_public.memberships force row level security;

-- Keyset pagination of members (oldest first) and "my tenants" lookups.
create index memberships_tenant_created_idx on app_public.memberships (tenant_id, created_at, user_id);
create index memberships_user_id_idx on app_public.memberships (user_id);

create trigger _100_timestamps before insert or update on app_public.memberships
  for each row execute procedure app_private.tg__timestamps();

comment on table app_public.memberships is E'A user''s role in a tenant. The request context derives app.role from this table on every request.';

-- Policies on tenants, users and memberships reference each other, so they follow all three tables.

-- You can see the tenants you belong to.
create policy select_member on app_public.tenants for select to tenantry_app
  using (exists (
    select 1 from app_public.memberships m
    where m.tenant_id = tenants.id and m.user_id = (select app_public.current_user_id())
  ));
comment on policy select_member on app_public.tenants is E'You can see the tenants you belong to.';
-- Admins and owners can update the current tenant.
create policy update_admin on app_public.tenants for update to tenantry_app
  using (id = (select app_public.current_tenant_id()) and (select app_public.current_member_role()) >= 'admin')
  with check (id = (select app_public.current_tenant_id()));
comment on policy update_admin on app_public.tenants is E'Admins and owners can update the current tenant.';

grant select on app_public.tenants to tenantry_app;
grant update (name, plan) on app_public.tenants to tenantry_app;

-- You can see yourself, and the members of the current tenant.
create policy select_self_or_colleague on app_public.users for select to tenantry_app
  using (
    id = (select app_public.current_user_id())
    or exists (
      select 1 from app_public.memberships m
      where m.user_id = users.id and m.tenant_id = (select app_public.current_tenant_id())
    )
  );
comment on policy select_self_or_colleague on app_public.users is E'You can see yourself, and the members of the current tenant.';
-- You can only update yourself.
create policy update_self on app_public.users for update to tenantry_app
  using (id = (select app_public.current_user_id()))
  with check (id = (select app_public.current_user_id()));
comment on policy update_self on app_public.users is E'You can only update yourself.';

grant select on app_public.users to tenantry_app;
grant update (name) on app_public.users to tenantry_app;

-- You can see the members of the current tenant, and your own memberships everywhere.
create policy select_member on app_public.memberships for select to tenantry_app
  using (
    tenant_id = (select app_public.current_tenant_id())
    or user_id = (select app_public.current_user_id())
  );
comment on policy select_member on app_public.memberships is E'You can see the members of the current tenant, and your own memberships everywhere.';
-- Admins change roles in the current tenant; only an owner grants or takes away `owner`.
create policy update_admin on app_public.memberships for update to tenantry_app
  using (
    tenant_id = (select app_public.current_tenant_id())
    and (select app_public.current_member_role()) >= 'admin'
    and (role <> 'owner' or (select app_public.current_member_role()) = 'owner')
  )
  with check (
    tenant_id = (select app_public.current_tenant_id())
    and (role <> 'owner' or (select app_public.current_member_role()) = 'owner')
  );
comment on policy update_admin on app_public.memberships is E'Admins change roles in the current tenant; only an owner grants or takes away `owner`.';
-- You can leave; admins remove members of the current tenant; only owners remove owners.
create policy delete_admin_or_self on app_public.memberships for delete to tenantry_app
  using (
    tenant_id = (select app_public.current_tenant_id())
    and (
      user_id = (select app_public.current_user_id())
      or (
        (select app_public.current_member_role()) >= 'admin'
        and (role <> 'owner' or (select app_public.current_member_role()) = 'owner')
      )
    )
  );
comment on policy delete_admin_or_self on app_public.memberships is E'You can leave; admins remove members of the current tenant; only owners remove owners.';

grant select, delete on app_public.memberships to tenantry_app;
grant update (role) on app_public.memberships to tenantry_app;

/*
 * 1400 — at least one owner per tenant.
 *
 * Two owners demoting each other at the same time would each still see the other as owner in
 * their own snapshot. Locking the tenant row serialises them; the count after the lock is a
 * fresh READ COMMITTED snapshot, so the second one sees the first one's commit and fails.
 */
create function app_private.tg_memberships__keep_an_owner() returns trigger
  language plpgsql volatile security definer
  set search_path to pg_catalog, pg_temp
as $$
begin
  if old.role <> 'owner' or (tg_op = 'UPDATE' and new.role = 'owner') then
    return null;
  end if;
  -- The tenant itself is being deleted (cascade): nothing to keep.
  perform 1 from app_public.tenants where id = old.tenant_id for update;
  if not found then
    return null;
  end if;
  if not exists (
    select 1 from app_public.memberships
    where tenant_id = old.tenant_id and role = 'owner'
  ) then
    raise exception 'a tenant must keep at least one owner' using errcode = 'TNLOW';
  end if;
  return null;
end;
$$;
comment on function app_private.tg_memberships__keep_an_owner() is E'Trigger: refuses to remove or demote the last owner of a tenant (SQLSTATE TNLOW).';

create trigger _500_keep_an_owner after update of role or delete on app_public.memberships
  for each row execute procedure app_private.tg_memberships__keep_an_owner();

/*
 * 2000 — secrets and sessions (app_private; tenantry_app has no table grants here).
 */
create table app_private.user_secrets (
  user_id uuid primary key references app_public.users (id) on delete cascade,
  password_hash text not null,
  updated_at timestamptz not null default now()
);
comment on table app_private.user_secrets is E'bcrypt password hashes, one per user. Only SECURITY DEFINER functions read it.';

-- A session is a refresh-token family: one login (or switch) in one tenant.
create table app_private.sessions (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references app_public.users (id) on delete cascade,
  tenant_id uuid not null references app_public.tenants (id) on delete cascade,
  created_at timestamptz not null default now(),
  last_used_at timestamptz not null default now(),
  revoked_at timestamptz,
  revoked_reason text
);
create index sessions_user_id_idx on app_private.sessions (user_id);
create index sessions_tenant_id_idx on app_private.sessions (tenant_id);
comment on table app_private.sessions is E'Refresh-token families. Revoking one (logout, reuse detected) also invalidates its access tokens: begin_request checks it.';

create table app_private.refresh_tokens (
  token_hash bytea primary key check (octet_length(token_hash) = 32),
  session_id uuid not null references app_private.sessions (id) on delete cascade,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  rotated_at timestamptz
);
create index refresh_tokens_session_id_idx on app_private.refresh_tokens (session_id);
comment on table app_private.refresh_tokens is E'SHA-256 of opaque refresh tokens. A token is used once: rotated_at is set when it is exchanged; presenting it again revokes its whole session.';

/*
 * 2100 — the request context: one statement per request.
 *
 * Verifies the session is live and the user is still a member of the tenant, refuses suspended
 * tenants, then sets the three settings for this transaction only (is_local = true). app.role
 * comes from memberships, never from the token, so a demoted or removed member loses access on
 * the next request. set_config inside a function with a SET clause still reaches the caller's
 * transaction for every setting except the ones in that SET clause (here: search_path).
 */
create function app_private.begin_request(p_tenant_id uuid, p_user_id uuid, p_session_id uuid)
  returns app_public.membership_role
  language plpgsql volatile security definer
  set search_path to pg_catalog, pg_temp
as $$
declare
  v_role app_public.membership_role;
  v_suspended_at timestamptz;
begin
  select m.role, t.suspended_at into v_role, v_suspended_at
  from app_private.sessions s
  join app_public.memberships m on m.tenant_id = s.tenant_id and m.user_id = s.user_id
  join app_public.tenants t on t.id = m.tenant_id
  where s.id = p_session_id
    and s.user_id = p_user_id
    and s.tenant_id = p_tenant_id
    and s.revoked_at is null;
  if not found then
    raise exception 'no active session and membership for this tenant' using errcode = 'TN401';
  end if;
  if v_suspended_at is not null then
    raise exception 'this tenant is suspended' using errcode = 'TNSUS';
  end if;
  perform pg_catalog.set_config('app.tenant_id', p_tenant_id::text, true),
          pg_catalog.set_config('app.user_id', p_user_id::text, true),
          pg_catalog.set_config('app.role', v_role::text, true);
  return v_role;
end;
$$;
comment on function app_private.begin_request(uuid, uuid, uuid) is E'Sets app.tenant_id, app.user_id and app.role (from memberships) for the current transaction. TN401: no live session or membership; TNSUS: tenant suspended.';
grant execute on function app_private.begin_request(uuid, uuid, uuid) to tenantry_app;

/*
 * 2200 — authentication. Each function does exactly one job; bcrypt runs in the API (off the
 * event loop), so these functions receive and return hashes, never passwords.
 */
create function app_private.register(
  p_email text, p_name text, p_password_hash text, p_tenant_name text, p_tenant_slug text
) returns table (user_id uuid, tenant_id uuid)
  language plpgsql volatile security definer
  set search_path to pg_catalog, pg_temp
as $$
declare
  v_user_id uuid;
  v_tenant_id uuid;
begin
  -- Friendly messages for the common case; the unique constraints still decide under races.
  if exists (select 1 from app_public.users u where u.email = lower(p_email)) then
    raise exception 'an account with this email already exists' using errcode = 'TN409';
  end if;
  if exists (select 1 from app_public.tenants t where t.slug = p_tenant_slug) then
    raise exception 'this tenant slug is taken' using errcode = 'TN409';
  end if;
  insert into app_public.users (email, name) values (lower(p_email), p_name) returning id into v_user_id;
  insert into app_private.user_secrets (user_id, password_hash) values (v_user_id, p_password_hash);
  insert into app_public.tenants (slug, name) values (p_tenant_slug, p_tenant_name) returning id into v_tenant_id;
  insert into app_public.memberships (tenant_id, user_id, role) values (v_tenant_id, v_user_id, 'owner');
  return query select v_user_id, v_tenant_id;
end;
$$;
comment on function app_private.register(text, text, text, text, text) is E'Creates a user, their password hash, a tenant on the free plan and the owner membership.';
grant execute on function app_private.register(text, text, text, text, text) to tenantry_app;

create function app_private.login_candidate(p_email text)
  returns table (user_id uuid, password_hash text)
  language sql stable security definer
  set search_path to pg_catalog, pg_temp
as $$
  select u.id, s.password_hash
  from app_public.users u
  join app_private.user_secrets s on s.user_id = u.id
  where u.email = lower(p_email)
$$;
comment on function app_private.login_candidate(text) is E'The user id and bcrypt hash for an email, for the API to verify a password. No row for an unknown email.';
grant execute on function app_private.login_candidate(text) to tenantry_app;

create function app_private.open_session(
  p_user_id uuid, p_tenant_slug text, p_refresh_token_hash bytea, p_refresh_token_ttl interval
) returns table (session_id uuid, tenant_id uuid)
  language plpgsql volatile security definer
  set search_path to pg_catalog, pg_temp
as $$
declare
  v_tenant_id uuid;
  v_suspended_at timestamptz;
  v_session_id uuid;
begin
  -- Without a slug: the first tenant the user joined that is not suspended (if all are, the
  -- first one, so the answer says "suspended" rather than "not a member").
  select t.id, t.suspended_at into v_tenant_id, v_suspended_at
  from app_public.memberships m
  join app_public.tenants t on t.id = m.tenant_id
  where m.user_id = p_user_id and (p_tenant_slug is null or t.slug = p_tenant_slug)
  order by t.suspended_at is not null, m.created_at, m.tenant_id
  limit 1;
  if not found then
    raise exception 'not a member of that tenant' using errcode = 'TN401';
  end if;
  if v_suspended_at is not null then
    raise exception 'this tenant is suspended' using errcode = 'TNSUS';
  end if;
  insert into app_private.sessions (user_id, tenant_id) values (p_user_id, v_tenant_id)
    returning id into v_session_id;
  insert into app_private.refresh_tokens (token_hash, session_id, expires_at)
    values (p_refresh_token_hash, v_session_id, pg_catalog.now() + p_refresh_token_ttl);
  return query select v_session_id, v_tenant_id;
end;
$$;
comment on function app_private.open_session(uuid, text, bytea, interval) is E'Starts a refresh-token family for a user in one of their tenants (by slug, or their first). TN401: not a member; TNSUS: suspended.';
grant execute on function app_private.open_session(uuid, text, bytea, interval) to tenantry_app;

/*
 * Rotation with reuse detection. The FOR UPDATE on the token row serialises parallel refreshes
 * of one token: the first rotates it, every later one (re-reading the committed row) finds it
 * rotated and revokes the whole family. Reuse is reported as an outcome, not an exception, so
 * the revocation commits.
 */
create function app_private.rotate_refresh_token(
  p_token_hash bytea, p_new_token_hash bytea, p_refresh_token_ttl interval
) returns table (outcome text, session_id uuid, user_id uuid, tenant_id uuid)
  language plpgsql volatile security definer
  set search_path to pg_catalog, pg_temp
as $$
declare
  v_token app_private.refresh_tokens;
  v_session app_private.sessions;
begin
  select * into v_token from app_private.refresh_tokens t where t.token_hash = p_token_hash for update;
  if not found then
    return query select 'invalid'::text, null::uuid, null::uuid, null::uuid;
    return;
  end if;
  select * into v_session from app_private.sessions s where s.id = v_token.session_id for update;
  if v_token.rotated_at is not null then
    update app_private.sessions s
      set revoked_at = pg_catalog.now(), revoked_reason = 'refresh token reused'
      where s.id = v_session.id and s.revoked_at is null;
    return query select 'reused'::text, v_session.id, v_session.user_id, v_session.tenant_id;
    return;
  end if;
  if v_session.revoked_at is not null or v_token.expires_at <= pg_catalog.now() then
    return query select 'invalid'::text, null::uuid, null::uuid, null::uuid;
    return;
  end if;
  if exists (
    select 1 from app_public.tenants t where t.id = v_session.tenant_id and t.suspended_at is not null
  ) then
    return query select 'suspended'::text, null::uuid, null::uuid, null::uuid;
    return;
  end if;
  if not exists (
    select 1 from app_public.memberships m
    where m.tenant_id = v_session.tenant_id and m.user_id = v_session.user_id
  ) then
    update app_private.sessions s
      set revoked_at = pg_catalog.now(), revoked_reason = 'membership ended'
      where s.id = v_session.id;
    return query select 'invalid'::text, null::uuid, null::uuid, null::uuid;
    return;
  end if;
  update app_private.refresh_tokens t set rotated_at = pg_catalog.now() where t.token_hash = p_token_hash;
  insert into app_private.refresh_tokens (token_hash, session_id, expires_at)
    values (p_new_token_hash, v_session.id, pg_catalog.now() + p_refresh_token_ttl);
  update app_private.sessions s set last_used_at = pg_catalog.now() where s.id = v_session.id;
  return query select 'rotated'::text, v_session.id, v_session.user_id, v_session.tenant_id;
end;
$$;
comment on function app_private.rotate_refresh_token(bytea, bytea, interval) is E'Exchanges a refresh token for a new one in the same family. Outcomes: rotated, reused (family revoked), invalid, suspended.';
grant execute on function app_private.rotate_refresh_token(bytea, bytea, interval) to tenantry_app;

create function app_private.revoke_session(p_session_id uuid) returns void
  language sql volatile security definer
  set search_path to pg_catalog, pg_temp
as $$
  update app_private.sessions
    set revoked_at = pg_catalog.now(), revoked_reason = 'logout'
    where id = p_session_id and user_id = app_public.current_user_id() and revoked_at is null
$$;
comment on function app_private.revoke_session(uuid) is E'Logout: revokes a session family of the current user (app.user_id), which ends its refresh and access tokens.';
grant execute on function app_private.revoke_session(uuid) to tenantry_app;

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
