--! Previous: sha1:eecfeef3b47ce480d538e8615a18ffdd993cbe3e
--! Hash: sha1:f215274697e5b0c82dc2462c5ea97d86da2e790f
--! Message: Reads: invitations and the activities gap fill in one statement, one user_json

--! split: 2530-invitations-in-one-statement.sql
/*
 * GET /v1/invitations and /v1/invitations/:id in one statement, like the other reads: the
 * function sets the request context (app_api.enter), then returns the body as JSON text. Pending
 * only (not accepted, revoked or expired), as the routes said before; RLS (admins only) still
 * decides what comes back.
 */
create function app_api.invitation_json(p_invitation app_public.invitations) returns json
  language sql stable parallel safe
  set search_path = pg_catalog
  as $$
    select row_to_json(r) from (
      select (p_invitation).id, (p_invitation).email, (p_invitation).role,
             app_api.iso((p_invitation).expires_at) as "expiresAt",
             app_api.iso((p_invitation).created_at) as "createdAt",
             (p_invitation).invited_by as "invitedBy"
    ) r $$;
comment on function app_api.invitation_json(app_public.invitations) is 'A pending invitation as the API shows it (the Invitation schema). Never the token.';
grant execute on function app_api.invitation_json(app_public.invitations) to tenantry_app;

create function app_api.list_invitations(
  p_tenant_id uuid, p_user_id uuid, p_session_id uuid, p_minimum_role app_public.membership_role,
  p_limit integer, p_before_at timestamptz, p_before_id uuid
) returns table (body text, etag text)
  language plpgsql
  set search_path = pg_catalog
  as $$
declare
  v_body text;
begin
  perform app_api.enter(p_tenant_id, p_user_id, p_session_id, p_minimum_role);
  -- Newest first, on invitations_tenant_pending_idx; one row more says there is a next page.
  with page as (
    select i, row_number() over (order by i.created_at desc, i.id desc) as n
    from app_public.invitations i
    where i.tenant_id = p_tenant_id
      and i.accepted_at is null and i.revoked_at is null and i.expires_at > now()
      and (p_before_at is null or (i.created_at, i.id) < (p_before_at, p_before_id))
    order by i.created_at desc, i.id desc
    limit p_limit + 1
  )
  select app_api.page(
           string_agg(app_api.invitation_json(p.i)::text, ',' order by p.n) filter (where p.n <= p_limit),
           (array_agg(json_build_array((p.i).created_at::text, (p.i).id) order by p.n desc) filter (where p.n <= p_limit))[1],
           count(*) > p_limit)
    into v_body from page p;
  return query select v_body, null::text;
end;
$$;
comment on function app_api.list_invitations(uuid, uuid, uuid, app_public.membership_role, integer, timestamptz, uuid) is 'GET /v1/invitations (pending, newest first) in one statement: one page before the cursor (p_before_at, p_before_id).';
grant execute on function app_api.list_invitations(uuid, uuid, uuid, app_public.membership_role, integer, timestamptz, uuid) to tenantry_app;

create function app_api.get_invitation(
  p_tenant_id uuid, p_user_id uuid, p_session_id uuid, p_minimum_role app_public.membership_role, p_id uuid
) returns table (body text, etag text)
  language plpgsql
  set search_path = pg_catalog
  as $$
begin
  perform app_api.enter(p_tenant_id, p_user_id, p_session_id, p_minimum_role);
  return query
    select app_api.invitation_json(i)::text, null::text
    from app_public.invitations i
    where i.tenant_id = p_tenant_id and i.id = p_id
      and i.accepted_at is null and i.revoked_at is null and i.expires_at > now();
end;
$$;
comment on function app_api.get_invitation(uuid, uuid, uuid, app_public.membership_role, uuid) is 'GET /v1/invitations/:id in one statement: the pending invitation as JSON text, or no row (404: unknown, accepted, revoked or expired).';
grant execute on function app_api.get_invitation(uuid, uuid, uuid, app_public.membership_role, uuid) to tenantry_app;

--! split: 2540-activities-after-in-one-statement.sql
/*
 * GET /v1/activities?after=<id> (the gap fill after a reconnect) in one statement. Oldest first
 * in commit order, the order sockets receive events in, and only rows whose transaction is below
 * the snapshot horizon: no row can later commit before the last one returned, so a client that
 * continues from it never skips one (src/activities/position.ts). p_after_id 0 starts at the
 * beginning; an id the caller cannot read (another tenant's, an invitation event below admin)
 * returns no row, which the route answers with 404. The cursor is the last row's id, like
 * `after` itself: a client never sees a position, which counts every tenant's writes.
 */
