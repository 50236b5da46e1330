--! Previous: sha1:d09dcd949b7ecdeba29424e19610279b5c378acd
--! Hash: sha1:0f65935ddfb7bef5d2159a18e0438711083a162b
--! Message: account lifecycle: reuse window, tenantless sessions, purge, platform admin

/*
 * 4000 — account lifecycle: how each account came to exist.
 *
 * An invitation is not proof that the invitee owns the address: an admin can invite any email
 * and accept the invitation themselves, which creates the global account for that address.
 * Until email verification exists, created_via makes such accounts visible to the platform
 * admin (README, security model).
 */
alter table app_public.users add column created_via text not null default 'registration'
  check (created_via in ('registration', 'invitation', 'platform'));
comment on column app_public.users.created_via is E'registration (signed up), invitation (created by accepting an invitation: the address is unverified) or platform (provisioned by the platform admin).';

-- Accounts created by an accept so far: the accept inserts the user and marks the invitation in one transaction (same now()).
update app_public.users u set created_via = 'invitation'
where exists (select 1 from app_public.invitations i where i.accepted_by = u.id and i.accepted_at = u.created_at);

/*
 * 4100 — sessions: tenantless sessions, an absolute lifetime, a reuse window for refresh.
 *
 * A user who belongs to no tenant (they left, were removed, or their tenant was deleted) can
 * still sign in, to accept an invitation or create a tenant: their session has no tenant.
 * begin_request never matches it (it requires the session's tenant), so a tenantless access
 * token reaches only the routes that run through begin_user_request.
 */
alter table app_private.sessions alter column tenant_id drop not null;
comment on column app_private.sessions.tenant_id is E'The tenant this session signs in to; NULL for a tenantless session (a user with no tenant), which only begin_user_request accepts.';

-- Which token a token was issued for: a replay is forgiven only while no child of it has been used.
alter table app_private.refresh_tokens
  add column parent_hash bytea references app_private.refresh_tokens (token_hash) on delete set null;
create index refresh_tokens_parent_hash_idx on app_private.refresh_tokens (parent_hash);
comment on column app_private.refresh_tokens.parent_hash is E'The token this one was issued in exchange for (NULL for the first token of a session, or once the parent is purged).';

