/*
 * Database-level privileges, run as the superuser right after the database is created
 * (graphile-migrate afterReset, and src/db/bootstrap.ts for databases it creates or clones:
 * CREATE DATABASE ... TEMPLATE does not copy database ACLs).
 * :DATABASE_NAME and :DATABASE_OWNER are graphile-migrate placeholders.
 */
revoke all on database :DATABASE_NAME from public;
grant all on database :DATABASE_NAME to :DATABASE_OWNER;
grant connect on database :DATABASE_NAME to tenantry_app;

-- Nothing lives in "public"; nobody creates there.
alter schema public owner to :DATABASE_OWNER;
revoke all on schema public from public;
