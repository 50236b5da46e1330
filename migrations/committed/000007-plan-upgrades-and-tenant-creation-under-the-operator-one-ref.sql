--! Previous: sha1:b9f85e66821b396dd775d64046b11552a624f4ab
--! Hash: sha1:3564abf3561158b0a7bd887f920880533eeb34cf
--! Message: Plan upgrades and tenant creation under the operator; one refresh chain

/*
 * 4400 — an operator controls plan upgrades and tenant creation (issue 17, items 4 and 6).
 *
 * Before this, the API role updated `tenants.plan` directly (RLS: admins and owners), so any
 * tenant admin moved their tenant to enterprise for free, and one account created tenants
 * without end. Now a tenant's own plan change goes through one definer function that decides
 * upgrade or downgrade by the plans' rank, and the API role loses its column grant on `plan`,
 * so no code path of the API can skip that check. The API passes only the operator's setting
 * (PLAN_UPGRADES: open or platform) as one boolean; /v1/admin keeps admin_set_tenant_plan.
 */
create function app_private.change_plan(p_plan text, p_upgrades_open boolean) returns void
  language plpgsql volatile security definer
  set search_path to pg_catalog, pg_temp
as $$
declare
  v_tenant_id uuid := app_public.current_tenant_id();
  v_from text;
  v_from_rank integer;
  v_to_rank integer;
begin
  -- The role begin_request derived from memberships, as the update_admin policy reads it.
  if v_tenant_id is null or app_public.current_member_role() is null
     or app_public.current_member_role() operator(pg_catalog.<) 'admin'::app_public.membership_role then
    raise exception 'your role does not allow this' using errcode = '42501';
  end if;
  -- Locked first: a racing change waits, then compares against the plan it left.
  select t.plan into v_from from app_public.tenants t where t.id = v_tenant_id for update;
  if not found then
    raise exception 'tenant not found' using errcode = 'TN404';
  end if;
  select p.rank into v_from_rank from app_public.plans p where p.id = v_from;
  select p.rank into v_to_rank from app_public.plans p where p.id = p_plan;
  if v_to_rank is null then
    raise exception 'unknown plan' using errcode = 'TN404';
  end if;
  if v_to_rank > v_from_rank and not p_upgrades_open then
    raise exception 'plan upgrades are made by the platform operator (billing); you may downgrade'
      using errcode = 'TN403';
  end if;
  if v_from = p_plan then
    return;
  end if;
  -- The plan-fits trigger refuses a plan below the member or item count (TNPLM); the activity
  -- trigger records PLAN_UPGRADED or PLAN_DOWNGRADED.
  update app_public.tenants t set plan = p_plan where t.id = v_tenant_id;
end;
$$;
revoke execute on function app_private.change_plan(text, boolean) from public;
grant execute on function app_private.change_plan(text, boolean) to tenantry_app;
comment on function app_private.change_plan(text, boolean) is E'A tenant admin or owner changes the current tenant''s plan. An upgrade (higher rank) only when p_upgrades_open (PLAN_UPGRADES=open); otherwise TN403. 42501: not an admin; TNPLM: below the member or item count.';

-- Every plan change now goes through a definer function (change_plan, admin_set_tenant_plan).
revoke update (plan) on app_public.tenants from tenantry_app;
comment on policy update_admin on app_public.tenants is E'Admins and owners can rename the current tenant (the plan changes only through app_private.change_plan).';

/*
 * Tenants a user creates: counted by `created_by`, capped in create_tenant under a lock on the
 * user's row, so parallel creations by one user are serialised and the count is exact.
 * Existing tenants are attributed to their first owner. A tenant the platform admin provisions
 * has no creator and counts for nobody.
 */
alter table app_public.tenants
  add column created_by uuid references app_public.users (id) on delete set null;
create index tenants_created_by_idx on app_public.tenants (created_by);
comment on column app_public.tenants.created_by is E'The user who created this tenant (register or POST /v1/tenants); NULL when the platform admin provisioned it or the user is gone. TENANTS_PER_USER counts these.';
update app_public.tenants t set created_by = (
  select m.user_id from app_public.memberships m
  where m.tenant_id = t.id and m.role = 'owner'
  order by m.created_at, m.user_id
  limit 1
);

drop function app_private.create_tenant(text, text);
create function app_private.create_tenant(p_name text, p_slug text, p_max_tenants integer) returns uuid
  language plpgsql volatile security definer
  set search_path to pg_catalog, pg_temp
as $$
declare
  v_user_id uuid := app_public.current_user_id();
  v_tenant_id uuid;
  v_created bigint;