create or replace function app_private.open_session(
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
    -- A user with no tenant at all still signs in, tenantless; a slug that is not theirs does not.
    if p_tenant_slug is not null
       or exists (select 1 from app_public.memberships m where m.user_id = p_user_id) then
      raise exception 'not a member of that tenant' using errcode = 'TN401';
    end if;
  elsif v_suspended_at is not null then
    raise exception 'this tenant is suspended' using errcode = 'TNSUS';
  end if;
  insert into app_private.sessions (user_id, tenant_id) values (p_user_id, v_tenant_id)
    returning id into v_session_id;
  insert into app_private.refresh_tokens (token_hash, session_id, expires_at)
    values (p_refresh_token_hash, v_session_id, pg_catalog.now() + p_refresh_token_ttl);
  return query select v_session_id, v_tenant_id;
end;
$$;
comment on function app_private.open_session(uuid, text, bytea, interval) is E'Starts a refresh-token family for a user in one of their tenants (by slug, or their first), or a tenantless one for a user with no tenant. TN401: not a member; TNSUS: suspended.';

/*
 * Rotation with reuse detection and a reuse window.
 *
 * The FOR UPDATE on the token row serialises parallel refreshes of one token. The first rotates
 * it. Within p_reuse_interval of that rotation, and only while none of the tokens issued for it
 * has itself been used, presenting it again (a second tab, a retry after a lost response) gets
 * a new token of the same session instead of revoking it: parallel refreshes all succeed and
 * leave one session. Any other replay — after the window, of a grandparent, or with a zero
 * window (strict) — revokes the whole session. The window is measured from the first rotation
 * (clock time, not the transaction's start: a refresh that waited on the lock must not see a
 * negative age) and is never extended by a forgiven replay.
 *
 * A session lives at most p_session_max_age from its login, however often it is refreshed.
 * Reuse is reported as an outcome, not an exception, so the revocation commits.
 */
drop function app_private.rotate_refresh_token(bytea, bytea, interval);
create function app_private.rotate_refresh_token(
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
  end if;
  insert into app_private.refresh_tokens (token_hash, session_id, expires_at, parent_hash)
    values (
      p_new_token_hash, v_session.id,
      least(pg_catalog.now() + p_refresh_token_ttl, v_session.created_at + p_session_max_age),
      p_token_hash
    );
  update app_private.sessions s set last_used_at = pg_catalog.now() where s.id = v_session.id;
  return query select 'rotated'::text, v_session.id, v_session.user_id, v_session.tenant_id;
end;
$$;
comment on function app_private.rotate_refresh_token(bytea, bytea, interval, interval, interval) is E'Exchanges a refresh token for a new one in the same session. Outcomes: rotated, reused (session revoked), invalid (unknown, expired, revoked, past the session''s max age, membership ended), suspended. A replay of the token just rotated, within the reuse interval, is rotated again.';
grant execute on function app_private.rotate_refresh_token(bytea, bytea, interval, interval, interval) to tenantry_app;

/*
 * The request context of routes that need a signed-in user but no tenant (create a tenant,
 * delete one's account, sign out, switch): a live session of this user, tenantless or not.
 * Only app.user_id is set, so every tenant policy still matches nothing.
 */
create function app_private.begin_user_request(p_user_id uuid, p_session_id uuid) returns void
  language plpgsql volatile security definer
  set search_path to pg_catalog, pg_temp
as $$
begin
  perform 1 from app_private.sessions s
  where s.id = p_session_id and s.user_id = p_user_id and s.revoked_at is null;
  if not found then
    raise exception 'no active session' using errcode = 'TN401';
  end if;
  perform pg_catalog.set_config('app.user_id', p_user_id::text, true);
end;
$$;
comment on function app_private.begin_user_request(uuid, uuid) is E'Sets app.user_id (only) for the current transaction after checking the session is live. TN401: no live session.';
grant execute on function app_private.begin_user_request(uuid, uuid) to tenantry_app;

/*
 * Purging ended sessions: revoked ones, those past their absolute lifetime, and those whose
 * every token has expired; then every expired token (a replay of one is refused as invalid
 * instead of reused, which ends nothing that is still alive). Rotated tokens of live sessions
 * stay until they expire: they are what detects a replay.
 *
 * Every instance schedules it; a transaction-level advisory lock lets one run at a time and the
 * others skip (ran = false) instead of queueing behind it.
 */
create function app_private.purge_sessions(p_session_max_age interval)
  returns table (ran boolean, sessions bigint, refresh_tokens bigint)
  language plpgsql volatile security definer
  set search_path to pg_catalog, pg_temp
as $$
declare
  v_sessions bigint;
  v_tokens bigint;
begin
  if not pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtextextended('tenantry.purge_sessions', 0)) then
    return query select false, 0::bigint, 0::bigint;
    return;
  end if;
  with purged as (
    delete from app_private.sessions s
    where s.revoked_at is not null
       or s.created_at + p_session_max_age <= pg_catalog.now()
       or not exists (
         select 1 from app_private.refresh_tokens t
         where t.session_id = s.id and t.rotated_at is null and t.expires_at > pg_catalog.now()
       )
    returning 1
  )
  select count(*) into v_sessions from purged;
  with purged as (
    delete from app_private.refresh_tokens t where t.expires_at <= pg_catalog.now() returning 1
  )
  select count(*) into v_tokens from purged;
  return query select true, v_sessions, v_tokens;
end;
$$;
comment on function app_private.purge_sessions(interval) is E'Deletes revoked, expired and over-age sessions (with their tokens) and expired refresh tokens. One caller at a time (advisory lock); the others get ran = false.';
grant execute on function app_private.purge_sessions(interval) to tenantry_app;

/*
 * 4200 — membership changes end what they should.
 *
 * Removing a member (or leaving) revokes their sessions for that tenant, so a re-invitation
 * revives no old access or refresh token. Removal, or a demotion that takes away the right to
 * invite, revokes the pending invitations that member created (one INVITATION_REVOKED activity
 * each, by the _900_activity trigger on invitations): an invitation never outlives its
 * inviter's authority. An owner demoted to admin keeps their member/admin invitations and loses
 * their owner ones, which only an owner may issue.
 */
create function app_private.tg_memberships__end_access() returns trigger
  language plpgsql volatile security definer
  set search_path to pg_catalog, pg_temp
as $$
begin
  -- The tenant itself is being deleted (cascade): its sessions and invitations go with it.
  perform 1 from app_public.tenants t where t.id = old.tenant_id;
  if not found then
    return null;
  end if;
  if tg_op = 'DELETE' then
    update app_private.sessions s
      set revoked_at = pg_catalog.now(), revoked_reason = 'membership ended'
      where s.tenant_id = old.tenant_id and s.user_id = old.user_id and s.revoked_at is null;
  end if;
  update app_public.invitations i set revoked_at = pg_catalog.now()
    where i.tenant_id = old.tenant_id and i.invited_by = old.user_id
      and i.accepted_at is null and i.revoked_at is null and i.expires_at > pg_catalog.now()
      and (tg_op = 'DELETE' or new.role < 'admin' or (new.role < 'owner' and i.role = 'owner'));
  return null;
end;
$$;
comment on function app_private.tg_memberships__end_access() is E'Trigger: a removed member''s sessions for the tenant are revoked; a removed or demoted member''s pending invitations that they may no longer issue are revoked.';

create trigger _600_end_access after delete on app_public.memberships
  for each row execute procedure app_private.tg_memberships__end_access();
create trigger _600_end_access_role after update of role on app_public.memberships
  for each row when (old.role >= 'admin' and new.role < old.role)
  execute procedure app_private.tg_memberships__end_access();

-- Accounts created by accepting an invitation are marked as such.
create or replace function app_private.accept_invitation(
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
    insert into app_public.users (email, name, created_via) values (v_invitation.email, p_new_user_name, 'invitation')
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

/*
 * 4300 — self-service: another tenant, and deleting one's account.
 */
create function app_private.create_tenant(p_name text, p_slug text) returns uuid
  language plpgsql volatile security definer
  set search_path to pg_catalog, pg_temp
as $$
declare
  v_user_id uuid := app_public.current_user_id();
  v_tenant_id uuid;
begin
  if v_user_id is null then
    raise exception 'no signed-in user' using errcode = 'TN401';
  end if;
  -- A friendly message for the common case; the unique constraint still decides under races.
  if exists (select 1 from app_public.tenants t where t.slug = p_slug) then
    raise exception 'this tenant slug is taken' using errcode = 'TN409';
  end if;
  insert into app_public.tenants (slug, name) values (p_slug, p_name) returning id into v_tenant_id;
  insert into app_public.memberships (tenant_id, user_id, role) values (v_tenant_id, v_user_id, 'owner');
  return v_tenant_id;
end;
$$;
comment on function app_private.create_tenant(text, text) is E'Creates a tenant on the free plan with the current user (app.user_id) as its owner. TN409: slug taken.';
grant execute on function app_private.create_tenant(text, text) to tenantry_app;

/*
 * Deleting one's account. Tenants where the user is the only member go with it (nobody else
 * could ever administer them). Where they are the last owner of a tenant with other members,
 * the deletion is refused (TNLOW) until they hand ownership over: the keep-an-owner trigger
 * decides under races, the check below only names the tenant. The tenant rows are locked first,
 * in a fixed order, so an invitation accepted at the same moment either lands before the
 * "only member" count or waits for the deletion to finish.
 */
create function app_private.delete_account() returns void
  language plpgsql volatile security definer
  set search_path to pg_catalog, pg_temp
as $$
declare
  v_user_id uuid := app_public.current_user_id();
  v_blocking text;
begin
  if v_user_id is null then
    raise exception 'no signed-in user' using errcode = 'TN401';
  end if;
  perform 1 from app_public.tenants t
    where t.id in (select m.tenant_id from app_public.memberships m where m.user_id = v_user_id)
    order by t.id
    for update;
  select t.slug into v_blocking
  from app_public.memberships m join app_public.tenants t on t.id = m.tenant_id
  where m.user_id = v_user_id and m.role = 'owner'
    and not exists (select 1 from app_public.memberships o
                    where o.tenant_id = m.tenant_id and o.role = 'owner' and o.user_id <> v_user_id)
    and exists (select 1 from app_public.memberships o
                where o.tenant_id = m.tenant_id and o.user_id <> v_user_id)
  order by t.slug
  limit 1;
  if found then
    raise exception 'you are the last owner of "%", which has other members: make someone else an owner first', v_blocking
      using errcode = 'TNLOW';
  end if;
  delete from app_public.tenants t
    where t.id in (select m.tenant_id from app_public.memberships m where m.user_id = v_user_id)
      and not exists (select 1 from app_public.memberships o where o.tenant_id = t.id and o.user_id <> v_user_id);
  -- Memberships first, so the membership triggers (activity, sessions, invitations) see the user.
  delete from app_public.memberships m where m.user_id = v_user_id;
  delete from app_public.users u where u.id = v_user_id;
end;
$$;
comment on function app_private.delete_account() is E'Deletes the current user (app.user_id), their memberships and sessions, and the tenants where they were the only member. TNLOW: last owner of a tenant with other members.';
grant execute on function app_private.delete_account() to tenantry_app;

/*
 * 5000 — the platform admin.
 *
 * The operator acts through these functions only, each one job, each (when it changes
 * something) appending to app_audit.platform_actions in the same transaction. tenantry_app may
 * execute them but gains no privilege on any table: the API answers /v1/admin only to
 * PLATFORM_ADMIN_TOKEN (src/admin/).
 */
create table app_audit.platform_actions (
  id bigint generated always as identity primary key,
  actor text not null default 'platform' check (actor = 'platform'),
  action text not null check (action in (
    'tenant.created', 'tenant.plan_changed', 'tenant.suspended', 'tenant.resumed', 'tenant.deleted'
  )),
  tenant_id uuid not null,
  detail jsonb not null default '{}' check (jsonb_typeof(detail) = 'object'),
  request_id text check (char_length(request_id) <= 128),
  created_at timestamptz not null default now()
);
create index platform_actions_tenant_id_idx on app_audit.platform_actions (tenant_id, id);

comment on table app_audit.platform_actions is E'Append-only log of platform admin actions (who: platform; what; when; which tenant). Written by the app_private.admin_* functions; a DBA reads it here.';
comment on column app_audit.platform_actions.tenant_id is E'The tenant acted on. Not a foreign key: the log outlives deleted tenants (detail keeps their slug and name).';
comment on column app_audit.platform_actions.request_id is E'The API request id (x-request-id), to find the request in the logs.';
comment on schema app_audit is E'For DBAs: read-only views auditing RLS, grants and definer functions, and the platform_actions log. No access for tenantry_app.';

create function app_private.record_platform_action(
  p_action text, p_tenant_id uuid, p_detail jsonb, p_request_id text
) returns void
  language sql volatile
  set search_path to pg_catalog, pg_temp
as $$
  insert into app_audit.platform_actions (action, tenant_id, detail, request_id)
  values (p_action, p_tenant_id, p_detail, p_request_id)
$$;
comment on function app_private.record_platform_action(text, uuid, jsonb, text) is E'Appends a platform action; used by the admin_* functions only (not granted to tenantry_app).';

-- One row per tenant, as GET /v1/admin/tenants lists it.
create function app_private.admin_list_tenants(
  p_slug_prefix text, p_after_slug text, p_limit integer, p_tenant_id uuid default null
) returns table (
  id uuid, slug text, name text, plan text, member_count bigint, item_count bigint,
  suspended_at timestamptz, created_at timestamptz
)
  language sql stable security definer
  set search_path to pg_catalog, pg_temp
as $$
  select t.id, t.slug, t.name, t.plan,
         (select count(*) from app_public.memberships m where m.tenant_id = t.id),
         (select count(*) from app_public.items i where i.tenant_id = t.id),
         t.suspended_at, t.created_at
  from app_public.tenants t
  where (p_tenant_id is null or t.id = p_tenant_id)
    and (p_slug_prefix is null or pg_catalog.starts_with(t.slug, p_slug_prefix))
    and (p_after_slug is null or t.slug > p_after_slug)
  order by t.slug
  limit p_limit
$$;
comment on function app_private.admin_list_tenants(text, text, integer, uuid) is E'Platform admin: tenants by slug (optionally a prefix, after a cursor, or one id) with member and item counts.';
grant execute on function app_private.admin_list_tenants(text, text, integer, uuid) to tenantry_app;

/*
 * Provisioning: a tenant and its owner. With a password hash, a new account is created
 * (created_via = platform) and made owner; without one, an owner invitation is issued for the
 * email (a new or an existing account accepts it). Never a password for an existing account.
 */
create function app_private.admin_create_tenant(
  p_name text, p_slug text, p_plan text,
  p_owner_email text, p_owner_name text, p_owner_password_hash text,
  p_invitation_token_hash bytea, p_invitation_ttl interval, p_request_id text
) returns table (tenant_id uuid, owner_id uuid, invitation_expires_at timestamptz)
  language plpgsql volatile security definer
  set search_path to pg_catalog, pg_temp
as $$
declare
  v_email text := pg_catalog.lower(p_owner_email);
  v_tenant_id uuid;
  v_owner_id uuid;
  v_expires_at timestamptz;
begin
  if exists (select 1 from app_public.tenants t where t.slug = p_slug) then
    raise exception 'this tenant slug is taken' using errcode = 'TN409';
  end if;
  select u.id into v_owner_id from app_public.users u where u.email = v_email;
  if p_owner_password_hash is not null and v_owner_id is not null then
    raise exception 'an account with this email exists: omit the password to send it an owner invitation'
      using errcode = 'TN409';
  end if;
  insert into app_public.tenants (slug, name, plan) values (p_slug, p_name, p_plan) returning id into v_tenant_id;
  if p_owner_password_hash is not null then
    insert into app_public.users (email, name, created_via) values (v_email, p_owner_name, 'platform')
      returning id into v_owner_id;
    insert into app_private.user_secrets (user_id, password_hash) values (v_owner_id, p_owner_password_hash);
    insert into app_public.memberships (tenant_id, user_id, role) values (v_tenant_id, v_owner_id, 'owner');
  else
    insert into app_public.invitations (tenant_id, email, role, token_hash, invited_by, expires_at)
      values (v_tenant_id, v_email, 'owner', p_invitation_token_hash, null, pg_catalog.now() + p_invitation_ttl)
      returning expires_at into v_expires_at;
  end if;
  perform app_private.record_platform_action('tenant.created', v_tenant_id,
    pg_catalog.jsonb_build_object('slug', p_slug, 'name', p_name, 'plan', p_plan,
      'ownerEmail', v_email, 'ownerInvited', p_owner_password_hash is null),
    p_request_id);
  return query select v_tenant_id, v_owner_id, v_expires_at;
end;
$$;
comment on function app_private.admin_create_tenant(text, text, text, text, text, text, bytea, interval, text) is E'Platform admin: provisions a tenant with a new owner account (password hash given) or an owner invitation. TN409: slug taken, or a password for an existing account.';
grant execute on function app_private.admin_create_tenant(text, text, text, text, text, text, bytea, interval, text) to tenantry_app;

create function app_private.admin_set_tenant_plan(p_tenant_id uuid, p_plan text, p_request_id text) returns void
  language plpgsql volatile security definer
  set search_path to pg_catalog, pg_temp
as $$
declare
  v_from text;
begin
  select t.plan into v_from from app_public.tenants t where t.id = p_tenant_id for update;
  if not found then
    raise exception 'tenant not found' using errcode = 'TN404';
  end if;
  if v_from = p_plan then
    return;
  end if;
  -- The plan-fits trigger refuses a plan below the member count (TNPLM); the activity trigger logs the change.
  update app_public.tenants t set plan = p_plan where t.id = p_tenant_id;
  perform app_private.record_platform_action('tenant.plan_changed', p_tenant_id,
    pg_catalog.jsonb_build_object('from', v_from, 'to', p_plan), p_request_id);
end;
$$;
comment on function app_private.admin_set_tenant_plan(uuid, text, text) is E'Platform admin: changes a tenant''s plan (TNPLM below its member count, TN404 unknown tenant).';
grant execute on function app_private.admin_set_tenant_plan(uuid, text, text) to tenantry_app;

create function app_private.admin_set_tenant_suspended(p_tenant_id uuid, p_suspended boolean, p_request_id text)
  returns void
  language plpgsql volatile security definer
  set search_path to pg_catalog, pg_temp
as $$
declare
  v_suspended_at timestamptz;
begin
  select t.suspended_at into v_suspended_at from app_public.tenants t where t.id = p_tenant_id for update;
  if not found then
    raise exception 'tenant not found' using errcode = 'TN404';
  end if;
  if (v_suspended_at is not null) = p_suspended then
    return;
  end if;
  -- begin_request refuses a suspended tenant's requests from the next one on.
  update app_public.tenants t
    set suspended_at = case when p_suspended then pg_catalog.now() end
    where t.id = p_tenant_id;
  perform app_private.record_platform_action(
    case when p_suspended then 'tenant.suspended' else 'tenant.resumed' end, p_tenant_id,
    case when p_suspended then '{}'::jsonb else pg_catalog.jsonb_build_object('suspendedAt', v_suspended_at) end,
    p_request_id);
end;
$$;
comment on function app_private.admin_set_tenant_suspended(uuid, boolean, text) is E'Platform admin: suspends or resumes a tenant (sets or clears suspended_at). TN404: unknown tenant.';
grant execute on function app_private.admin_set_tenant_suspended(uuid, boolean, text) to tenantry_app;

-- Everything of the tenant goes by foreign-key cascades in this one statement; its members' accounts stay.
create function app_private.admin_delete_tenant(p_tenant_id uuid, p_request_id text) returns void
  language plpgsql volatile security definer
  set search_path to pg_catalog, pg_temp
as $$
declare
  v_tenant app_public.tenants;
  v_members bigint;
begin
  select * into v_tenant from app_public.tenants t where t.id = p_tenant_id for update;
  if not found then
    raise exception 'tenant not found' using errcode = 'TN404';
  end if;
  select count(*) into v_members from app_public.memberships m where m.tenant_id = p_tenant_id;
  delete from app_public.tenants t where t.id = p_tenant_id;
  perform app_private.record_platform_action('tenant.deleted', p_tenant_id,
    pg_catalog.jsonb_build_object('slug', v_tenant.slug, 'name', v_tenant.name, 'plan', v_tenant.plan,
      'members', v_members),
    p_request_id);
end;
$$;
comment on function app_private.admin_delete_tenant(uuid, text) is E'Platform admin: deletes a tenant and all its data (memberships, invitations, items, activities, sessions). TN404: unknown tenant.';
grant execute on function app_private.admin_delete_tenant(uuid, text) to tenantry_app;

create function app_private.admin_list_actions(p_before_id bigint, p_limit integer)
  returns setof app_audit.platform_actions
  language sql stable security definer
  set search_path to pg_catalog, pg_temp
as $$
  select * from app_audit.platform_actions a
  where p_before_id is null or a.id < p_before_id
  order by a.id desc
  limit p_limit
$$;
comment on function app_private.admin_list_actions(bigint, integer) is E'Platform admin: platform actions, newest first, before a cursor.';
grant execute on function app_private.admin_list_actions(bigint, integer) to tenantry_app;

create function app_private.admin_list_users(p_email_prefix text, p_after_email text, p_limit integer)
  returns table (id uuid, email text, name text, created_via text, created_at timestamptz, tenant_count bigint)
  language sql stable security definer
  set search_path to pg_catalog, pg_temp
as $$
  select u.id, u.email, u.name, u.created_via, u.created_at,
         (select count(*) from app_public.memberships m where m.user_id = u.id)
  from app_public.users u
  where (p_email_prefix is null or pg_catalog.starts_with(u.email, pg_catalog.lower(p_email_prefix)))
    and (p_after_email is null or u.email > p_after_email)
  order by u.email
  limit p_limit
$$;
comment on function app_private.admin_list_users(text, text, integer) is E'Platform admin: accounts by email (optionally a prefix, after a cursor), with how each was created and its tenant count.';
grant execute on function app_private.admin_list_users(text, text, integer) to tenantry_app;
