--! Previous: sha1:27fac7b68a696e56a16eeace21f1d6af0fe5c514
--! Hash: sha1:487c75c4dbcbe042dedabd020d4b2bcd18e3c3f9
--! Message: Reads in one statement: app_api functions that build the JSON

--! split: 2500-one-statement-reads.sql
/*
 * Reads in one statement (DESIGN.md, "Performance: one round trip per read").
 *
 * Each read route calls one SECURITY INVOKER function of app_api. The function first PERFORMs
 * app_private.begin_request (a definer: it checks the session and membership and sets app.* with
 * set_config(..., true)), then builds the whole response body as JSON text. plpgsql runs its
 * statements in order, so the context is set before any RLS qualifier runs; if begin_request
 * raises, nothing comes back; and set_config's transaction-local settings end with the statement's
 * implicit transaction, so no setting reaches the next request on a pooled connection. The
 * functions keep the caller's rights: RLS still decides every row. Every query also names its
 * tenant (tenant_id = p_tenant_id), so it uses the tenant-leading indexes and, on Citus, routes to
 * one node.
 *
 * JSON shapes follow the OpenAPI document exactly: camelCase keys in schema order (row_to_json
 * of an aliased row), timestamps as JavaScript prints them (UTC, milliseconds, "Z"), bigint ids as
 * numbers. Lists are built with string_agg so the text stays compact (json_agg puts a newline
 * between elements). Cursors are base64url JSON of the last row's sort key, as src/http/cursor.ts
 * decodes them.
 */
create schema app_api;
comment on schema app_api is 'SECURITY INVOKER functions the API calls to read in one statement: each sets the request context, then returns the response body as JSON text. RLS decides every row.';
grant usage on schema app_api to tenantry_app;
alter default privileges in schema app_api revoke all on functions from public;

