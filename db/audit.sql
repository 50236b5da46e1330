/*
 * app_audit — read-only catalog views for DBAs: who may do what, under which policy, through
 * which SECURITY DEFINER function.
 *
 * Not a migration: applied as the owner role after every migrate (graphile-migrate
 * `afterAllMigrations`, src/db/bootstrap.ts `migrate()`) and again by `npm run db:audit`, so the
 * views always match the catalog of the PostgreSQL that runs them. Idempotent: every view is
 * dropped and recreated (CREATE OR REPLACE VIEW cannot rename or reorder columns), all in one
 * implicit transaction. A DBA object built on top of these views makes the drop fail loudly
 * rather than disappear (no CASCADE).
 *
 * The views are SECURITY INVOKER (PostgreSQL 15+): a DBA reads the catalog with their own
 * privileges, never the owner's. Nothing here is granted to tenantry_app: the API role has no
 * USAGE on app_audit.
 *
 * `app_audit.rule_violations` is the list of catalog rules this project promises (RLS forced on
 * every app_public table, a policy per granted command, a plain API role, pinned definer
 * functions...). It must be empty: `npm run db:audit` and test/db/catalog-rules.test.ts fail otherwise.
 */

drop view if exists app_audit.mail_queue;
drop view if exists app_audit.rule_violations;
drop view if exists app_audit.table_security;
drop view if exists app_audit.policies;
drop view if exists app_audit.api_role_grants;
drop view if exists app_audit.definer_functions;
drop view if exists app_audit.api_role;

/*
 * Every table of app_public and app_private: RLS switches, and per command the policies that
 * apply to it and whether tenantry_app holds the privilege (on the table or on any column).
 */
create view app_audit.table_security with (security_invoker = true) as
with api as (
  select r.oid from pg_catalog.pg_roles r where r.rolname = 'tenantry_app'
)
select
  n.nspname as schema_name,
  c.relname as table_name,
  pg_catalog.pg_get_userbyid(c.relowner) as owner,
  c.relrowsecurity as rls_enabled,
  c.relforcerowsecurity as rls_forced,
  array(select p.polname::text from pg_catalog.pg_policy p
        where p.polrelid = c.oid and p.polcmd in ('r', '*') order by 1) as select_policies,
  pg_catalog.has_any_column_privilege(api.oid, c.oid, 'SELECT') as select_granted,
  array(select p.polname::text from pg_catalog.pg_policy p
        where p.polrelid = c.oid and p.polcmd in ('a', '*') order by 1) as insert_policies,
  pg_catalog.has_any_column_privilege(api.oid, c.oid, 'INSERT') as insert_granted,
  array(select p.polname::text from pg_catalog.pg_policy p
        where p.polrelid = c.oid and p.polcmd in ('w', '*') order by 1) as update_policies,
  pg_catalog.has_any_column_privilege(api.oid, c.oid, 'UPDATE') as update_granted,
  array(select p.polname::text from pg_catalog.pg_policy p
        where p.polrelid = c.oid and p.polcmd in ('d', '*') order by 1) as delete_policies,
  pg_catalog.has_table_privilege(api.oid, c.oid, 'DELETE') as delete_granted
from pg_catalog.pg_class c
join pg_catalog.pg_namespace n on n.oid = c.relnamespace
left join api on true
where n.nspname in ('app_public', 'app_private')
  and c.relkind in ('r', 'p')
order by 1, 2;

comment on view app_audit.table_security is E'Every table in app_public and app_private: RLS enabled/forced, and per command (select, insert, update, delete) the policies that cover it (FOR ALL policies count for every command) and whether tenantry_app holds that privilege on the table or on any of its columns. Rule: in app_public, a command is granted exactly when a policy covers it.';

/*
 * Every policy, as the planner sees it (pg_get_expr), with the intent stated in the catalog
 * (`comment on policy`), if any.
 */