create function app_api.list_activities_after(
  p_tenant_id uuid, p_user_id uuid, p_session_id uuid, p_minimum_role app_public.membership_role,
  p_limit integer, p_after_id bigint, p_type text
) returns table (body text, etag text)
  language plpgsql
  set search_path = pg_catalog
  as $$
declare
  v_tx xid8 := '0';
  v_seq bigint := 0;
  v_body text;
begin
  perform app_api.enter(p_tenant_id, p_user_id, p_session_id, p_minimum_role);
  if p_after_id > 0 then
    select a.tx, a.seq into v_tx, v_seq
    from app_public.activities a where a.tenant_id = p_tenant_id and a.id = p_after_id;
    if not found then
      return;
    end if;
  end if;
  with page as (
    select a, row_number() over (order by a.tx, a.seq) as n
    from app_public.activities a
    where a.tenant_id = p_tenant_id
      and (a.tx, a.seq) > (v_tx, v_seq)
      and a.tx < pg_snapshot_xmin(pg_current_snapshot())
      and (p_type is null or a.type = p_type)
    order by a.tx, a.seq
    limit p_limit + 1
  )
  select app_api.page(
           string_agg(app_api.activity_json(p.a)::text, ',' order by p.n) filter (where p.n <= p_limit),
           (array_agg(json_build_array((p.a).id) order by p.n desc) filter (where p.n <= p_limit))[1],
           count(*) > p_limit)
    into v_body from page p;
  return query select v_body, null::text;
end;
$$;
comment on function app_api.list_activities_after(uuid, uuid, uuid, app_public.membership_role, integer, bigint, text) is 'GET /v1/activities?after= in one statement: one page of the activities committed after the activity p_after_id (0: from the beginning), oldest first in commit order and below the snapshot horizon, of one type or all; no row when p_after_id is not readable (404).';
grant execute on function app_api.list_activities_after(uuid, uuid, uuid, app_public.membership_role, integer, bigint, text) to tenantry_app;

--! split: 2550-one-user-json.sql
/*
 * A user as the API shows it (the User schema), built in one place: /v1/me and the session
 * answers of sign-in, refresh and switch both use it, as tenant_summary_json serves both for a
 * tenant.
 */
create function app_api.user_json(p_user app_public.users) returns json
  language sql stable parallel safe
  set search_path = pg_catalog
  as $$
    select row_to_json(r) from (
      select (p_user).id, (p_user).email, (p_user).name,
             app_api.iso((p_user).email_verified_at) as "emailVerifiedAt"
    ) r $$;
comment on function app_api.user_json(app_public.users) is 'A user as the API shows it (the User schema): id, email, name, emailVerifiedAt.';
grant execute on function app_api.user_json(app_public.users) to tenantry_app;

create or replace function app_api.me(
  p_tenant_id uuid, p_user_id uuid, p_session_id uuid, p_minimum_role app_public.membership_role
) returns table (body text, etag text)
  language plpgsql
  set search_path = pg_catalog
  as $$
declare
  v_role app_public.membership_role;
begin
  if p_tenant_id is null then
    perform app_private.begin_user_request(p_user_id, p_session_id);
  else
    v_role := app_api.enter(p_tenant_id, p_user_id, p_session_id, p_minimum_role);
  end if;
  return query
    select '{"user":' || (select app_api.user_json(u)::text from app_public.users u where u.id = p_user_id)
        || ',"tenant":' || coalesce(
             (select app_api.tenant_summary_json(t)::text from app_public.tenants t where t.id = p_tenant_id), 'null')
        || ',"role":' || coalesce(to_json(v_role)::text, 'null')
        || ',"memberships":[' || coalesce((
             select string_agg(j.membership, ',' order by m.created_at, m.tenant_id)
             from app_public.memberships m
             join app_public.tenants t on t.id = m.tenant_id
             cross join lateral (
               select row_to_json(r)::text as membership
               from (select app_api.tenant_summary_json(t) as tenant, m.role) r
             ) j
             where m.user_id = p_user_id), '')
        || ']}',
           null::text;
end;
$$;
