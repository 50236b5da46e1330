--! Previous: sha1:ccbcbdd81f0c450aaf0794708c8f0b834f3294ee
--! Hash: sha1:5ed62252589c52e0c2dcfcfce68547e00d3e5461
--! Message: Webhooks: a plan caps a tenant's endpoints

--! split: 4110-webhook-endpoint-plan-limit.sql
/*
 * A plan caps a tenant's webhook endpoints. Every activity of a listed type is POSTed once per
 * endpoint, so without a cap one free tenant could register thousands of endpoints at one URL
 * and turn each of its writes into thousands of outbound requests. Race-proof like the API key
 * quota: parallel creations of one tenant wait on its row, then count.
 */
alter table app_public.plans add column webhook_endpoint_limit integer check (webhook_endpoint_limit > 0);
update app_public.plans set webhook_endpoint_limit = 5 where id = 'free';
update app_public.plans set webhook_endpoint_limit = 50 where id = 'pro';
update app_public.plans set webhook_endpoint_limit = null where id = 'enterprise';
comment on column app_public.plans.webhook_endpoint_limit is E'Maximum webhook endpoints per tenant (enabled or not); NULL means unlimited. Enforced by a trigger on webhook_endpoints.';

create function app_private.tg_webhook_endpoints__enforce_plan_quota() returns trigger
  language plpgsql volatile security definer
  set search_path to pg_catalog, pg_temp
as $$
declare
  v_plan record;
  v_count bigint;
begin
  perform 1 from app_public.tenants t where t.id = new.tenant_id for no key update;
  select p.id, p.webhook_endpoint_limit into v_plan
  from app_public.tenants t join app_public.plans p on p.id = t.plan
  where t.id = new.tenant_id;
  if v_plan.webhook_endpoint_limit is not null then
    select count(*) into v_count from app_public.webhook_endpoints e where e.tenant_id = new.tenant_id;
    if v_count >= v_plan.webhook_endpoint_limit then
      raise exception 'the % plan allows at most % webhook endpoints', v_plan.id, v_plan.webhook_endpoint_limit
        using errcode = 'TNPLM';
    end if;
  end if;
  return new;
end;
$$;
revoke execute on function app_private.tg_webhook_endpoints__enforce_plan_quota() from public;
comment on function app_private.tg_webhook_endpoints__enforce_plan_quota() is E'Trigger: a new webhook endpoint must fit the plan''s webhook_endpoint_limit (SQLSTATE TNPLM). Inserts are serialised per tenant by a row lock.';

create trigger _500_enforce_plan_quota before insert on app_public.webhook_endpoints
  for each row execute procedure app_private.tg_webhook_endpoints__enforce_plan_quota();
