/**
 * The keys that keep the schema distributable by tenant (Citus): every primary key and unique
 * constraint of a tenant table leads with tenant_id, and every foreign key that references a
 * tenant table carries tenant_id into the referenced tenant_id. A tenant table is an app_public
 * table with a tenant_id column. The last test breaks both rules in a rolled-back transaction and
 * sees each caught, so the check cannot go blind.
 */
import type pg from 'pg'
import t from 'tap'
import { connect, createTestDatabase } from '../helpers/db.ts'

async function tenantKeyViolations(client: pg.Client): Promise<string[]> {
  const { rows } = await client.query<{ problem: string }>(`
    with tenant_tables as (
      select c.oid, c.relname
      from pg_class c
      join pg_attribute a on a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped
      where c.relnamespace = 'app_public'::regnamespace and c.relkind in ('r', 'p')
    ),
    keys as (
      select k.conname, k.contype, k.conrelid, k.confrelid, k.conkey, k.confkey,
             (select attnum from pg_attribute where attrelid = k.conrelid and attname = 'tenant_id') as tenant_col,
             (select attnum from pg_attribute where attrelid = k.confrelid and attname = 'tenant_id') as ref_tenant_col
      from pg_constraint k
    )
    select format('%s.%s: %s does not lead with tenant_id', t.relname, k.conname,
                  case k.contype when 'p' then 'primary key' else 'unique constraint' end) as problem
    from keys k join tenant_tables t on t.oid = k.conrelid
    where k.contype in ('p', 'u') and k.conkey[1] is distinct from k.tenant_col
    union all
    select format('%s.%s: foreign key to tenant table %s without tenant_id', k.conrelid::regclass, k.conname, t.relname)
    from keys k join tenant_tables t on t.oid = k.confrelid
    where k.contype = 'f'
      and not exists (
        select from unnest(k.conkey, k.confkey) as pair(col, ref)
        where pair.col = k.tenant_col and pair.ref = k.ref_tenant_col
      )
    order by 1`)
  return rows.map((row) => row.problem)
}

t.test('tenant tables keep tenant-leading keys (the schema can be distributed by tenant)', async (t) => {
  const db = await createTestDatabase(t)
  const owner = await connect(t, db.ownerUrl)

  t.test('every tenant table key leads with tenant_id; every foreign key to one carries it', async (t) => {
    const { rows } = await owner.query<{ relname: string }>(
      `select c.relname from pg_class c join pg_attribute a on a.attrelid = c.oid and a.attname = 'tenant_id'
       where c.relnamespace = 'app_public'::regnamespace and c.relkind = 'r' order by 1`,
    )
    t.same(
      rows.map((row) => row.relname),
      ['activities', 'api_keys', 'invitations', 'items', 'memberships', 'webhook_deliveries', 'webhook_endpoints'],
      'the tenant tables',
    )
    t.same(await tenantKeyViolations(owner), [])
  })

  t.test('invitation tokens live outside the tenant tables, keyed by their hash alone', async (t) => {
    const { rows } = await owner.query(
      `select conname from pg_constraint where conrelid = 'app_public.invitations'::regclass and contype = 'u'`,
    )
    t.same(rows, [], 'no global UNIQUE (token_hash) on invitations any more')
  })

  t.test('the check catches a key that does not lead with tenant_id and a foreign key without it', async (t) => {
    await owner.query('begin')
    try {
      await owner.query(`
        alter table app_public.invitations add constraint sabotage_email_key unique (email);
        create table app_public.sabotage_child (
          tenant_id uuid not null,
          email text references app_public.invitations (email),
          primary key (email)
        );`)
      t.same(await tenantKeyViolations(owner), [
        'app_public.sabotage_child.sabotage_child_email_fkey: foreign key to tenant table invitations without tenant_id',
        'invitations.sabotage_email_key: unique constraint does not lead with tenant_id',
        'sabotage_child.sabotage_child_pkey: primary key does not lead with tenant_id',
      ])
    } finally {
      await owner.query('rollback')
    }
    t.same(await tenantKeyViolations(owner), [], 'and the sabotage left nothing behind')
  })
})
