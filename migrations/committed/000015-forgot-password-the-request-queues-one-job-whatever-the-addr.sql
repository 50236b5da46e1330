--! Previous: sha1:d8979fee99a8bdf2e392d17076cc8ca0f29d23e8
--! Hash: sha1:79e68a3eed5745f994fb2db5aff80985693f3bfb
--! Message: Forgot password: the request queues one job whatever the address

--! split: 4400-forgot-password-in-the-worker.sql
/*
 * Forgot-password did its lookup, budget, token and mail in the request: measurably slower for an
 * address with an account (bench/enumeration.ts, 1.65-1.80x by median) than for one without.
 * The request now does the same thing for every address, queue one job, and the job worker runs
 * app_private.request_password_reset (lookup, budget, token, mail) out of band. The request's
 * transaction still decides: a rolled-back request queues nothing.
 */

create function app_private.queue_password_reset(p_email text, p_token_hash bytea, p_sealed_token text) returns void
  language plpgsql volatile security definer set search_path to pg_catalog, pg_temp
as $$
begin
  perform graphile_worker.add_job(
    'password_reset',
    pg_catalog.json_build_object(
      'email', pg_catalog.lower(p_email),
      'tokenHash', pg_catalog.encode(p_token_hash, 'hex'),
      'sealed', p_sealed_token),
    max_attempts => 5
  );
end;
$$;
grant execute on function app_private.queue_password_reset(text, bytea, text) to tenantry_app;
revoke execute on function app_private.queue_password_reset(text, bytea, text) from public;
comment on function app_private.queue_password_reset(text, bytea, text) is
  E'Forgot password: queues one job (task password_reset) whatever the address, so the request takes the same time and does the same work for an address with or without an account.';

revoke execute on function app_private.request_password_reset(text, bytea, text) from tenantry_app;
comment on function app_private.request_password_reset(text, bytea, text) is
  E'Run by the job worker (task password_reset, queued by app_private.queue_password_reset): mails a reset link (1 hour) when the address has an account and its budget allows; otherwise does nothing.';
