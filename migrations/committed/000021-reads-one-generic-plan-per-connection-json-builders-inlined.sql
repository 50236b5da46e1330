--! Previous: sha1:f215274697e5b0c82dc2462c5ea97d86da2e790f
--! Hash: sha1:ccbcbdd81f0c450aaf0794708c8f0b834f3294ee
--! Message: Reads: one generic plan per connection, JSON builders inlined

--! split: 2560-json-builders-inlined-generic-plans.sql
/*
 * The read path's cost in PostgreSQL (issue 20), measured with pgbench on PostgreSQL 18, one
 * client, GET /v1/items' call (app_api.list_items, 20 items): 0.72 ms a call.
 *
 * 1. Every call was planned afresh: with `limit p_limit + 1` the plan cache prices a generic plan
 *    above the custom ones and keeps re-planning (0.24 ms a call). The reads whose predicates
 *    all seek an index with parameters now use one generic plan per connection
 *    (plan_cache_mode = force_generic_plan: 0.72 → 0.49 ms). Not list_activities, list_members
 *    or list_invitations: their "p_x is null or ..." predicates only seek an index in a custom
 *    plan, and a generic one would read a tenant's rows from the newest down to the cursor.
 * 2. The per-row JSON builders ran as SQL functions, not inlined: a SET clause (the pinned
 *    search_path) forbids inlining, and row_to_json over a subquery has a FROM. They are now
 *    SQL-standard bodies (BEGIN ATOMIC: names are bound when the function is created, so the
 *    caller's search_path cannot redirect them, and no SET is needed) over a composite type per
 *    representation, whose field names and order are the API's: the JSON text is byte for byte
 *    what it was, so ETags do not change (0.40 → 0.26 ms for the items query and its JSON).
 *    postgres-language-server.jsonc lists them beside the request-context helpers, which carry
 *    no SET for the same reason.
 */
create type app_api.item as (id uuid, name text, payload jsonb, "createdAt" text, "updatedAt" text, "createdBy" uuid);
comment on type app_api.item is 'The Item schema''s fields, in order: app_api.item_json builds its JSON from this type.';
create type app_api.activity as (
  id bigint, type text, "tenantId" uuid, actor uuid, "actorApiKey" uuid, target text, payload jsonb, "createdAt" text
);
comment on type app_api.activity is 'The Activity schema''s fields, in order: app_api.activity_json builds its JSON from this type.';
create type app_api.invitation as (
  id uuid, email text, role app_public.membership_role, "expiresAt" text, "createdAt" text, "invitedBy" uuid
);
comment on type app_api.invitation is 'The Invitation schema''s fields, in order: app_api.invitation_json builds its JSON from this type.';
create type app_api.user_fields as (id uuid, email text, name text, "emailVerifiedAt" text);
comment on type app_api.user_fields is 'The User schema''s fields, in order: app_api.user_json builds its JSON from this type.';
create type app_api.tenant_summary as (id uuid, slug text, name text, plan text);
comment on type app_api.tenant_summary is 'The TenantSummary schema''s fields, in order: app_api.tenant_summary_json builds its JSON from this type.';

create or replace function app_api.iso(p_at timestamptz) returns text
  language sql stable parallel safe
begin atomic
  select to_char(p_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"');
end;

create or replace function app_api.item_json(p_item app_public.items) returns json
  language sql stable parallel safe
begin atomic
  select row_to_json(row((p_item).id, (p_item).name, (p_item).payload, app_api.iso((p_item).created_at),
                                    app_api.iso((p_item).updated_at), (p_item).created_by)::app_api.item);
end;

create or replace function app_api.activity_json(p_activity app_public.activities) returns json
  language sql stable parallel safe
begin atomic
  select row_to_json(row((p_activity).id, (p_activity).type, (p_activity).tenant_id, (p_activity).actor_id,
                                    (p_activity).actor_api_key_id, (p_activity).target, (p_activity).payload,
                                    app_api.iso((p_activity).created_at))::app_api.activity);
end;

create or replace function app_api.invitation_json(p_invitation app_public.invitations) returns json
  language sql stable parallel safe
begin atomic
  select row_to_json(row((p_invitation).id, (p_invitation).email, (p_invitation).role,
                                    app_api.iso((p_invitation).expires_at), app_api.iso((p_invitation).created_at),
                                    (p_invitation).invited_by)::app_api.invitation);
end;

create or replace function app_api.user_json(p_user app_public.users) returns json
  language sql stable parallel safe
begin atomic
  select row_to_json(row((p_user).id, (p_user).email, (p_user).name,
                                    app_api.iso((p_user).email_verified_at))::app_api.user_fields);
end;

create or replace function app_api.tenant_summary_json(p_tenant app_public.tenants) returns json
  language sql stable parallel safe
begin atomic
  select row_to_json(row((p_tenant).id, (p_tenant).slug, (p_tenant).name, (p_tenant).plan)::app_api.tenant_summary);
end;

alter function app_api.list_items(uuid, uuid, uuid, app_public.membership_role, integer, timestamptz, uuid, integer)
  set plan_cache_mode = force_generic_plan;
alter function app_api.get_item(uuid, uuid, uuid, app_public.membership_role, uuid) set plan_cache_mode = force_generic_plan;
alter function app_api.get_activity(uuid, uuid, uuid, app_public.membership_role, bigint) set plan_cache_mode = force_generic_plan;
alter function app_api.get_invitation(uuid, uuid, uuid, app_public.membership_role, uuid) set plan_cache_mode = force_generic_plan;
alter function app_api.list_activities_after(uuid, uuid, uuid, app_public.membership_role, integer, bigint, text)
  set plan_cache_mode = force_generic_plan;
