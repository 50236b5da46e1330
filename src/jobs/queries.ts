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

export const STORE_DEV_MAIL = `
  insert into app_private.dev_mail (recipient, subject, text, html, links, message_id)
  values ($1, $2, $3, $4, $5::text[], $6)`
