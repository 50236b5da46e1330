--! Previous: sha1:12d86df403d0f08aa503b26caae07fb19702cfa1
--! Hash: sha1:1ea69beca92980917449ac0c7877060e10cb094f
--! Message: identity and realtime: one session rule, positions-only bridge

--! split: 2100-session-standing.sql
/*
 * 2100 — identity: "may this session still be here" is written once.
 *
 * begin_request (every request, every socket read) and realtime_check_sessions (the hub's
 * periodic re-check of all its sockets) each spelled the rule out. Both now read
 * app_private.session_standing, which also carries the SQLSTATE and message of the refusal, so
 * TypeScript maps TN401/TNSUS in one place (src/db/errors.ts).
 *
 * session_standing is plain SQL, SECURITY INVOKER and not executable by PUBLIC: only the
 * SECURITY DEFINER functions below (owned by the same owner) run it, and the planner inlines it
 * into their queries.
 */
create function app_private.session_standing(p_session_ids uuid[])
  returns table (
    session_id uuid,
    user_id uuid,
    tenant_id uuid,
    role app_public.membership_role,
    refusal text,
    message text
  )
  language sql stable
as $$
  select ids.id,
         s.user_id,
         s.tenant_id,
         case when t.suspended_at is null then m.role end,
         case
           when m.role is null then 'TN401'
           when t.suspended_at is not null then 'TNSUS'
         end,
         case
           when m.role is null then 'no active session and membership for this tenant'
           when t.suspended_at is not null then 'this tenant is suspended'
         end
  from pg_catalog.unnest(p_session_ids) as ids (id)
  left join app_private.sessions s on s.id = ids.id and s.revoked_at is null
  left join app_public.memberships m on m.tenant_id = s.tenant_id and m.user_id = s.user_id
  left join app_public.tenants t on t.id = m.tenant_id
$$;
revoke execute on function app_private.session_standing(uuid[]) from public;
comment on function app_private.session_standing(uuid[]) is
  E'The one rule for "may this session still be here": for each session id, its user and tenant, the member role, or the refusal (SQLSTATE TN401: no live session or membership; TNSUS: tenant suspended) and its message. Read by begin_request and realtime_check_sessions only.';

create or replace function app_private.begin_request(p_tenant_id uuid, p_user_id uuid, p_session_id uuid)
  returns app_public.membership_role
  language plpgsql
  security definer
  set search_path = pg_catalog, pg_temp
as $$
declare
  v_standing record;
begin
  select s.role, s.refusal, s.message into v_standing
  from app_private.session_standing(array[p_session_id]) as s
  where s.user_id = p_user_id and s.tenant_id = p_tenant_id;
  if not found then
    raise exception 'no active session and membership for this tenant' using errcode = 'TN401';
  end if;
  if v_standing.refusal is not null then
    raise exception '%', v_standing.message using errcode = v_standing.refusal;
  end if;
  perform pg_catalog.set_config('app.tenant_id', p_tenant_id::text, true),
          pg_catalog.set_config('app.user_id', p_user_id::text, true),
          pg_catalog.set_config('app.role', v_standing.role::text, true);
  return v_standing.role;
end;
$$;
comment on function app_private.begin_request(uuid, uuid, uuid) is
  E'Sets app.tenant_id, app.user_id and app.role (from memberships) for the current transaction, after app_private.session_standing. TN401: no live session or membership; TNSUS: tenant suspended.';

drop function app_private.realtime_check_sessions(uuid[]);
create function app_private.realtime_check_sessions(p_session_ids uuid[])
  returns table (session_id uuid, role app_public.membership_role, refusal text, message text)
  language sql stable
  security definer
  set search_path = pg_catalog, pg_temp
as $$
  select s.session_id, s.role, s.refusal, s.message from app_private.session_standing(p_session_ids) as s
$$;
revoke execute on function app_private.realtime_check_sessions(uuid[]) from public;
grant execute on function app_private.realtime_check_sessions(uuid[]) to tenantry_app;
comment on function app_private.realtime_check_sessions(uuid[]) is
  E'Realtime bridge: app_private.session_standing for the sockets of one instance (one round trip): the role, or the refusal begin_request would raise (SQLSTATE and message).';

--! split: 3600-realtime-committed-positions.sql
/*
 * 3600 — realtime: the bridge reads positions only, and no sentinel row.
 *
 * realtime_committed_after returned a row of NULLs carrying the horizon when nothing was new,
 * plus type and horizon columns nobody read (the hub takes its starting horizon from its own
 * query). It now returns exactly the positions: tenant, tx, seq, none of them NULL.
 */
drop function app_private.realtime_committed_after(xid8, bigint, integer);
create function app_private.realtime_committed_after(p_tx xid8, p_seq bigint, p_limit integer)
  returns table (tenant_id uuid, tx xid8, seq bigint)
  language sql stable
  security definer
  set search_path = pg_catalog, pg_temp
as $$
  select a.tenant_id, a.tx, a.seq
  from app_public.activities a
  where (a.tx, a.seq) > (p_tx, p_seq)
    and a.tx < pg_catalog.pg_snapshot_xmin(pg_catalog.pg_current_snapshot())
  order by a.tx, a.seq
  limit least(greatest(p_limit, 1), 10000)
$$;
revoke execute on function app_private.realtime_committed_after(xid8, bigint, integer) from public;
grant execute on function app_private.realtime_committed_after(xid8, bigint, integer) to tenantry_app;
comment on function app_private.realtime_committed_after(xid8, bigint, integer) is
  E'Realtime bridge: positions (tenant, tx, seq; no content) of activities committed after (p_tx, p_seq) and below the snapshot horizon, in commit order; no rows when there are none.';
