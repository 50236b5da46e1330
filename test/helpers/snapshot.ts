import type pg from 'pg'

/**
 * Every row the database holds about one tenant (or, without a tenant, about everyone), read
 * as the superuser so RLS hides nothing: its row, members and their users, items, invitations,
 * activities, sessions and refresh tokens. Two equal snapshots mean no request in between
 * changed anything, whatever the API reports.
 */
export async function snapshot(
  root: pg.Pool | pg.Client,
  tenantId: string | null = null,
): Promise<Record<string, unknown>> {
  const { rows } = await root.query<Record<string, unknown>>(
    `with scope as (select $1::uuid as tenant_id)
     select
       (select coalesce(json_agg(t order by t.id), '[]') from app_public.tenants t, scope
         where scope.tenant_id is null or t.id = scope.tenant_id) as tenants,
       (select coalesce(json_agg(m order by m.tenant_id, m.user_id), '[]') from app_public.memberships m, scope
         where scope.tenant_id is null or m.tenant_id = scope.tenant_id) as memberships,
       (select coalesce(json_agg(u order by u.id), '[]') from app_public.users u, scope
         where scope.tenant_id is null
            or exists (select 1 from app_public.memberships m where m.user_id = u.id and m.tenant_id = scope.tenant_id)) as users,
       (select coalesce(json_agg(s order by s.user_id), '[]') from app_private.user_secrets s, scope
         where scope.tenant_id is null
            or exists (select 1 from app_public.memberships m where m.user_id = s.user_id and m.tenant_id = scope.tenant_id)) as user_secrets,
       (select coalesce(json_agg(i order by i.tenant_id, i.id), '[]') from app_public.items i, scope
         where scope.tenant_id is null or i.tenant_id = scope.tenant_id) as items,
       (select coalesce(json_agg(i order by i.tenant_id, i.id), '[]') from app_public.invitations i, scope
         where scope.tenant_id is null or i.tenant_id = scope.tenant_id) as invitations,
       (select coalesce(json_agg(a order by a.id), '[]') from app_public.activities a, scope
         where scope.tenant_id is null or a.tenant_id = scope.tenant_id) as activities,
       (select coalesce(json_agg(s order by s.id), '[]') from app_private.sessions s, scope
         where scope.tenant_id is null or s.tenant_id = scope.tenant_id) as sessions,
       (select coalesce(json_agg(r order by r.token_hash), '[]')
         from app_private.refresh_tokens r join app_private.sessions s on s.id = r.session_id, scope
         where scope.tenant_id is null or s.tenant_id = scope.tenant_id) as refresh_tokens`,
    [tenantId],
  )
  return rows[0]!
}
