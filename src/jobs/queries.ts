/*
 * The worker's statements. It runs on graphile-worker's own pg pool as the owner role (not
 * slonik, not the API role), so these are plain parameterised SQL texts.
 */

export const PURGE_SESSIONS = `
  select ran, sessions, refresh_tokens from app_private.purge_sessions(make_interval(secs => $1::int))`

/** Mailed tokens a week past expiry prove nothing any more; budgets older than their hour count nothing. */
export const PURGE_MAIL_LEFTOVERS = `
  with tokens as (
    delete from app_private.email_tokens where expires_at < now() - interval '7 days' returning 1
  ), budget as (
    delete from app_private.mail_budget where sent_at < now() - interval '1 hour' returning 1
  )
  select (select count(*) from tokens)::int as tokens, (select count(*) from budget)::int as budget`

/** Forgot password, out of band: lookup, budget, token and mail (queued by queue_password_reset). */
export const REQUEST_PASSWORD_RESET = `
  select app_private.request_password_reset($1::text, decode($2::text, 'hex'), $3::text)`

export const STORE_DEV_MAIL = `
  insert into app_private.dev_mail (recipient, subject, text, html, links, message_id)
  values ($1, $2, $3, $4, $5::text[], $6)`

/*
 * Liveness of workers. graphile-worker frees the jobs of a worker that died without a graceful
 * stop (SIGKILL, a lost machine) only after 4 hours. Each worker pool therefore holds a
 * session-level advisory lock named after its pool id for as long as it lives; PostgreSQL drops
 * it with the connection when the process dies. Any worker finding a pool id in locked_by whose
 * lock it can take knows that pool is gone, and unlocks its jobs for the others at once.
 */
export const HOLD_POOL_LOCK = `select pg_advisory_lock(hashtextextended('tenantry.worker-pool:' || $1, 0))`

export const RELEASE_DEAD_POOLS = `
  with candidates as (
    select distinct locked_by from graphile_worker._private_jobs where locked_by is not null
  ), dead as (
    select locked_by from candidates
    where pg_try_advisory_lock(hashtextextended('tenantry.worker-pool:' || locked_by, 0))
  ), released as (
    select locked_by, pg_advisory_unlock(hashtextextended('tenantry.worker-pool:' || locked_by, 0)) from dead
  )
  select coalesce(array_agg(locked_by), '{}') as pools from released`

export const FORCE_UNLOCK = `select graphile_worker.force_unlock_workers($1::text[])`
