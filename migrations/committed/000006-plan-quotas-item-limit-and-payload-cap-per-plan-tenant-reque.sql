--! Previous: sha1:f2b41c1c52262b796189ae2f8af79deaef24589d
--! Hash: sha1:b9f85e66821b396dd775d64046b11552a624f4ab
--! Message: plan quotas: item limit and payload cap per plan, tenant request rate

/*
 * 3500 — plan quotas for items, and the plan's request rate for the API's rate limiter.
 *
 * Like the member limit, the item quota lives in `plans` and is enforced by a trigger that
 * locks the tenant row first: parallel creates of one tenant then run one after another, and
 * the count taken after the lock (a fresh READ COMMITTED snapshot) includes every insert
 * committed before it, so no race passes the quota. The lock is FOR NO KEY UPDATE: it
 * serialises item inserts and plan changes of the tenant, but not the foreign-key checks
 * (FOR KEY SHARE) of every other insert that references the tenant.
 *
 * The payload cap is a plan limit too (a per-row bound on what one tenant can make the
 * database and every list page carry); the table's own check (64 KiB) stays as the ceiling.
 */
alter table app_public.plans
  add column item_limit integer check (item_limit > 0),
  add column item_payload_bytes integer not null default 16384
    check (item_payload_bytes between 1 and 65536);

update app_public.plans set item_limit = 100, item_payload_bytes = 16384 where id = 'free';
update app_public.plans set item_limit = 10000, item_payload_bytes = 16384 where id = 'pro';
update app_public.plans set item_limit = null, item_payload_bytes = 65536 where id = 'enterprise';

comment on column app_public.plans.item_limit is E'Maximum items per tenant; NULL means unlimited. Enforced by a trigger on items.';
comment on column app_public.plans.item_payload_bytes is E'Maximum size of one item''s payload (its JSON text, in bytes). Enforced by a trigger on items.';
comment on column app_public.plans.requests_per_minute is E'API requests per minute per tenant, counted by the API''s rate limiter (read through app_private.tenant_requests_per_minute).';

create function app_private.tg_items__enforce_plan_quota() returns trigger
  language plpgsql volatile security definer
  set search_path to pg_catalog, pg_temp
as $$
declare
  v_plan record;
  v_items bigint;
  v_bytes integer;
begin
  if tg_op = 'INSERT' then
    -- Lock first, read after (see lock_tenant_member_limit for why not one joined statement).
    perform 1 from app_public.tenants t where t.id = new.tenant_id for no key update;
  end if;
  select p.id, p.item_limit, p.item_payload_bytes into v_plan
  from app_public.tenants t join app_public.plans p on p.id = t.plan
  where t.id = new.tenant_id;
  v_bytes := pg_catalog.octet_length(new.payload::text);
  if v_bytes > v_plan.item_payload_bytes then
    raise exception 'the % plan allows item payloads of at most % bytes; this one has %',
      v_plan.id, v_plan.item_payload_bytes, v_bytes
      using errcode = 'TNPLM';
  end if;
  if tg_op = 'INSERT' and v_plan.item_limit is not null then
    select count(*) into v_items from app_public.items i where i.tenant_id = new.tenant_id;
    if v_items >= v_plan.item_limit then
      raise exception 'the % plan allows at most % items', v_plan.id, v_plan.item_limit
        using errcode = 'TNPLM';
    end if;
  end if;
  return new;
end;
$$;
comment on function app_private.tg_items__enforce_plan_quota() is E'Trigger: a new item must fit the plan''s item limit, and every payload its item_payload_bytes (SQLSTATE TNPLM). Inserts are serialised per tenant by a row lock.';

create trigger _500_enforce_plan_quota before insert or update of payload on app_public.items
  for each row execute procedure app_private.tg_items__enforce_plan_quota();

-- A plan change must fit what the tenant already has: members (as before) and now items.
create or replace function app_private.tg_tenants__enforce_plan_fits() returns trigger
  language plpgsql volatile security definer
  set search_path to pg_catalog, pg_temp
as $$
declare
  v_plan record;
  v_members bigint;
  v_items bigint;
begin
  perform 1 from app_public.tenants t where t.id = new.id for update;
  select p.member_limit, p.item_limit into v_plan from app_public.plans p where p.id = new.plan;
  select count(*) into v_members from app_public.memberships m where m.tenant_id = new.id;
  if v_plan.member_limit is not null and v_members > v_plan.member_limit then
    raise exception 'the % plan allows % members; this tenant has %', new.plan, v_plan.member_limit, v_members
      using errcode = 'TNPLM';
  end if;
  if v_plan.item_limit is not null then
    select count(*) into v_items from app_public.items i where i.tenant_id = new.id;
    if v_items > v_plan.item_limit then
      raise exception 'the % plan allows % items; this tenant has %', new.plan, v_plan.item_limit, v_items
        using errcode = 'TNPLM';
    end if;
  end if;
  return new;
end;
$$;
comment on function app_private.tg_tenants__enforce_plan_fits() is E'Trigger: no plan change below the current member or item count (SQLSTATE TNPLM).';

/*
 * The rate limiter counts a tenant's requests after verifying the access token and before the
 * request opens a transaction, so it has no request context to read `plans` under RLS. This
 * returns one number for a tenant id, nothing else.
 */
create function app_private.tenant_requests_per_minute(p_tenant_id uuid) returns integer
  language sql stable security definer
  set search_path to pg_catalog, pg_temp
as $$
  select p.requests_per_minute
  from app_public.tenants t join app_public.plans p on p.id = t.plan
  where t.id = p_tenant_id
$$;
comment on function app_private.tenant_requests_per_minute(uuid) is E'The request rate of a tenant''s plan (per minute), for the API''s rate limiter; NULL for an unknown tenant.';
grant execute on function app_private.tenant_requests_per_minute(uuid) to tenantry_app;