create view app_audit.policies with (security_invoker = true) as
select
  n.nspname as schema_name,
  c.relname as table_name,
  p.polname as policy_name,
  case p.polcmd when 'r' then 'select' when 'a' then 'insert' when 'w' then 'update'
                when 'd' then 'delete' else 'all' end as command,
  array(select case when r.role = 0 then 'public' else pg_catalog.pg_get_userbyid(r.role)::text end
        from pg_catalog.unnest(p.polroles) as r(role) order by 1) as roles,
  case when p.polpermissive then 'permissive' else 'restrictive' end as kind,
  pg_catalog.pg_get_expr(p.polqual, p.polrelid) as using_expression,
  pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid) as with_check_expression,
  pg_catalog.obj_description(p.oid, 'pg_policy') as intent
from pg_catalog.pg_policy p
join pg_catalog.pg_class c on c.oid = p.polrelid
join pg_catalog.pg_namespace n on n.oid = c.relnamespace
order by 1, 2, 4, 3;

comment on view app_audit.policies is E'Every row-level security policy: command, roles (public = every role), permissive or restrictive, the USING and WITH CHECK expressions as PostgreSQL stores them, and the intent from COMMENT ON POLICY when there is one.';

/*
 * Every privilege tenantry_app holds outside the system schemas, one row each: granted to it by
 * name or to PUBLIC (which every role holds). A NULL ACL means the built-in default
 * (acldefault), e.g. EXECUTE for PUBLIC on a function nobody revoked it from.
 */
create view app_audit.api_role_grants with (security_invoker = true) as
with api as (
  select r.oid from pg_catalog.pg_roles r where r.rolname = 'tenantry_app'
),
ours as (
  select n.oid, n.nspname, n.nspowner, n.nspacl from pg_catalog.pg_namespace n
  where n.nspname !~ '^pg_' and n.nspname <> 'information_schema'
),
acl as (
  select 'database' as object_type, null::text as schema_name, d.datname::text as object_name,
         null::text as column_name, a.privilege_type, a.grantee, a.grantor, a.is_grantable
  from pg_catalog.pg_database d,
       pg_catalog.aclexplode(coalesce(d.datacl, pg_catalog.acldefault('d', d.datdba))) a
  where d.datname = pg_catalog.current_database()
  union all
  select 'schema', s.nspname, s.nspname, null, a.privilege_type, a.grantee, a.grantor, a.is_grantable
  from ours s, pg_catalog.aclexplode(coalesce(s.nspacl, pg_catalog.acldefault('n', s.nspowner))) a
  union all
  select case c.relkind when 'S' then 'sequence' when 'v' then 'view' when 'm' then 'materialized view'
                        when 'f' then 'foreign table' else 'table' end,
         s.nspname, c.relname, null, a.privilege_type, a.grantee, a.grantor, a.is_grantable
  from pg_catalog.pg_class c
  join ours s on s.oid = c.relnamespace,
  pg_catalog.aclexplode(coalesce(c.relacl,
    pg_catalog.acldefault(case c.relkind when 'S' then 's' else 'r' end::"char", c.relowner))) a
  where c.relkind in ('r', 'p', 'v', 'm', 'f', 'S')
  union all
  select 'column', s.nspname, c.relname, att.attname, a.privilege_type, a.grantee, a.grantor, a.is_grantable
  from pg_catalog.pg_attribute att
  join pg_catalog.pg_class c on c.oid = att.attrelid
  join ours s on s.oid = c.relnamespace,
  pg_catalog.aclexplode(att.attacl) a
  where att.attnum > 0 and not att.attisdropped and att.attacl is not null
  union all
  select case p.prokind when 'p' then 'procedure' else 'function' end,
         s.nspname, pg_catalog.quote_ident(p.proname) || '(' || pg_catalog.oidvectortypes(p.proargtypes) || ')', null, a.privilege_type, a.grantee, a.grantor, a.is_grantable
  from pg_catalog.pg_proc p
  join ours s on s.oid = p.pronamespace,
  pg_catalog.aclexplode(coalesce(p.proacl, pg_catalog.acldefault('f', p.proowner))) a
)
select
  acl.object_type,
  acl.schema_name,
  acl.object_name,
  acl.column_name,
  acl.privilege_type as privilege,
  case when acl.grantee = 0 then 'PUBLIC' else 'tenantry_app' end as granted_to,
  pg_catalog.pg_get_userbyid(acl.grantor) as grantor,
  acl.is_grantable as grantable
