--! Previous: sha1:79e68a3eed5745f994fb2db5aff80985693f3bfb
--! Hash: sha1:74124001eb7a1bef2bc84a13c973cf91acd8abcd
--! Message: Email change: the old address's cancel link also reverts a completed change

--! split: 4500-email-change-cancel-reverts.sql
/*
 * The cancel link mailed to the old address also works after the new address confirmed: someone
 * who took over a session and moved the account to their own address within minutes is undone by
 * the owner's cancel link (24 h), which puts the old address back and ends every session.
 * Confirming no longer revokes that cancel link; a newer change request still does.
 */

create or replace function app_private.confirm_email(p_token_hash bytea) returns text
  language plpgsql volatile security definer set search_path to pg_catalog, pg_temp
as $$
declare
  v_token app_private.email_tokens :=
    app_private.consume_email_token(p_token_hash, '{verify_email,change_email,cancel_email_change}');
begin
  if v_token.purpose = 'verify_email' then
    update app_public.users u set email_verified_at = coalesce(u.email_verified_at, pg_catalog.now())
      where u.id = v_token.user_id and u.email = v_token.email;
    if not found then
      raise exception 'this link was already used, has expired or is not valid' using errcode = 'TN410';
    end if;
    return 'verified';
  elsif v_token.purpose = 'change_email' then
    if exists (select from app_public.users u where u.email = v_token.email) then
      raise exception 'an account with this address was created meanwhile' using errcode = 'TN409';
    end if;
    update app_public.users u set email = v_token.email, email_verified_at = pg_catalog.now()
      where u.id = v_token.user_id;
    -- Links mailed to the old address stop working, except its cancel link.
    update app_private.email_tokens t set revoked_at = pg_catalog.now()
      where t.user_id = v_token.user_id and t.purpose not in ('invitation', 'cancel_email_change')
        and t.used_at is null and t.revoked_at is null;
    return 'changed';
  end if;
  -- The old address's cancel link: no pending change survives it.
  update app_private.email_tokens t set revoked_at = pg_catalog.now()
    where t.user_id = v_token.user_id and t.purpose = 'change_email' and t.used_at is null and t.revoked_at is null;
  -- Already changed: the old address comes back, and whoever made the change is signed out.
  if not exists (select from app_public.users u where u.id = v_token.user_id and u.email = v_token.email) then
    if exists (select from app_public.users u where u.email = v_token.email) then
      raise exception 'an account with this address was created meanwhile' using errcode = 'TN409';
    end if;
    update app_public.users u set email = v_token.email, email_verified_at = pg_catalog.now()
      where u.id = v_token.user_id;
    update app_private.sessions s set revoked_at = pg_catalog.now(), revoked_reason = 'email change cancelled'
      where s.user_id = v_token.user_id and s.revoked_at is null;
    perform app_private.revoke_email_tokens(v_token.user_id);
    return 'reverted';
  end if;
  return 'cancelled';
end;
$$;
comment on function app_private.confirm_email(bytea) is
  E'A mailed confirmation link: verifies the address it was sent to, completes an email change to it, or (the old address''s cancel link) cancels a pending change, or reverts a completed one and ends every session. TN410: the link does not work.';