create function app_api.iso(p_at timestamptz) returns text
  language sql stable parallel safe
  set search_path = pg_catalog
  as $$ select to_char(p_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') $$;
comment on function app_api.iso(timestamptz) is 'A timestamp as the API prints it: ISO 8601 in UTC with milliseconds (truncated, as JavaScript''s Date does).';
grant execute on function app_api.iso(timestamptz) to tenantry_app;

create function app_api.cursor(p_key json) returns text
  language sql immutable parallel safe
  set search_path = pg_catalog
  as $$ select translate(encode(convert_to(p_key::text, 'UTF8'), 'base64'), E'+/=\n', '-_') $$;
comment on function app_api.cursor(json) is 'An opaque page cursor: base64url (no padding) of the JSON sort key of a page''s last row.';
grant execute on function app_api.cursor(json) to tenantry_app;

create function app_api.etag(p_representation text) returns text
  language sql immutable parallel safe
  set search_path = pg_catalog
  as $$ select '"' || left(translate(encode(sha256(convert_to(p_representation, 'UTF8')), 'base64'), E'+/=\n', '-_'), 32) || '"' $$;
comment on function app_api.etag(text) is 'The strong ETag of a representation: base64url SHA-256 of its JSON text, 32 characters, quoted. The one place an ETag is computed.';
grant execute on function app_api.etag(text) to tenantry_app;

create function app_api.enter(
  p_tenant_id uuid, p_user_id uuid, p_session_id uuid, p_minimum_role app_public.membership_role
) returns app_public.membership_role
  language plpgsql
  set search_path = pg_catalog
  as $$
declare
  v_role app_public.membership_role := app_private.begin_request(p_tenant_id, p_user_id, p_session_id);
begin
  if p_minimum_role is not null and v_role < p_minimum_role then
    raise exception 'this requires the % role or higher; you are %', p_minimum_role,
      case when v_role = 'admin' then 'an admin' else 'a ' || v_role end
      using errcode = 'TN403';
  end if;
  return v_role;
end;
$$;
comment on function app_api.enter(uuid, uuid, uuid, app_public.membership_role) is 'The first statement of every app_api read: begin_request, then the route''s minimum role (from memberships, never the token). TN401/TNSUS from begin_request; TN403 below the minimum.';
grant execute on function app_api.enter(uuid, uuid, uuid, app_public.membership_role) to tenantry_app;

-- ---- items -----------------------------------------------------------------------------------

create function app_api.item_json(p_item app_public.items) returns json
  language sql stable parallel safe
  set search_path = pg_catalog
  as $$
    select row_to_json(r) from (
      select (p_item).id, (p_item).name, (p_item).payload,
             app_api.iso((p_item).created_at) as "createdAt", app_api.iso((p_item).updated_at) as "updatedAt",
             (p_item).created_by as "createdBy"
    ) r
  $$;
comment on function app_api.item_json(app_public.items) is 'An item as the API shows it (the Item schema). Reads and writes both answer with it, and its text is what the ETag hashes.';
grant execute on function app_api.item_json(app_public.items) to tenantry_app;

create function app_api.page(p_rows text, p_last_key json, p_more boolean) returns text
  language sql immutable parallel safe
  set search_path = pg_catalog
  as $$
    select '{"data":[' || coalesce(p_rows, '') || '],"nextCursor":'
        || case when p_more then to_json(app_api.cursor(p_last_key))::text else 'null' end || '}'
  $$;
comment on function app_api.page(text, json, boolean) is 'A page as the API shows it: {"data": [rows], "nextCursor": cursor of the last row, or null on the last page}. p_rows: the rows'' JSON, comma-separated.';
grant execute on function app_api.page(text, json, boolean) to tenantry_app;

create function app_api.list_items(
  p_tenant_id uuid, p_user_id uuid, p_session_id uuid, p_minimum_role app_public.membership_role,
  p_limit integer, p_before_at timestamptz, p_before_id uuid, p_payload_budget integer
) returns table (body text, etag text)
  language plpgsql
  set search_path = pg_catalog
  as $$
declare
  v_body text;
begin
  perform app_api.enter(p_tenant_id, p_user_id, p_session_id, p_minimum_role);
  -- Up to p_limit + 1 rows newest first (one more says there is a next page). A page also stops
  -- before the first row whose payloads would pass p_payload_budget (the first row always fits):
  -- that row, never served, also says there is a next page, and the database never reads much
  -- more than one budget of payloads. Two statements rather than one with "p_before_at is null
  -- or ...": each keeps a plan that seeks the (tenant_id, created_at, id) index.
  if p_before_at is null then
    with candidates as (
      select i, row_number() over newest_first as n,
             sum(octet_length(i.payload::text)) over newest_first - octet_length(i.payload::text) as bytes_before
      from app_public.items i
      where i.tenant_id = p_tenant_id
      window newest_first as (order by i.created_at desc, i.id desc rows unbounded preceding)
      order by i.created_at desc, i.id desc
      limit p_limit + 1
    ), marked as (
      select c.*, c.n <= p_limit and (c.n = 1 or c.bytes_before < p_payload_budget) as served from candidates c
    )
    select app_api.page(
             string_agg(app_api.item_json(m.i)::text, ',' order by m.n) filter (where m.served),
             (array_agg(json_build_array((m.i).created_at::text, (m.i).id) order by m.n desc) filter (where m.served))[1],
             bool_or(not m.served))
      into v_body from marked m;
  else
    with candidates as (
      select i, row_number() over newest_first as n,
             sum(octet_length(i.payload::text)) over newest_first - octet_length(i.payload::text) as bytes_before
      from app_public.items i
      where i.tenant_id = p_tenant_id and (i.created_at, i.id) < (p_before_at, p_before_id)
      window newest_first as (order by i.created_at desc, i.id desc rows unbounded preceding)
      order by i.created_at desc, i.id desc
      limit p_limit + 1
    ), marked as (
      select c.*, c.n <= p_limit and (c.n = 1 or c.bytes_before < p_payload_budget) as served from candidates c
    )
    select app_api.page(
             string_agg(app_api.item_json(m.i)::text, ',' order by m.n) filter (where m.served),
             (array_agg(json_build_array((m.i).created_at::text, (m.i).id) order by m.n desc) filter (where m.served))[1],
             bool_or(not m.served))
      into v_body from marked m;
  end if;
  return query select v_body, null::text;
end;
$$;
comment on function app_api.list_items(uuid, uuid, uuid, app_public.membership_role, integer, timestamptz, uuid, integer) is 'GET /v1/items in one statement: one page of items newest first, after the cursor (p_before_at, p_before_id), stopping before p_payload_budget bytes of payloads.';
grant execute on function app_api.list_items(uuid, uuid, uuid, app_public.membership_role, integer, timestamptz, uuid, integer) to tenantry_app;

create function app_api.get_item(
  p_tenant_id uuid, p_user_id uuid, p_session_id uuid, p_minimum_role app_public.membership_role, p_id uuid
) returns table (body text, etag text)
  language plpgsql
  set search_path = pg_catalog
  as $$
begin
  perform app_api.enter(p_tenant_id, p_user_id, p_session_id, p_minimum_role);
  return query
    select j.body, app_api.etag(j.body)
    from app_public.items i, lateral (select app_api.item_json(i)::text as body) j
    where i.tenant_id = p_tenant_id and i.id = p_id;
end;
$$;
comment on function app_api.get_item(uuid, uuid, uuid, app_public.membership_role, uuid) is 'GET /v1/items/:id in one statement: the item as JSON text and its ETag, or no row when the caller cannot see it (404).';
grant execute on function app_api.get_item(uuid, uuid, uuid, app_public.membership_role, uuid) to tenantry_app;

-- ---- tenant ----------------------------------------------------------------------------------

create function app_api.tenant_json(p_tenant_id uuid, p_requests_used integer, p_reset_seconds integer) returns json
  language sql stable
  set search_path = pg_catalog
  as $$
    select row_to_json(r) from (
      select t.id, t.slug, t.name, t.plan, p.member_limit as "memberLimit", c.members as "memberCount",
             app_api.iso(t.created_at) as "createdAt",
             (select row_to_json(u) from (select
                (select row_to_json(x) from (select c.members as used, c.pending as "pendingInvitations",
                                                    p.member_limit as "limit") x) as members,
                (select row_to_json(x) from (select c.items as used, p.item_limit as "limit") x) as items,
                (select row_to_json(x) from (select p.item_payload_bytes as "limit") x) as "itemPayloadBytes",
                (select row_to_json(x) from (select p_requests_used as used, p.requests_per_minute as "limit",
                                                    p_reset_seconds as "resetSeconds") x) as "requestsPerMinute"
              ) u) as usage
      from app_public.tenants t
      join app_public.plans p on p.id = t.plan
      cross join lateral (select
        (select count(*) from app_public.memberships m where m.tenant_id = t.id)::int as members,
        -- Admins only: invitations are invisible to other roles under RLS, so they see 0.
        (select count(*) from app_public.invitations i
         where i.tenant_id = t.id and i.accepted_at is null and i.revoked_at is null and i.expires_at > now())::int as pending,
        (select count(*) from app_public.items i where i.tenant_id = t.id)::int as items) c
      where t.id = p_tenant_id
    ) r
  $$;
comment on function app_api.tenant_json(uuid, integer, integer) is 'A tenant as the API shows it (the Tenant schema), with its usage against every limit of its plan. This minute''s request count comes from the rate limiter (p_requests_used, p_reset_seconds); the ETag hashes the text built with 0, 0, so it changes with any field but that count.';
grant execute on function app_api.tenant_json(uuid, integer, integer) to tenantry_app;

create function app_api.get_tenant(
  p_tenant_id uuid, p_user_id uuid, p_session_id uuid, p_minimum_role app_public.membership_role,
  p_requests_used integer, p_reset_seconds integer
) returns table (body text, etag text)
  language plpgsql
  set search_path = pg_catalog
  as $$
begin
  perform app_api.enter(p_tenant_id, p_user_id, p_session_id, p_minimum_role);
  return query
    select app_api.tenant_json(p_tenant_id, p_requests_used, p_reset_seconds)::text,
           app_api.etag(app_api.tenant_json(p_tenant_id, 0, 0)::text)
    where exists (select from app_public.tenants t where t.id = p_tenant_id);
end;
$$;
comment on function app_api.get_tenant(uuid, uuid, uuid, app_public.membership_role, integer, integer) is 'GET /v1/tenant in one statement: the current tenant as JSON text and its ETag.';
grant execute on function app_api.get_tenant(uuid, uuid, uuid, app_public.membership_role, integer, integer) to tenantry_app;

-- ---- activities ------------------------------------------------------------------------------

create function app_api.activity_json(p_activity app_public.activities) returns json
  language sql stable parallel safe
  set search_path = pg_catalog
  as $$
    select row_to_json(r) from (
      select (p_activity).id, (p_activity).type, (p_activity).tenant_id as "tenantId", (p_activity).actor_id as actor,
             (p_activity).target, (p_activity).payload, app_api.iso((p_activity).created_at) as "createdAt"
    ) r
  $$;
comment on function app_api.activity_json(app_public.activities) is 'An activity as the API shows it (the Activity schema).';
grant execute on function app_api.activity_json(app_public.activities) to tenantry_app;

create function app_api.list_activities(
  p_tenant_id uuid, p_user_id uuid, p_session_id uuid, p_minimum_role app_public.membership_role,
  p_limit integer, p_before_id bigint, p_type text
) returns table (body text, etag text)
  language plpgsql
  set search_path = pg_catalog
  as $$
declare
  v_body text;
begin
  perform app_api.enter(p_tenant_id, p_user_id, p_session_id, p_minimum_role);
  -- Newest first by id (ids are per tenant, so the cursor is the last id). The select policy
  -- hides invitation events from roles below admin.
  with page as (
    select a, row_number() over (order by a.id desc) as n
    from app_public.activities a
    where a.tenant_id = p_tenant_id
      and (p_before_id is null or a.id < p_before_id)
      and (p_type is null or a.type = p_type)
    order by a.id desc
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
comment on function app_api.list_activities(uuid, uuid, uuid, app_public.membership_role, integer, bigint, text) is 'GET /v1/activities (newest first) in one statement: one page before the activity id p_before_id, of one type or all.';
grant execute on function app_api.list_activities(uuid, uuid, uuid, app_public.membership_role, integer, bigint, text) to tenantry_app;

create function app_api.get_activity(
  p_tenant_id uuid, p_user_id uuid, p_session_id uuid, p_minimum_role app_public.membership_role, p_id bigint
) returns table (body text, etag text)
  language plpgsql
  set search_path = pg_catalog
  as $$
begin
  perform app_api.enter(p_tenant_id, p_user_id, p_session_id, p_minimum_role);
  return query
    select app_api.activity_json(a)::text, null::text
    from app_public.activities a where a.tenant_id = p_tenant_id and a.id = p_id;
end;
$$;
comment on function app_api.get_activity(uuid, uuid, uuid, app_public.membership_role, bigint) is 'GET /v1/activities/:id in one statement: the activity as JSON text (activities carry no ETag), or no row (404).';
grant execute on function app_api.get_activity(uuid, uuid, uuid, app_public.membership_role, bigint) to tenantry_app;

-- ---- members ---------------------------------------------------------------------------------

create function app_api.list_members(
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
    cross join lateral (select m.user_id as "userId", u.email, u.name, m.role,
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
comment on function app_api.list_members(uuid, uuid, uuid, app_public.membership_role, integer, timestamptz, uuid) is 'GET /v1/members (oldest first) in one statement: one page after the cursor (p_after_at, p_after_id).';
grant execute on function app_api.list_members(uuid, uuid, uuid, app_public.membership_role, integer, timestamptz, uuid) to tenantry_app;