from acl, api
where acl.grantee in (api.oid, 0)
order by 1, 2, 3, 4, 5;

comment on view app_audit.api_role_grants is E'Every privilege tenantry_app holds outside the system schemas, one row each: database, schema usage, table, view and sequence privileges, column privileges and function EXECUTE, granted to it by name or to PUBLIC (granted_to). Default ACLs (acldefault) are expanded, so a function nobody revoked EXECUTE from shows up as PUBLIC.';

/*
 * Every SECURITY DEFINER function outside the system schemas: these run as their owner, so a
 * mutable search_path or an EXECUTE left to PUBLIC turns them into privilege escalation.
 */
create view app_audit.definer_functions with (security_invoker = true) as
with functions as (
  select p.*, n.nspname,
         coalesce(p.proacl, pg_catalog.acldefault('f', p.proowner)) as effective_acl
  from pg_catalog.pg_proc p
  join pg_catalog.pg_namespace n on n.oid = p.pronamespace
  where p.prosecdef and n.nspname !~ '^pg_' and n.nspname <> 'information_schema'
)
select
  f.nspname as schema_name,
  pg_catalog.quote_ident(f.proname) || '(' || pg_catalog.oidvectortypes(f.proargtypes) || ')' as function,
  pg_catalog.pg_get_userbyid(f.proowner) as owner,
  (select pg_catalog.substr(setting, 13) from pg_catalog.unnest(f.proconfig) as setting
   where setting like 'search_path=%') as search_path,
  case f.provolatile when 'i' then 'immutable' when 's' then 'stable' else 'volatile' end as volatility,
  l.lanname as language,
  f.prorettype = 'pg_catalog.trigger'::pg_catalog.regtype as is_trigger,
  exists (select from pg_catalog.aclexplode(f.effective_acl) a
          where a.grantee = 0 and a.privilege_type = 'EXECUTE') as public_execute,
  array(select case when a.grantee = 0 then 'PUBLIC' else pg_catalog.pg_get_userbyid(a.grantee)::text end
        from pg_catalog.aclexplode(f.effective_acl) a
        where a.privilege_type = 'EXECUTE' order by 1) as executable_by,
  pg_catalog.obj_description(f.oid, 'pg_proc') as description
from functions f
join pg_catalog.pg_language l on l.oid = f.prolang
order by 1, 2;

comment on view app_audit.definer_functions is E'Every SECURITY DEFINER function outside the system schemas: owner (whose privileges it runs with), the search_path pinned in its proconfig (NULL when not pinned), volatility, language, whether it is a trigger function, and who may EXECUTE it (public_execute: PUBLIC may). Rules: search_path pinned and ending with pg_temp (or empty), no EXECUTE for PUBLIC.';

/*
 * The API's login role: what it is, what it owns, which roles it could SET ROLE to, and any
 * per-role or per-database settings that would give every connection a default request context.
 */
create view app_audit.api_role with (security_invoker = true) as
select
  r.rolname as role_name,
  r.rolsuper,
  r.rolbypassrls,
  r.rolinherit,
  r.rolcanlogin,
  r.rolcreaterole,
  r.rolcreatedb,
  r.rolreplication,
  (select pg_catalog.count(*) from pg_catalog.pg_shdepend d
   where d.refclassid = 'pg_catalog.pg_authid'::pg_catalog.regclass and d.refobjid = r.oid
     and d.deptype = 'o'
     and d.dbid in (0, (select db.oid from pg_catalog.pg_database db where db.datname = pg_catalog.current_database()))
  )::integer as owns_objects,
  array(select g.rolname::text from pg_catalog.pg_auth_members m
        join pg_catalog.pg_roles g on g.oid = m.roleid
        where m.member = r.oid order by 1) as member_of,
  array(select setting from pg_catalog.pg_db_role_setting s, pg_catalog.unnest(s.setconfig) as setting
        where s.setrole in (r.oid, 0)
          and s.setdatabase in (0, (select db.oid from pg_catalog.pg_database db where db.datname = pg_catalog.current_database()))
        order by 1) as settings