begin
  if v_user_id is null then
    raise exception 'no signed-in user' using errcode = 'TN401';
  end if;
  -- Parallel creations by one user wait here, so each counts the ones committed before it.
  perform 1 from app_public.users u where u.id = v_user_id for update;
  if not found then
    raise exception 'no signed-in user' using errcode = 'TN401';
  end if;
  select count(*) into v_created from app_public.tenants t where t.created_by = v_user_id;
  if v_created >= p_max_tenants then
    raise exception 'you have created % tenants, the most allowed', v_created using errcode = 'TN403';
  end if;
  -- A friendly message for the common case; the unique constraint still decides under races.
  if exists (select 1 from app_public.tenants t where t.slug = p_slug) then
    raise exception 'this tenant slug is taken' using errcode = 'TN409';
  end if;
  insert into app_public.tenants (slug, name, created_by) values (p_slug, p_name, v_user_id)
    returning id into v_tenant_id;
  insert into app_public.memberships (tenant_id, user_id, role) values (v_tenant_id, v_user_id, 'owner');
  return v_tenant_id;
end;
$$;
revoke execute on function app_private.create_tenant(text, text, integer) from public;
grant execute on function app_private.create_tenant(text, text, integer) to tenantry_app;
comment on function app_private.create_tenant(text, text, integer) is E'Creates a tenant on the free plan with the current user (app.user_id) as its owner and creator. TN403: the user already created p_max_tenants (TENANTS_PER_USER) that still exist; TN409: slug taken.';

-- Registration creates the user's first tenant: it counts as created by them.
create or replace function app_private.register(
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
  insert into app_public.tenants (slug, name, created_by) values (p_tenant_slug, p_tenant_name, v_user_id)
    returning id into v_tenant_id;
  insert into app_public.memberships (tenant_id, user_id, role) values (v_tenant_id, v_user_id, 'owner');
  return query select v_user_id, v_tenant_id;
end;
$$;
comment on function app_private.register(text, text, text, text, text) is E'Creates a user, their password hash, a tenant on the free plan (created by them) and the owner membership.';

/*
 * 4500 — one chain per session (issue 17, item 8).
 *
 * The API now derives a token's successor from the token itself (an HMAC under a server key),
 * so every exchange of one token asks for the same successor. The first exchange records it;
 * a replay within the reuse window, while that successor is unused, is answered with the same
 * successor and inserts nothing: a session never has two live tokens. A replay that brings a
 * different successor (the server key changed in between) is refused as invalid rather than
 * forking the session. Any other replay revokes the session, as before.
 */
create or replace function app_private.rotate_refresh_token(
  p_token_hash bytea, p_new_token_hash bytea, p_refresh_token_ttl interval,
  p_reuse_interval interval, p_session_max_age interval
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
  if v_token.rotated_at is not null and not (
    p_reuse_interval > interval '0'
    and v_session.revoked_at is null
    and pg_catalog.clock_timestamp() - v_token.rotated_at <= p_reuse_interval
    and not exists (
      select 1 from app_private.refresh_tokens c
      where c.parent_hash = v_token.token_hash and c.rotated_at is not null
    )
  ) then
    update app_private.sessions s
      set revoked_at = pg_catalog.now(), revoked_reason = 'refresh token reused'
      where s.id = v_session.id and s.revoked_at is null;
    return query select 'reused'::text, v_session.id, v_session.user_id, v_session.tenant_id;
    return;
  end if;
  if v_session.revoked_at is not null or v_token.expires_at <= pg_catalog.now()
     or v_session.created_at + p_session_max_age <= pg_catalog.now() then
    return query select 'invalid'::text, null::uuid, null::uuid, null::uuid;
    return;
  end if;
  if v_session.tenant_id is not null then
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
  end if;
  if v_token.rotated_at is null then
    update app_private.refresh_tokens t set rotated_at = pg_catalog.clock_timestamp()
      where t.token_hash = p_token_hash;
    insert into app_private.refresh_tokens (token_hash, session_id, expires_at, parent_hash)
      values (
        p_new_token_hash, v_session.id,
        least(pg_catalog.now() + p_refresh_token_ttl, v_session.created_at + p_session_max_age),
        p_token_hash
      );
  elsif not exists (
    select 1 from app_private.refresh_tokens c
    where c.parent_hash = v_token.token_hash and c.token_hash = p_new_token_hash
  ) then
    -- A forgiven replay must name the successor already issued; anything else would fork.
    return query select 'invalid'::text, null::uuid, null::uuid, null::uuid;
    return;
  end if;
  update app_private.sessions s set last_used_at = pg_catalog.now() where s.id = v_session.id;
  return query select 'rotated'::text, v_session.id, v_session.user_id, v_session.tenant_id;
end;
$$;
comment on function app_private.rotate_refresh_token(bytea, bytea, interval, interval, interval) is E'Exchanges a refresh token for its successor (p_new_token_hash, derived by the API from the token) in the same session. Outcomes: rotated, reused (session revoked), invalid (unknown, expired, revoked, past the session''s max age, membership ended, a replay naming another successor), suspended. A replay of the token just rotated, within the reuse interval and while its successor is unused, is answered with the same successor: the session stays one chain.';
