/*
 * Cluster-wide roles. Run by a superuser before the database exists (src/db/bootstrap.ts does,
 * and so can a DBA with psql). Idempotent: re-running re-asserts every attribute.
 *
 * tenantry_owner  owns every object and runs migrations. BYPASSRLS because SECURITY DEFINER
 *                 functions (register, login, refresh, accept invitation, triggers that must
 *                 count across a tenant) run as this role and must cross tenants by definition.
 *                 BYPASSRLS is not inherited: a human granted membership in tenantry_owner is
 *                 still subject to FORCE ROW LEVEL SECURITY.
 * tenantry_app    the API's login role. Owns nothing, no BYPASSRLS, no INHERIT: everything it may
 *                 do is granted to it by name, and RLS policies decide which rows.
 */
do $$
begin
  if not exists (select from pg_catalog.pg_roles where rolname = 'tenantry_owner') then
    create role tenantry_owner;
  end if;
  if not exists (select from pg_catalog.pg_roles where rolname = 'tenantry_app') then
    create role tenantry_app;
  end if;
end
$$;

alter role tenantry_owner with login nosuperuser nocreatedb nocreaterole noreplication bypassrls;
alter role tenantry_app with login nosuperuser nocreatedb nocreaterole noreplication nobypassrls noinherit;