from pg_catalog.pg_roles r
where r.rolname = 'tenantry_app';

comment on view app_audit.api_role is E'tenantry_app''s attributes: superuser, BYPASSRLS, INHERIT, login, CREATEROLE, CREATEDB, replication; how many objects it owns (here and cluster-wide: databases, tablespaces); the roles it is a member of (and could SET ROLE to); and the settings it gets by default from ALTER ROLE/ALTER DATABASE ... SET (an app.* default would be a request context on every connection). Rules: none of those attributes but LOGIN, owns nothing, member of nothing, no app.* defaults.';

/*
 * The catalog rules, one row per violation. Empty on a healthy schema.
 */
create view app_audit.rule_violations with (security_invoker = true) as
with api as (
  select r.oid from pg_catalog.pg_roles r where r.rolname = 'tenantry_app'
),
public_tables as (
  select * from app_audit.table_security where schema_name = 'app_public'
),
-- Per app_public table and command: granted to tenantry_app? covered by a permissive policy
-- that applies to it (to tenantry_app or to PUBLIC)?
commands as (
  select t.schema_name, t.table_name, x.command, x.granted,
         exists (
           select from pg_catalog.pg_policy p
           join pg_catalog.pg_class c on c.oid = p.polrelid
           join pg_catalog.pg_namespace n on n.oid = c.relnamespace, api
           where n.nspname = t.schema_name and c.relname = t.table_name
             and p.polcmd in (x.code, '*')
             and p.polpermissive
             and (api.oid = any (p.polroles) or 0 = any (p.polroles))
         ) as has_policy
  from public_tables t,
  lateral (values ('select', 'r', t.select_granted), ('insert', 'a', t.insert_granted),
                  ('update', 'w', t.update_granted), ('delete', 'd', t.delete_granted)) as x(command, code, granted)
),
violations as (
  select 'api_role_exists' as rule, 'tenantry_app' as object, 'the API role does not exist' as detail
  where not exists (select from app_audit.api_role)

  union all
  select 'rls_enabled', schema_name || '.' || table_name, 'row level security is not enabled'
  from public_tables where not rls_enabled
  union all
  select 'rls_forced', schema_name || '.' || table_name, 'row level security is not forced (the owner would bypass it)'
  from public_tables where not rls_forced
  union all
  select 'table_has_policy', t.schema_name || '.' || t.table_name, 'no policy at all'
  from public_tables t
  where cardinality(t.select_policies || t.insert_policies || t.update_policies || t.delete_policies) = 0
  union all
  select 'privilege_has_policy', schema_name || '.' || table_name,
         'tenantry_app holds ' || upper(command) || ' but no permissive policy for it covers ' || command
  from commands where granted and not has_policy
  union all
  select 'policy_has_privilege', schema_name || '.' || table_name,
         'a ' || command || ' policy exists but tenantry_app holds no ' || upper(command) || ' privilege (revoke or remove the dead policy)'
  from commands where has_policy and not coalesce(granted, false)

  union all
  select 'policy_to_api_role', schema_name || '.' || table_name || ' ' || policy_name,
         'policy applies to {' || array_to_string(roles, ', ') || '}, not exactly tenantry_app'
  from app_audit.policies where roles <> array['tenantry_app']
  union all
  select 'policy_not_always_true', schema_name || '.' || table_name || ' ' || policy_name,
         case when using_expression = 'true' then 'USING (true)' else 'WITH CHECK (true)' end
  from app_audit.policies where using_expression = 'true' or with_check_expression = 'true'

  union all
  select 'api_role_is_plain', role_name,
         'has ' || array_to_string(array_remove(array[
           case when rolsuper then 'SUPERUSER' end, case when rolbypassrls then 'BYPASSRLS' end,
           case when rolcreaterole then 'CREATEROLE' end, case when rolcreatedb then 'CREATEDB' end,
           case when rolreplication then 'REPLICATION' end], null), ', ')
  from app_audit.api_role where rolsuper or rolbypassrls or rolcreaterole or rolcreatedb or rolreplication
  union all
  select 'api_role_owns_nothing', role_name, 'owns ' || owns_objects || ' object(s)'
  from app_audit.api_role where owns_objects > 0
  union all
  select 'api_role_member_of_nothing', role_name, 'is a member of {' || array_to_string(member_of, ', ') || '}'
  from app_audit.api_role where cardinality(member_of) > 0
  union all
  select 'api_role_no_default_context', role_name, 'default setting ' || setting
  from app_audit.api_role, unnest(settings) as setting
  where setting like 'app.%' or setting like 'row_security=%' or setting like 'role=%' or setting like 'session_authorization=%'

  union all
  select 'api_role_no_forbidden_privilege',
         concat_ws('.', schema_name, object_name, column_name) || ' (' || object_type || ')',
         privilege || ' granted to ' || granted_to
  from app_audit.api_role_grants
  where privilege in ('TRUNCATE', 'REFERENCES', 'TRIGGER', 'MAINTAIN', 'CREATE', 'TEMPORARY')
  union all
  select 'api_role_no_private_table',
         concat_ws('.', schema_name, object_name, column_name) || ' (' || object_type || ')',
         privilege || ' granted to ' || granted_to
  from app_audit.api_role_grants
  where schema_name = 'app_private' and object_type not in ('schema', 'function', 'procedure')
  union all
  select 'api_role_grants_only_in_api_schemas',
         concat_ws('.', schema_name, object_name, column_name) || ' (' || object_type || ')',
         privilege || ' granted to ' || granted_to
  from app_audit.api_role_grants
  where object_type <> 'database' and schema_name not in ('app_public', 'app_private', 'app_api')

  union all
  select 'view_respects_rls', n.nspname || '.' || c.relname,
         case c.relkind when 'v' then 'a view tenantry_app can read runs as its owner (set security_invoker = true)'
                        when 'm' then 'a materialized view tenantry_app can read has no row level security'
                        else 'a foreign table tenantry_app can read has no row level security' end
  from pg_catalog.pg_class c
  join pg_catalog.pg_namespace n on n.oid = c.relnamespace, api
  where c.relkind in ('v', 'm', 'f')
    and n.nspname !~ '^pg_' and n.nspname <> 'information_schema'
    and pg_catalog.has_any_column_privilege(api.oid, c.oid, 'SELECT')
    and not (c.relkind = 'v' and coalesce(c.reloptions, '{}') && array['security_invoker=true', 'security_invoker=on', 'security_invoker=1'])

  union all
  select 'definer_search_path_pinned', schema_name || '.' || function,
         case when search_path is null then 'search_path is not pinned'
              else 'search_path "' || search_path || '" does not end with pg_temp' end
  from app_audit.definer_functions
  where search_path is null
     or not (search_path in ('', '""') or search_path ~ '(^|,)\s*"?pg_temp"?\s*$')
  union all
  select 'definer_not_public', schema_name || '.' || function, 'PUBLIC may EXECUTE it'
  from app_audit.definer_functions where public_execute

  union all
  -- The request context is written in one place: the begin_* functions, with SET LOCAL of a
  -- %L-quoted value (what Citus propagates to its workers; set_config reaches none of them).
  select 'context_set_only_by_begin', f.name,
         case when not f.is_begin then 'sets an app.* setting: only app_private.begin_request, begin_key_request and begin_user_request may'
              else 'sets an app.* setting otherwise than execute format(''set local app.<name> = %L'', <value>)' end
  from (
    select n.nspname || '.' || pg_catalog.quote_ident(p.proname) || '(' || pg_catalog.oidvectortypes(p.proargtypes) || ')' as name,
           n.nspname = 'app_private' and p.proname in ('begin_request', 'begin_key_request', 'begin_user_request') as is_begin,
           pg_catalog.pg_get_functiondef(p.oid) as definition
    from pg_catalog.pg_proc p
    join pg_catalog.pg_namespace n on n.oid = p.pronamespace
    where n.nspname in ('app_public', 'app_private', 'app_api', 'app_audit') and p.prokind in ('f', 'p')
  ) f
  where f.definition ~* 'set_config\s*\(\s*''app\.'
     or (not f.is_begin and f.definition ~* 'set\s+(local\s+|session\s+)?app\.')
     or pg_catalog.regexp_replace(f.definition,
          'execute pg_catalog\.format\(''set local app\.[a-z_]+ = %L'', [a-z_.]+\);', '', 'g')
        ~* 'set\s+(local\s+|session\s+)?app\.'

  union all
  select 'owner_owns_everything', n.nspname || '.' || c.relname,
         'owned by ' || pg_catalog.pg_get_userbyid(c.relowner) || ', not tenantry_owner'
  from pg_catalog.pg_class c
  join pg_catalog.pg_namespace n on n.oid = c.relnamespace
  where n.nspname in ('app_public', 'app_private', 'app_api', 'app_audit')
    and c.relkind in ('r', 'p', 'v', 'm', 'f', 'S')
    and pg_catalog.pg_get_userbyid(c.relowner) <> 'tenantry_owner'
  union all
  select 'owner_owns_everything', n.nspname || '.' || pg_catalog.quote_ident(p.proname) || '(' || pg_catalog.oidvectortypes(p.proargtypes) || ')',
         'owned by ' || pg_catalog.pg_get_userbyid(p.proowner) || ', not tenantry_owner'
  from pg_catalog.pg_proc p
  join pg_catalog.pg_namespace n on n.oid = p.pronamespace
  where n.nspname in ('app_public', 'app_private', 'app_api', 'app_audit')
    and pg_catalog.pg_get_userbyid(p.proowner) <> 'tenantry_owner'
)
select rule, object, detail from violations order by 1, 2, 3;

