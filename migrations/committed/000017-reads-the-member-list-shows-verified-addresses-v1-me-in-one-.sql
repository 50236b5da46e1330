--! Previous: sha1:74124001eb7a1bef2bc84a13c973cf91acd8abcd
--! Hash: sha1:115441ebf3c4decc65145baffbb60e8742377eac
--! Message: Reads: the member list shows verified addresses, /v1/me in one statement

--! split: 2510-members-show-verified-addresses.sql
/*
 * The member list shows when each member proved their address (users.email_verified_at, from
 * the email migration), as the Member schema now says: null for an address never confirmed.
 */
create or replace function app_api.list_members(
  p_tenant_id uuid, p_user_id uuid, p_session_id uuid, p_minimum_role app_public.membership_role,
  p_limit integer, p_after_at timestamptz, p_after_id uuid
) returns table (body text, etag text)
  language plpgsql
  set search_path = pg_catalog
  as $$
declare
  v_body text;
begin
  perform app_api.enter(p_tenant_id, p_user_id, p_session_id, p_minimum_role);
  -- Oldest member first. The tenant predicate is needed here, not only for routing: the
  -- memberships select policy also shows the caller's own memberships in other tenants.
  with page as (
    select row_to_json(r)::text as member, r."joinedAt", m.created_at, m.user_id,
           row_number() over (order by m.created_at, m.user_id) as n
    from app_public.memberships m
    join app_public.users u on u.id = m.user_id
    cross join lateral (select m.user_id as "userId", u.email, u.name,
                               app_api.iso(u.email_verified_at) as "emailVerifiedAt", m.role,
                               app_api.iso(m.created_at) as "joinedAt") r
    where m.tenant_id = p_tenant_id
      and (p_after_at is null or (m.created_at, m.user_id) > (p_after_at, p_after_id))
    order by m.created_at, m.user_id
    limit p_limit + 1
  )
  select app_api.page(
           string_agg(p.member, ',' order by p.n) filter (where p.n <= p_limit),
           (array_agg(json_build_array(p.created_at::text, p.user_id) order by p.n desc) filter (where p.n <= p_limit))[1],
           count(*) > p_limit)
    into v_body from page p;
  return query select v_body, null::text;
end;
$$;

--! split: 2520-me-in-one-statement.sql
/*
 * GET /v1/me in one statement, like the other reads: with a tenant token the context is set by
 * app_api.enter (begin_request); with a tenantless one by begin_user_request, which sets
 * app.user_id only, so tenant policies match nothing. The body is the Me schema: the user, the
 * current tenant and role (null when tenantless), and every membership, oldest first.
 */
create function app_api.tenant_summary_json(p_tenant app_public.tenants) returns json
  language sql stable parallel safe
  set search_path = pg_catalog
  as $$ select row_to_json(r) from (select (p_tenant).id, (p_tenant).slug, (p_tenant).name, (p_tenant).plan) r $$;
comment on function app_api.tenant_summary_json(app_public.tenants) is 'A tenant as /v1/me lists it (the TenantSummary schema): id, slug, name, plan.';
grant execute on function app_api.tenant_summary_json(app_public.tenants) to tenantry_app;

create function app_api.me(
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
    select '{"user":' || (
             select row_to_json(r)::text from (
               select u.id, u.email, u.name, app_api.iso(u.email_verified_at) as "emailVerifiedAt"
               from app_public.users u where u.id = p_user_id
             ) r)
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
comment on function app_api.me(uuid, uuid, uuid, app_public.membership_role) is 'GET /v1/me in one statement: you, the current tenant and role (null with a tenantless token, p_tenant_id null), and all your memberships.';
grant execute on function app_api.me(uuid, uuid, uuid, app_public.membership_role) to tenantry_app;
