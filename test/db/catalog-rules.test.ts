/**
 * The DBA's catalog rules — what Supabase's splinter does not check — asserted on this file's own
 * clone of the migrated template, reading the app_audit views (db/audit.sql, applied by migrate)
 * and pg_catalog. Each check lists what breaks its promise; the last catalog test breaks every
 * rule inside a rolled-back transaction and sees each check and app_audit.rule_violations catch
 * it, so a check that has gone blind fails too.
 */
import { randomBytes } from 'node:crypto'
import type pg from 'pg'
import t from 'tap'
import { applyAuditViews } from '../../db/audit.ts'
import {
  API_ROLE,
  COMMANDS,
  type Grant,
  OWNER_ROLE,
  type Policy,
  rows,
  type TableSecurity,
} from '../helpers/catalog.ts'
import { connect, createTestDatabase } from '../helpers/db.ts'

const describeGrant = (g: Grant) =>
  `${g.privilege} on ${g.object_type} ${[g.schema_name, g.object_name, g.column_name].filter(Boolean).join('.')} (to ${g.granted_to})`

type Check = {
  promise: string
  /** The app_audit.rule_violations rules that state the same promise for `npm run db:audit`. */
  rules: string[]
  /** Problems it must report on the SABOTAGE schema below (substrings). */
  catches: string[]
  /** Everything that breaks the promise; [] when it holds. */
  find: (client: pg.Client) => Promise<string[]>
}