comment on view app_audit.rule_violations is E'The catalog rules of this project, one row per violation; empty on a healthy schema (npm run db:audit and test/db/catalog-rules.test.ts fail otherwise). Rules: rls_enabled, rls_forced, table_has_policy (every app_public table); privilege_has_policy and policy_has_privilege (a command is granted to tenantry_app exactly when a permissive policy covers it); policy_to_api_role (every policy is TO tenantry_app only); policy_not_always_true (no USING/WITH CHECK that is literally true); api_role_exists, api_role_is_plain (no SUPERUSER, BYPASSRLS, CREATEROLE, CREATEDB, REPLICATION), api_role_owns_nothing, api_role_member_of_nothing, api_role_no_default_context (no app.*, row_security, role defaults); api_role_no_forbidden_privilege (no TRUNCATE, REFERENCES, TRIGGER, MAINTAIN, CREATE, TEMPORARY anywhere); api_role_no_private_table; api_role_grants_only_in_api_schemas; view_respects_rls (no owner-rights view, materialized view or foreign table readable by tenantry_app); definer_search_path_pinned, definer_not_public; owner_owns_everything (app_* relations and functions owned by tenantry_owner); context_set_only_by_begin (only app_private.begin_request, begin_key_request and begin_user_request write app.* settings, each with SET LOCAL of a %L-quoted value). app_api holds the API''s one-statement reads: functions only, SECURITY INVOKER.';

/*
 * Mail waiting, being sent, retrying or failed (graphile-worker deletes a job once it succeeds).
 * For the DBA only, like every view here: tenantry_app has no USAGE on app_audit, so no tenant's
 * addresses reach the API role. The token in a payload is sealed; it is not shown.
 */
create view app_audit.mail_queue with (security_invoker = true) as
select
  j.id as job_id,
  j.payload ->> 'kind' as kind,
  j.payload ->> 'to' as recipient,
  j.key as job_key,
  case
    when j.attempts >= j.max_attempts then 'failed'
    when j.locked_at is not null then 'sending'
    when j.attempts > 0 then 'retrying'
    else 'pending'
  end as state,
  j.attempts,
  j.max_attempts,
  j.last_error,
  j.run_at as next_attempt_at,
  j.created_at
from graphile_worker._private_jobs j
join graphile_worker._private_tasks t on t.id = j.task_id
where t.identifier = 'send_mail'
order by j.created_at, j.id;

comment on view app_audit.mail_queue is E'Mail not yet delivered: pending, sending, retrying (with the last error) or failed (attempts exhausted). Delivered mail is gone from the queue.';