const checks: Check[] = [
  {
    promise: 'every app_public table has row level security enabled and forced, and at least one policy',
    rules: ['rls_enabled', 'rls_forced', 'table_has_policy'],
    catches: [
      'sabotage_unforced: row level security not forced',
      'sabotage_no_rls: row level security not enabled',
      'sabotage_no_rls: no policy',
    ],
    async find(client) {
      const problems: string[] = []
      const audited = await rows<TableSecurity>(
        client,
        `select * from app_audit.table_security where schema_name = 'app_public' order by table_name`,
      )
      const catalog = await rows<{ relname: string }>(
        client,
        `select relname from pg_class where relnamespace = 'app_public'::regnamespace and relkind in ('r', 'p') order by relname`,
      )
      if (catalog.length === 0) problems.push('app_public has no table at all: is this the migrated database?')
      const listed = new Set(audited.map((table) => table.table_name))
      for (const { relname } of catalog)
        if (!listed.has(relname)) problems.push(`${relname}: missing from app_audit.table_security`)
      for (const table of audited) {
        if (!table.rls_enabled) problems.push(`${table.table_name}: row level security not enabled`)
        if (!table.rls_forced) problems.push(`${table.table_name}: row level security not forced`)
        if (COMMANDS.every((command) => table[`${command}_policies`].length === 0))
          problems.push(`${table.table_name}: no policy`)
      }
      return problems
    },
  },
  {
    promise:
      'tenantry_app holds a privilege on an app_public table exactly for the commands a permissive policy covers',
    rules: ['privilege_has_policy', 'policy_has_privilege'],
    catches: ['sabotage_unforced: insert granted', 'sabotage_dead_policy: a delete policy exists'],
    async find(client) {
      const problems: string[] = []
      const tables = await rows<TableSecurity>(
        client,
        `select * from app_audit.table_security where schema_name = 'app_public'`,
      )
      const policies = await rows<Policy>(client, `select * from app_audit.policies where schema_name = 'app_public'`)
      for (const table of tables) {
        for (const command of COMMANDS) {
          const covered = policies.some(
            (p) =>
              p.table_name === table.table_name &&
              (p.command === command || p.command === 'all') &&
              p.kind === 'permissive' &&
              (p.roles.includes(API_ROLE) || p.roles.includes('public')),
          )
          const granted = table[`${command}_granted`] === true
          if (granted && !covered)
            problems.push(`${table.table_name}: ${command} granted to ${API_ROLE}, but no permissive policy covers it`)
          if (covered && !granted)
            problems.push(
              `${table.table_name}: a ${command} policy exists, but ${command} is not granted (dead policy)`,
            )
        }
      }
      return problems
    },
  },
  {
    promise: 'every policy is TO tenantry_app, never to PUBLIC or another role',
    rules: ['policy_to_api_role'],
    catches: ['sabotage_dead_policy delete_anyone: to {public}'],
    async find(client) {
      const policies = await rows<Policy>(client, 'select * from app_audit.policies')
      return policies
        .filter((p) => p.roles.length !== 1 || p.roles[0] !== API_ROLE)
        .map((p) => `${p.schema_name}.${p.table_name} ${p.policy_name}: to {${p.roles.join(', ')}}`)
    },
  },
  {
    promise: 'no policy is USING (true) or WITH CHECK (true)',
    rules: ['policy_not_always_true'],
    catches: ['sabotage_unforced select_everything: USING (true)'],
    async find(client) {
      const policies = await rows<Policy>(client, 'select * from app_audit.policies')
      return policies
        .filter((p) => p.using_expression === 'true' || p.with_check_expression === 'true')
        .map(
          (p) =>
            `${p.schema_name}.${p.table_name} ${p.policy_name}: ${p.using_expression === 'true' ? 'USING' : 'WITH CHECK'} (true)`,
        )
    },
  },
  {
    promise:
      'tenantry_app is no superuser, has no BYPASSRLS, owns nothing, is a member of no role (tenantry_owner included) and has no default request context',
    rules: [
      'api_role_exists',
      'api_role_is_plain',
      'api_role_owns_nothing',
      'api_role_member_of_nothing',
      'api_role_no_default_context',
    ],
    catches: ['has rolbypassrls', 'owns 1 object', `member of {${OWNER_ROLE}`, 'default setting app.tenant_id='],
    async find(client) {
      const [role] = await rows<{
        rolsuper: boolean
        rolbypassrls: boolean
        rolcreaterole: boolean
        rolcreatedb: boolean
        rolreplication: boolean
        owns_objects: number
        member_of: string[]
        settings: string[]
      }>(client, 'select * from app_audit.api_role')
      if (!role) return [`${API_ROLE} does not exist`]
      const problems: string[] = []
      for (const attribute of ['rolsuper', 'rolbypassrls', 'rolcreaterole', 'rolcreatedb', 'rolreplication'] as const) {
        if (role[attribute]) problems.push(`${API_ROLE} has ${attribute}`)
      }
      if (role.owns_objects !== 0) problems.push(`${API_ROLE} owns ${role.owns_objects} object(s)`)
      if (role.member_of.length > 0) problems.push(`${API_ROLE} is a member of {${role.member_of.join(', ')}}`)
      for (const setting of role.settings)
        if (/^(app\.|row_security=|role=|session_authorization=)/.test(setting))
          problems.push(`${API_ROLE} has the default setting ${setting}`)
      // Cross-check the view against pg_auth_members directly, for the role that matters most.
      const [owner] = await rows<{ member: boolean }>(
        client,
        `select exists (select from pg_auth_members m where m.member = $1::regrole and m.roleid = $2::regrole) as member`,
        [API_ROLE, OWNER_ROLE],
      )
      if (owner!.member && !role.member_of.includes(OWNER_ROLE))
        problems.push(`${API_ROLE} is a member of ${OWNER_ROLE} (not shown by app_audit.api_role)`)
      return problems
    },
  },
  {
    promise: 'tenantry_app holds no TRUNCATE, REFERENCES or TRIGGER (nor MAINTAIN, CREATE or TEMPORARY) on anything',
    rules: ['api_role_no_forbidden_privilege'],
    catches: ['TRUNCATE on table app_public.items'],
    async find(client) {
      const grants = await rows<Grant>(
        client,
        `select * from app_audit.api_role_grants where privilege in ('TRUNCATE', 'REFERENCES', 'TRIGGER', 'MAINTAIN', 'CREATE', 'TEMPORARY')`,
      )
      return grants.map(describeGrant)
    },
  },
  {
    promise:
      'tenantry_app holds no privilege on any app_private table, nor on anything outside app_public and app_private',
    rules: ['api_role_no_private_table', 'api_role_grants_only_in_api_schemas'],
    catches: ['SELECT on table app_private.sessions', 'USAGE on schema app_audit'],
    async find(client) {
      const grants = await rows<Grant>(
        client,
        `select * from app_audit.api_role_grants
         where object_type <> 'database'
           and (schema_name not in ('app_public', 'app_private', 'app_api')
                or (schema_name = 'app_private' and object_type not in ('schema', 'function', 'procedure')))`,
      )
      return grants.map(describeGrant)
    },
  },
  {
    promise:
      'every SECURITY DEFINER function pins its search_path (ending with pg_temp) and is not executable by PUBLIC',
    rules: ['definer_search_path_pinned', 'definer_not_public'],
    catches: [
      'sabotage_mutable_path(): search_path not pinned',
      'sabotage_public(): search_path "app_private" does not end with pg_temp',
      'sabotage_public(): PUBLIC may execute',
    ],
    async find(client) {
      const functions = await rows<{
        schema_name: string
        function: string
        search_path: string | null
        public_execute: boolean
      }>(client, 'select * from app_audit.definer_functions')
      const [catalog] = await rows<{ n: number }>(
        client,
        `select count(*)::int as n from pg_proc p join pg_namespace n on n.oid = p.pronamespace
         where p.prosecdef and n.nspname !~ '^pg_' and n.nspname <> 'information_schema'`,
      )
      const problems: string[] = []
      if (catalog!.n !== functions.length)
        problems.push(`app_audit.definer_functions lists ${functions.length} of ${catalog!.n} definer functions`)
      for (const f of functions) {
        const name = `${f.schema_name}.${f.function}`
        if (f.search_path === null) problems.push(`${name}: search_path not pinned`)
        else if (!(f.search_path === '""' || /(^|,)\s*pg_temp\s*$/.test(f.search_path)))
          problems.push(`${name}: search_path "${f.search_path}" does not end with pg_temp`)
        if (f.public_execute) problems.push(`${name}: PUBLIC may execute it`)
      }
      return problems
    },
  },
  {
    promise: 'no view, materialized view or foreign table lets tenantry_app read around row level security',
    rules: ['view_respects_rls'],
    catches: ['app_public.sabotage_owner_rights'],
    async find(client) {
      const relations = await rows<{ name: string; relkind: string }>(
        client,
        `select n.nspname || '.' || c.relname as name, c.relkind from pg_class c join pg_namespace n on n.oid = c.relnamespace
         where c.relkind in ('v', 'm', 'f') and n.nspname !~ '^pg_' and n.nspname <> 'information_schema'
           and has_any_column_privilege($1, c.oid, 'SELECT')
           and not (c.relkind = 'v' and coalesce(c.reloptions, '{}') && array['security_invoker=true', 'security_invoker=on', 'security_invoker=1'])`,
        [API_ROLE],
      )
      return relations.map(
        (r) => `${r.name} (relkind ${r.relkind}) is readable by ${API_ROLE} and runs as its owner or has no RLS`,
      )
    },
  },
  {
    promise:
      'tenantry_owner owns every table, view, sequence and function in app_public, app_private, app_api and app_audit',
    rules: ['owner_owns_everything'],
    catches: ['sabotage_foreign_owner() is owned by', `sabotage_api_owned is owned by ${API_ROLE}`],
    async find(client) {
      const owned = await rows<{ name: string; owner: string }>(
        client,
        `select n.nspname || '.' || c.relname as name, pg_get_userbyid(c.relowner) as owner
         from pg_class c join pg_namespace n on n.oid = c.relnamespace
         where n.nspname in ('app_public', 'app_private', 'app_api', 'app_audit') and c.relkind in ('r', 'p', 'v', 'm', 'f', 'S')
         union all
         select p.oid::regprocedure::text, pg_get_userbyid(p.proowner)
         from pg_proc p join pg_namespace n on n.oid = p.pronamespace
         where n.nspname in ('app_public', 'app_private', 'app_api', 'app_audit')`,
      )
      return owned.filter((o) => o.owner !== OWNER_ROLE).map((o) => `${o.name} is owned by ${o.owner}`)
    },
  },
  {
    promise:
      'only app_private.begin_request, begin_key_request and begin_user_request set app.* settings, each with SET LOCAL of a %L-quoted value',
    rules: ['context_set_only_by_begin'],
    catches: ['app_private.sabotage_context(): set_config', 'app_private.sabotage_context_local(uuid): SET'],
    async find(client) {
      const functions = await rows<{ name: string; definition: string }>(
        client,
        `select n.nspname || '.' || p.proname || '(' || pg_catalog.oidvectortypes(p.proargtypes) || ')' as name,
                pg_catalog.pg_get_functiondef(p.oid) as definition
         from pg_catalog.pg_proc p join pg_catalog.pg_namespace n on n.oid = p.pronamespace
         where n.nspname in ('app_public', 'app_private', 'app_api', 'app_audit') and p.prokind in ('f', 'p')`,
      )
      const begins = ['begin_request', 'begin_key_request', 'begin_user_request'].map((f) => `app_private.${f}(`)
      // The one allowed form: execute pg_catalog.format('set local app.<name> = %L', <value>);
      const allowed = /execute pg_catalog\.format\('set local app\.[a-z_]+ = %L', [a-z_.]+\);/g
      const problems: string[] = []
      let setters = 0
      for (const { name, definition } of functions) {
        if (/set_config\s*\(\s*'app\./i.test(definition)) problems.push(`${name}: set_config of an app.* setting`)
        const isBegin = begins.some((prefix) => name.startsWith(prefix))
        const rest = isBegin ? definition.replace(allowed, '') : definition
        if (/set\s+(local\s+|session\s+)?app\./i.test(rest)) problems.push(`${name}: SET of an app.* setting`)
        if (isBegin && rest !== definition) setters++
      }
      if (functions.length > 0 && setters !== begins.length)
        problems.push(`${setters} of the ${begins.length} begin_* functions set the context with SET LOCAL`)
      return problems
    },
  },
  {
    // The DBA reads the catalog, not our migrations: each object says why it exists.
    promise: 'every function, table and policy in app_public, app_private and app_api has a comment',
    rules: [],
    catches: [
      'function app_private.sabotage_mutable_path() has no comment',
      'table app_public.sabotage_no_rls has no comment',
      'policy delete_anyone on app_public.sabotage_dead_policy has no comment',
    ],
    async find(client) {
      const missing = await rows<{ what: string }>(
        client,
        `select 'function ' || p.oid::regprocedure::text as what from pg_proc p
          where p.pronamespace in ('app_public'::regnamespace, 'app_private'::regnamespace, 'app_api'::regnamespace)
            and obj_description(p.oid, 'pg_proc') is null
         union all
         select 'table ' || c.oid::regclass::text from pg_class c
          where c.relnamespace in ('app_public'::regnamespace, 'app_private'::regnamespace)
            and c.relkind in ('r', 'p') and obj_description(c.oid, 'pg_class') is null
         union all
         select 'policy ' || p.polname || ' on ' || p.polrelid::regclass::text from pg_policy p
          join pg_class c on c.oid = p.polrelid
          where c.relnamespace in ('app_public'::regnamespace, 'app_private'::regnamespace)
            and obj_description(p.oid, 'pg_policy') is null
         order by 1`,
      )
      return missing.map((row) => `${row.what} has no comment`)
    },
  },
]

/** Breaks every rule but api_role_exists (dropping the role would hurt other test files). */
const SABOTAGE = (database: string, probeRole: string) => `
  set local role ${OWNER_ROLE};
  create table app_public.sabotage_unforced (tenant_id uuid primary key);
  alter table app_public.sabotage_unforced enable row level security;
  create policy select_everything on app_public.sabotage_unforced for select to ${API_ROLE} using (true);
  grant select, insert on app_public.sabotage_unforced to ${API_ROLE};
  create table app_public.sabotage_no_rls (id integer primary key);
  create table app_public.sabotage_dead_policy (id integer primary key);
  alter table app_public.sabotage_dead_policy enable row level security;
  alter table app_public.sabotage_dead_policy force row level security;
  create policy delete_anyone on app_public.sabotage_dead_policy for delete to public using (id = 1);
  grant truncate on app_public.items to ${API_ROLE};
  grant select on app_private.sessions to ${API_ROLE};
  grant usage on schema app_audit to ${API_ROLE};
  create view app_public.sabotage_owner_rights as select * from app_public.items;
  grant select on app_public.sabotage_owner_rights to ${API_ROLE};
  create function app_private.sabotage_mutable_path() returns integer language sql security definer as 'select 1';
  create function app_private.sabotage_public() returns integer language sql security definer
    set search_path to app_private as 'select 1';
  grant execute on function app_private.sabotage_public() to public;
  create function app_private.sabotage_context() returns text language sql
    as $$ select pg_catalog.set_config('app.tenant_id', '00000000-0000-0000-0000-000000000000', true) $$;
  create function app_private.sabotage_context_local(p uuid) returns void language plpgsql
    as $$ begin execute 'set local app.tenant_id = ' || quote_literal(p); end $$;
  reset role;
  create function app_private.sabotage_foreign_owner() returns integer language sql as 'select 1';
  create table app_public.sabotage_api_owned (id integer);
  alter table app_public.sabotage_api_owned owner to ${API_ROLE};
  alter role ${API_ROLE} bypassrls;
  alter role ${API_ROLE} in database ${database} set app.tenant_id = '00000000-0000-0000-0000-000000000000';
  create role ${probeRole};
  grant ${probeRole} to ${API_ROLE};
  grant ${OWNER_ROLE} to ${API_ROLE};
`

t.test('catalog rules', async (t) => {
  const db = await createTestDatabase(t)
  const owner = await connect(t, db.ownerUrl)

  for (const check of checks) {
    t.test(check.promise, async (t) => {
      t.same(await check.find(owner), [])
    })
  }

  t.test('app_audit.rule_violations, what `npm run db:audit` reports, is empty', async (t) => {
    t.same(await rows(owner, 'select * from app_audit.rule_violations'), [])
  })

  t.test('each check, and app_audit.rule_violations, catches a schema that breaks its rules', async (t) => {
    const root = await connect(t, db.rootUrl)
    const probeRole = `tenantry_probe_${randomBytes(4).toString('hex')}`
    await root.query('begin')
    try {
      // Everything below is rolled back: other test files never see it.
      await root.query(SABOTAGE(db.name, probeRole))
      for (const check of checks) {
        const problems = await check.find(root)
        for (const expected of check.catches) {
          t.ok(
            problems.some((problem) => problem.includes(expected)),
            `${check.promise}: catches ${expected}`,
            { problems },
          )
        }
      }
      const reported = new Set(
        (await rows<{ rule: string }>(root, 'select rule from app_audit.rule_violations')).map((r) => r.rule),
      )
      for (const rule of checks.flatMap((check) => check.rules)) {
        if (rule === 'api_role_exists') continue
        t.ok(reported.has(rule), `rule_violations reports ${rule}`)
      }
    } finally {
      await root.query('rollback')
    }
    t.same(await rows(owner, 'select * from app_audit.rule_violations'), [], 'and the sabotage left nothing behind')
  })

  t.test(
    'db/audit.sql re-applies cleanly, as the owner, with SECURITY INVOKER views that tenantry_app cannot read',
    async (t) => {
      await applyAuditViews(owner)
      await applyAuditViews(owner)
      const views = await rows<{ relname: string; owner: string; reloptions: string[] | null }>(
        owner,
        `select relname, pg_get_userbyid(relowner) as owner, reloptions from pg_class
       where relnamespace = 'app_audit'::regnamespace and relkind = 'v' order by relname`,
      )
      t.same(
        views.map((v) => v.relname),
        [
          'api_role',
          'api_role_grants',
          'definer_functions',
          'mail_queue',
          'policies',
          'rule_violations',
          'table_security',
        ],
      )
      for (const view of views) {
        t.equal(view.owner, OWNER_ROLE, `${view.relname} is owned by ${OWNER_ROLE}`)
        t.ok(view.reloptions?.includes('security_invoker=true'), `${view.relname} is SECURITY INVOKER`)
      }
      const app = await connect(t, db.appUrl)
      await t.rejects(app.query('select * from app_audit.rule_violations'), { code: '42501' })
    },
  )
})
