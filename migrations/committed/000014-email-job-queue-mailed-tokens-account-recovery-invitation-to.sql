--! Previous: sha1:487c75c4dbcbe042dedabd020d4b2bcd18e3c3f9
--! Hash: sha1:d8979fee99a8bdf2e392d17076cc8ca0f29d23e8
--! Message: Email: job queue, mailed tokens, account recovery, invitation tokens out of the tenant table

--! split: 4000-mail-queue.sql
/*
 * Mail is a job (graphile-worker), enqueued by the definer function that makes the change, in the
 * same transaction: a rolled-back request sends nothing, a committed one is never lost. The
 * graphile_worker schema itself is installed by the worker's own migrations, run as the owner
 * role before ours (src/db/bootstrap.ts `migrate`); tenantry_app has no privilege on it and
 * enqueues only through the functions below, which no one but other definer functions may call.
 */

create table app_private.mail_budget (
  id bigint generated always as identity primary key,
  email text not null,
  kind text not null,
  sent_at timestamptz not null default now()
);
create index mail_budget_email_kind_sent_at_idx on app_private.mail_budget (email, kind, sent_at);
comment on table app_private.mail_budget is
  E'One row per budgeted mail enqueued (verification, reset, email change, invitation resend), kept for an hour: at most one mail of a kind per recipient per 60 s and 5 per hour. Silent: the request still answers 202.';

create function app_private.take_mail_budget(p_kind text, p_email text) returns boolean
  language plpgsql volatile security definer set search_path to pg_catalog, pg_temp
as $$
begin
  -- Serialises requests for one recipient and kind, so two parallel requests cannot both pass.
  perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('tenantry.mail_budget:' || p_kind || ':' || p_email, 0));
  delete from app_private.mail_budget b
    where b.email = p_email and b.kind = p_kind and b.sent_at <= pg_catalog.now() - interval '1 hour';
  if exists (select from app_private.mail_budget b
             where b.email = p_email and b.kind = p_kind and b.sent_at > pg_catalog.now() - interval '60 seconds')
     or (select count(*) from app_private.mail_budget b where b.email = p_email and b.kind = p_kind) >= 5 then
    return false;
  end if;
  insert into app_private.mail_budget (email, kind) values (p_email, p_kind);
  return true;
end;
$$;
revoke execute on function app_private.take_mail_budget(text, text) from public;
comment on function app_private.take_mail_budget(text, text) is
  E'Spends one mail of the recipient''s budget for this kind: false (send nothing, say nothing) within 60 s of the last one or after 5 in an hour.';

create function app_private.enqueue_mail(p_kind text, p_to text, p_sealed_token text, p_data jsonb, p_job_key text)
  returns void
  language plpgsql volatile security definer set search_path to pg_catalog, pg_temp
as $$
begin
  -- The token travels sealed (AES-GCM under a key only the API and the worker hold): the jobs
  -- table never holds a usable link. job_key: a resend replaces a mail still waiting.
  perform graphile_worker.add_job(
    'send_mail',
    pg_catalog.json_build_object('kind', p_kind, 'to', p_to, 'sealed', p_sealed_token, 'data', p_data),
    max_attempts => 25,
    job_key => p_job_key
  );
end;
$$;
revoke execute on function app_private.enqueue_mail(text, text, text, jsonb, text) from public;
comment on function app_private.enqueue_mail(text, text, text, jsonb, text) is
  E'Queues one mail (graphile-worker task send_mail) in the caller''s transaction. Called only by other definer functions.';

create table app_private.dev_mail (
  id bigint generated always as identity primary key,
  recipient text not null,
  subject text not null,
  text text not null,
  html text not null,
  links text[] not null default '{}',
  message_id text not null,
  sent_at timestamptz not null default now()
);
comment on table app_private.dev_mail is
  E'The development mailbox: what the worker sent while SMTP_URL was unset (never in production). Read through app_private.dev_mailbox (GET /dev/mail).';

create function app_private.dev_mailbox(p_limit integer) returns text
  language sql stable security definer set search_path to pg_catalog, pg_temp
as $$
  select pg_catalog.json_build_object('data', coalesce(pg_catalog.json_agg(pg_catalog.json_build_object(
    'id', m.id::text, 'to', m.recipient, 'subject', m.subject, 'text', m.text, 'html', m.html,
    'links', pg_catalog.to_json(m.links), 'sentAt', m.sent_at) order by m.id desc), '[]'::json))::text
  from (select * from app_private.dev_mail d order by d.id desc limit p_limit) m
$$;
grant execute on function app_private.dev_mailbox(integer) to tenantry_app;
revoke execute on function app_private.dev_mailbox(integer) from public;
comment on function app_private.dev_mailbox(integer) is
  E'The development mailbox as JSON text {data: [...]}, newest first (GET /dev/mail, absent in production).';

--! split: 4100-email-tokens.sql
/*
 * Mailed tokens: random (256 bits, made by the API), stored only as SHA-256, bound to a purpose,
 * a user (none yet for an invitation to a new address) and the address they were mailed to,
 * single use under concurrency (one UPDATE ... RETURNING), expiring. Invitation tokens live here
 * too, outside the tenant tables: a global unique token hash in app_public.invitations would be a
 * unique constraint that does not lead with tenant_id, which a table distributed by tenant cannot
 * have.
 */

alter table app_public.users add column email_verified_at timestamptz;
comment on column app_public.users.email_verified_at is
  E'When the address was proven: a confirmed verification or email-change link, a password reset, or an accepted invitation. NULL: never.';

create table app_private.email_tokens (
  token_hash bytea primary key check (octet_length(token_hash) = 32),
  purpose text not null
    check (purpose in ('verify_email', 'reset_password', 'change_email', 'cancel_email_change', 'invitation')),
  email text not null,
  user_id uuid references app_public.users (id) on delete cascade,
  tenant_id uuid,
  invitation_id uuid,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  used_at timestamptz,
  revoked_at timestamptz,
  foreign key (tenant_id, invitation_id) references app_public.invitations (tenant_id, id) on delete cascade,
  check (expires_at > created_at),
  check ((purpose = 'invitation') = (invitation_id is not null and tenant_id is not null)),
  check (purpose = 'invitation' or user_id is not null)
);
create index email_tokens_user_id_idx on app_private.email_tokens (user_id);
create index email_tokens_invitation_idx on app_private.email_tokens (tenant_id, invitation_id);
comment on table app_private.email_tokens is
  E'SHA-256 of mailed tokens (verification, password reset, email change and its cancel link, invitations), each bound to a purpose, a user and the address it was sent to. Used once (used_at), revoked when superseded, expiring.';
comment on column app_private.email_tokens.email is E'The address the token was mailed to: it proves this address and no other.';

create function app_private.consume_email_token(p_token_hash bytea, p_purposes text[])
  returns app_private.email_tokens
  language plpgsql volatile security definer set search_path to pg_catalog, pg_temp
as $$
declare
  v_token app_private.email_tokens;
begin
  -- One statement: of parallel requests with the same token, the row lock lets exactly one
  -- through; the others re-check used_at after it commits and find nothing.
  update app_private.email_tokens t set used_at = pg_catalog.now()
    where t.token_hash = p_token_hash and t.purpose = any (p_purposes)
      and t.used_at is null and t.revoked_at is null and t.expires_at > pg_catalog.now()
    returning t.* into v_token;
  if not found then
    raise exception 'this link was already used, has expired or is not valid' using errcode = 'TN410';
  end if;
  return v_token;
end;
$$;
revoke execute on function app_private.consume_email_token(bytea, text[]) from public;
comment on function app_private.consume_email_token(bytea, text[]) is
  E'Marks a live token of one of these purposes used and returns it, once. TN410: unknown, used, revoked or expired.';

create function app_private.revoke_email_tokens(p_user_id uuid) returns void
  language sql volatile security definer set search_path to pg_catalog, pg_temp
as $$
  update app_private.email_tokens t set revoked_at = pg_catalog.now()
    where t.user_id = p_user_id and t.purpose <> 'invitation' and t.used_at is null and t.revoked_at is null
$$;
revoke execute on function app_private.revoke_email_tokens(uuid) from public;
comment on function app_private.revoke_email_tokens(uuid) is
  E'Revokes every outstanding account token of a user (after a reset or a password change).';

--! split: 4200-account-recovery.sql
/*
 * The account flows that mail: verification at register, password reset, password change,
 * email change. Each definer function makes its change, stores the token hash and enqueues the
 * mail in one transaction. Anything that depends on whether an address has an account answers
 * the same way either way: the caller learns nothing (the API answers 202 whatever happens).
 */

create function app_private.register_account(
  p_email text, p_name text, p_password_hash text, p_tenant_name text, p_tenant_slug text,
  p_token_hash bytea, p_sealed_token text, p_quiet boolean
) returns table (user_id uuid, tenant_id uuid)
  language plpgsql volatile security definer set search_path to pg_catalog, pg_temp
as $$
declare
  v_email text := pg_catalog.lower(p_email);
  v_user_id uuid;
  v_tenant_id uuid;
begin
  -- Quiet (EMAIL_VERIFICATION_REQUIRED): a taken address gets a notice mail instead of a 409,
  -- and the caller gets no rows, which it answers exactly like a new account.
  if p_quiet and exists (select from app_public.users u where u.email = v_email) then
    if app_private.take_mail_budget('signup_attempt', v_email) then
      perform app_private.enqueue_mail('signup_attempt', v_email, null, '{}'::jsonb, null);
    end if;
    return;
  end if;
  select r.user_id, r.tenant_id into v_user_id, v_tenant_id
    from app_private.register(v_email, p_name, p_password_hash, p_tenant_name, p_tenant_slug) r;
  if app_private.take_mail_budget('verify_email', v_email) then
    insert into app_private.email_tokens (token_hash, purpose, email, user_id, expires_at)
      values (p_token_hash, 'verify_email', v_email, v_user_id, pg_catalog.now() + interval '24 hours');
    perform app_private.enqueue_mail('verify_email', v_email, p_sealed_token,
      pg_catalog.jsonb_build_object('name', p_name), 'verify_email:' || v_user_id);
  end if;
  return query select v_user_id, v_tenant_id;
end;
$$;
grant execute on function app_private.register_account(text, text, text, text, text, bytea, text, boolean) to tenantry_app;
revoke execute on function app_private.register_account(text, text, text, text, text, bytea, text, boolean) from public;
comment on function app_private.register_account(text, text, text, text, text, bytea, text, boolean) is
  E'Register (app_private.register) and mail the verification link. p_quiet: a taken address is not an error; its owner gets a "someone tried to sign up" notice and no rows come back.';

create function app_private.resend_email_verification(p_token_hash bytea, p_sealed_token text) returns void
  language plpgsql volatile security definer set search_path to pg_catalog, pg_temp
as $$
declare
  v_user app_public.users;
begin
  select * into v_user from app_public.users u
    where u.id = app_public.current_user_id() and u.email_verified_at is null;
  if not found or not app_private.take_mail_budget('verify_email', v_user.email) then
    return;
  end if;
  insert into app_private.email_tokens (token_hash, purpose, email, user_id, expires_at)
    values (p_token_hash, 'verify_email', v_user.email, v_user.id, pg_catalog.now() + interval '24 hours');
  perform app_private.enqueue_mail('verify_email', v_user.email, p_sealed_token,
    pg_catalog.jsonb_build_object('name', v_user.name), 'verify_email:' || v_user.id);
end;
$$;
grant execute on function app_private.resend_email_verification(bytea, text) to tenantry_app;
revoke execute on function app_private.resend_email_verification(bytea, text) from public;
comment on function app_private.resend_email_verification(bytea, text) is
  E'Mails the current user (app.user_id) a new verification link, unless the address is verified or its budget is spent (both silent).';

create function app_private.request_password_reset(p_email text, p_token_hash bytea, p_sealed_token text) returns void
  language plpgsql volatile security definer set search_path to pg_catalog, pg_temp
as $$
declare
  v_user app_public.users;
begin
  select * into v_user from app_public.users u where u.email = pg_catalog.lower(p_email);
  if not found or not app_private.take_mail_budget('reset_password', v_user.email) then
    return;
  end if;
  insert into app_private.email_tokens (token_hash, purpose, email, user_id, expires_at)
    values (p_token_hash, 'reset_password', v_user.email, v_user.id, pg_catalog.now() + interval '1 hour');
  perform app_private.enqueue_mail('reset_password', v_user.email, p_sealed_token,
    pg_catalog.jsonb_build_object('name', v_user.name), 'reset_password:' || v_user.id);
end;
$$;
grant execute on function app_private.request_password_reset(text, bytea, text) to tenantry_app;
revoke execute on function app_private.request_password_reset(text, bytea, text) from public;
comment on function app_private.request_password_reset(text, bytea, text) is
  E'Forgot password: mails a reset link (1 hour) when the address has an account and its budget allows; otherwise does nothing, silently.';

create function app_private.reset_password(p_token_hash bytea, p_password_hash text) returns void
  language plpgsql volatile security definer set search_path to pg_catalog, pg_temp
as $$
declare
  v_token app_private.email_tokens := app_private.consume_email_token(p_token_hash, '{reset_password}');
begin
  -- Bound to the address: a link mailed before an email change proves nothing about the new one.
  update app_public.users u set email_verified_at = coalesce(u.email_verified_at, pg_catalog.now())
    where u.id = v_token.user_id and u.email = v_token.email;
  if not found then
    raise exception 'this link was already used, has expired or is not valid' using errcode = 'TN410';
  end if;
  update app_private.user_secrets s set password_hash = p_password_hash, updated_at = pg_catalog.now()
    where s.user_id = v_token.user_id;
  update app_private.sessions s set revoked_at = pg_catalog.now(), revoked_reason = 'password reset'
    where s.user_id = v_token.user_id and s.revoked_at is null;
  perform app_private.revoke_email_tokens(v_token.user_id);
  perform app_private.enqueue_mail('password_changed', v_token.email, null, '{}'::jsonb, null);
end;
$$;
grant execute on function app_private.reset_password(bytea, text) to tenantry_app;
revoke execute on function app_private.reset_password(bytea, text) from public;
comment on function app_private.reset_password(bytea, text) is
  E'Password reset with a mailed token: sets the password, marks the address verified, ends every session and every other outstanding token of the user, mails a notice. Signs no one in. TN410: the link does not work.';

create function app_private.change_password(p_password_hash text, p_keep_session_id uuid) returns void
  language plpgsql volatile security definer set search_path to pg_catalog, pg_temp
as $$
declare
  v_user app_public.users;
begin
  select * into v_user from app_public.users u where u.id = app_public.current_user_id();
  if not found then
    raise exception 'no signed-in user' using errcode = 'TN401';
  end if;
  update app_private.user_secrets s set password_hash = p_password_hash, updated_at = pg_catalog.now()
    where s.user_id = v_user.id;
  update app_private.sessions s set revoked_at = pg_catalog.now(), revoked_reason = 'password changed'
    where s.user_id = v_user.id and s.id <> p_keep_session_id and s.revoked_at is null;
  perform app_private.revoke_email_tokens(v_user.id);
  perform app_private.enqueue_mail('password_changed', v_user.email, null, '{}'::jsonb, null);
end;
$$;
grant execute on function app_private.change_password(text, uuid) to tenantry_app;
revoke execute on function app_private.change_password(text, uuid) from public;
comment on function app_private.change_password(text, uuid) is
  E'The current user (app.user_id) sets a new password (the API checked the current one): ends their other sessions and outstanding tokens, mails a notice.';

create function app_private.request_email_change(
  p_new_email text, p_confirm_hash bytea, p_confirm_sealed text, p_cancel_hash bytea, p_cancel_sealed text
) returns void
  language plpgsql volatile security definer set search_path to pg_catalog, pg_temp
as $$
declare
  v_user app_public.users;
  v_new text := pg_catalog.lower(p_new_email);
begin
  select * into v_user from app_public.users u where u.id = app_public.current_user_id();
  if not found then
    raise exception 'no signed-in user' using errcode = 'TN401';
  end if;
  if v_new = v_user.email then
    return;
  end if;
  -- One pending change at a time: an earlier link stops working.
  update app_private.email_tokens t set revoked_at = pg_catalog.now()
    where t.user_id = v_user.id and t.purpose in ('change_email', 'cancel_email_change')
      and t.used_at is null and t.revoked_at is null;
  -- A taken address gets nothing, and the caller is told nothing: same answer, same notice.
  if not exists (select from app_public.users u where u.email = v_new)
     and app_private.take_mail_budget('change_email', v_new) then
    insert into app_private.email_tokens (token_hash, purpose, email, user_id, expires_at)
      values (p_confirm_hash, 'change_email', v_new, v_user.id, pg_catalog.now() + interval '24 hours');
    perform app_private.enqueue_mail('change_email', v_new, p_confirm_sealed,
      pg_catalog.jsonb_build_object('name', v_user.name), 'change_email:' || v_user.id);
  end if;
  insert into app_private.email_tokens (token_hash, purpose, email, user_id, expires_at)
    values (p_cancel_hash, 'cancel_email_change', v_user.email, v_user.id, pg_catalog.now() + interval '24 hours');
  perform app_private.enqueue_mail('email_change_notice', v_user.email, p_cancel_sealed,
    pg_catalog.jsonb_build_object('name', v_user.name, 'newEmail', v_new), 'email_change_notice:' || v_user.id);
end;
$$;
grant execute on function app_private.request_email_change(text, bytea, text, bytea, text) to tenantry_app;
revoke execute on function app_private.request_email_change(text, bytea, text, bytea, text) from public;
comment on function app_private.request_email_change(text, bytea, text, bytea, text) is
  E'The current user asks to change their address: a confirmation link (24 h) to the new one unless it is taken, and a notice with a cancel link to the old one. Nothing changes until the new address confirms.';

create function app_private.confirm_email(p_token_hash bytea) returns text
  language plpgsql volatile security definer set search_path to pg_catalog, pg_temp
as $$
declare
  v_token app_private.email_tokens :=
    app_private.consume_email_token(p_token_hash, '{verify_email,change_email,cancel_email_change}');
begin
  if v_token.purpose = 'verify_email' then
    update app_public.users u set email_verified_at = coalesce(u.email_verified_at, pg_catalog.now())
      where u.id = v_token.user_id and u.email = v_token.email;
  elsif v_token.purpose = 'change_email' then
    if exists (select from app_public.users u where u.email = v_token.email) then
      raise exception 'an account with this address was created meanwhile' using errcode = 'TN409';
    end if;
    update app_public.users u set email = v_token.email, email_verified_at = pg_catalog.now()
      where u.id = v_token.user_id;
    -- Links mailed to the old address (reset, verification, the cancel link) stop working.
    perform app_private.revoke_email_tokens(v_token.user_id);
    return 'changed';
  else
    update app_private.email_tokens t set revoked_at = pg_catalog.now()
      where t.user_id = v_token.user_id and t.purpose = 'change_email' and t.used_at is null and t.revoked_at is null;
    return 'cancelled';
  end if;
  if not found then
    raise exception 'this link was already used, has expired or is not valid' using errcode = 'TN410';
  end if;
  return 'verified';
end;
$$;
grant execute on function app_private.confirm_email(bytea) to tenantry_app;
revoke execute on function app_private.confirm_email(bytea) from public;
comment on function app_private.confirm_email(bytea) is
  E'A mailed confirmation link: verifies the address it was sent to, completes an email change to it, or (the old address''s link) cancels a pending change. TN410: the link does not work.';

create function app_private.email_verified(p_user_id uuid) returns boolean
  language sql stable security definer set search_path to pg_catalog, pg_temp
as $$
  select u.email_verified_at is not null from app_public.users u where u.id = p_user_id
$$;
grant execute on function app_private.email_verified(uuid) to tenantry_app;
revoke execute on function app_private.email_verified(uuid) from public;
comment on function app_private.email_verified(uuid) is
  E'Whether a user''s address is verified: with EMAIL_VERIFICATION_REQUIRED, asked only after the password checked out.';

--! split: 4300-invitation-tokens.sql
/*
 * Invitation tokens move to app_private.email_tokens and reach the invitee only by mail: the
 * inviter never sees them. invitations.token_hash (with its global UNIQUE (token_hash)) goes, so
 * every unique constraint of a tenant table leads with tenant_id (test/db/tenant-keys.test.ts).
 */

insert into app_private.email_tokens (token_hash, purpose, email, tenant_id, invitation_id, created_at, expires_at, used_at, revoked_at)
  select i.token_hash, 'invitation', i.email, i.tenant_id, i.id, i.created_at, i.expires_at, i.accepted_at, i.revoked_at
  from app_public.invitations i;
alter table app_public.invitations drop column token_hash;

create function app_private.mail_invitation(p_invitation_id uuid, p_token_hash bytea, p_sealed_token text) returns boolean
  language plpgsql volatile security definer set search_path to pg_catalog, pg_temp
as $$
declare
  v_invitation app_public.invitations;
  v_tenant_name text;
  v_inviter text;
begin
  select * into v_invitation from app_public.invitations i
    where i.tenant_id = app_public.current_tenant_id() and i.id = p_invitation_id
      and app_public.current_member_role() >= 'admin'
      and i.accepted_at is null and i.revoked_at is null and i.expires_at > pg_catalog.now()
    for update;
  if not found then
    raise exception 'invitation not found' using errcode = 'TN404';
  end if;
  return app_private.enqueue_invitation(v_invitation, p_token_hash, p_sealed_token);
end;
$$;
grant execute on function app_private.mail_invitation(uuid, bytea, text) to tenantry_app;
revoke execute on function app_private.mail_invitation(uuid, bytea, text) from public;
comment on function app_private.mail_invitation(uuid, bytea, text) is
  E'An admin of the current tenant (re)sends a pending invitation: a new token (same expiry) replaces the earlier ones. False when the per-invitation budget (one per 60 s, 5 per hour) is spent. TN404: not a pending invitation of this tenant.';

create function app_private.enqueue_invitation(p_invitation app_public.invitations, p_token_hash bytea, p_sealed_token text)
  returns boolean
  language plpgsql volatile security definer set search_path to pg_catalog, pg_temp
as $$
begin
  if not app_private.take_mail_budget('invitation:' || p_invitation.id, p_invitation.email) then
    return false;
  end if;
  update app_private.email_tokens t set revoked_at = pg_catalog.now()
    where t.tenant_id = p_invitation.tenant_id and t.invitation_id = p_invitation.id
      and t.used_at is null and t.revoked_at is null;
  insert into app_private.email_tokens (token_hash, purpose, email, tenant_id, invitation_id, expires_at)
    values (p_token_hash, 'invitation', p_invitation.email, p_invitation.tenant_id, p_invitation.id, p_invitation.expires_at);
  perform app_private.enqueue_mail('invitation', p_invitation.email, p_sealed_token,
    pg_catalog.jsonb_build_object(
      'tenantName', (select t.name from app_public.tenants t where t.id = p_invitation.tenant_id),
      'inviterName', (select u.name from app_public.users u where u.id = p_invitation.invited_by),
      'role', p_invitation.role,
      'expiresAt', p_invitation.expires_at),
    'invitation:' || p_invitation.id);
  return true;
end;
$$;
revoke execute on function app_private.enqueue_invitation(app_public.invitations, bytea, text) from public;
comment on function app_private.enqueue_invitation(app_public.invitations, bytea, text) is
  E'Stores an invitation''s new token (revoking its earlier ones) and queues its mail, within the per-invitation budget.';

create or replace function app_private.invitation_for_token(p_token_hash bytea)
  returns table (invitation_id uuid, tenant_id uuid, email text, existing_user_id uuid, existing_password_hash text)
  language sql stable security definer set search_path to pg_catalog, pg_temp
as $$
  select i.id, i.tenant_id, i.email, u.id, s.password_hash
  from app_private.email_tokens t
  join app_public.invitations i on i.tenant_id = t.tenant_id and i.id = t.invitation_id
  left join app_public.users u on u.email = i.email
  left join app_private.user_secrets s on s.user_id = u.id
  where t.token_hash = p_token_hash and t.purpose = 'invitation'
    and t.used_at is null and t.revoked_at is null and t.expires_at > pg_catalog.now()
    and i.accepted_at is null and i.revoked_at is null and i.expires_at > pg_catalog.now()
$$;

create or replace function app_private.accept_invitation(
  p_token_hash bytea, p_existing_user_id uuid, p_new_user_name text, p_new_user_password_hash text,
  p_refresh_token_hash bytea, p_refresh_token_ttl interval
) returns table (session_id uuid, tenant_id uuid, user_id uuid)
  language plpgsql volatile security definer set search_path to pg_catalog, pg_temp
as $$
declare
  v_token app_private.email_tokens;
  v_invitation app_public.invitations;
  v_user_id uuid;
  v_session_id uuid;
begin
  -- The token first (single use: parallel accepts queue on its row), then the invitation.
  update app_private.email_tokens t set used_at = pg_catalog.now()
    where t.token_hash = p_token_hash and t.purpose = 'invitation'
      and t.used_at is null and t.revoked_at is null and t.expires_at > pg_catalog.now()
    returning t.* into v_token;
  if found then
    select * into v_invitation from app_public.invitations i
      where i.tenant_id = v_token.tenant_id and i.id = v_token.invitation_id
      for update;
  end if;
  if v_token.token_hash is null or v_invitation.id is null or v_invitation.accepted_at is not null
     or v_invitation.revoked_at is not null or v_invitation.expires_at <= pg_catalog.now() then
    raise exception 'invitation not found' using errcode = 'TN404';
  end if;

  select u.id into v_user_id from app_public.users u where u.email = v_invitation.email;
  if p_existing_user_id is not null then
    -- The API verified this user's password; it must be the invited address.
    if v_user_id is distinct from p_existing_user_id then
      raise exception 'invitation not found' using errcode = 'TN404';
    end if;
  else
    if v_user_id is not null then
      raise exception 'an account with this email exists: accept with its password' using errcode = 'TN409';
    end if;
    insert into app_public.users (email, name, created_via) values (v_invitation.email, p_new_user_name, 'invitation')
      returning id into v_user_id;
    insert into app_private.user_secrets (user_id, password_hash) values (v_user_id, p_new_user_password_hash);
  end if;
  -- The token came by mail to this address: accepting proves it.
  update app_public.users u set email_verified_at = coalesce(u.email_verified_at, pg_catalog.now())
    where u.id = v_user_id;

  if exists (select 1 from app_public.memberships m
             where m.tenant_id = v_invitation.tenant_id and m.user_id = v_user_id) then
    raise exception 'already a member of this tenant' using errcode = 'TN409';
  end if;
  insert into app_public.memberships (tenant_id, user_id, role)
    values (v_invitation.tenant_id, v_user_id, v_invitation.role);
  update app_public.invitations i set accepted_at = pg_catalog.now(), accepted_by = v_user_id
    where i.tenant_id = v_invitation.tenant_id and i.id = v_invitation.id;

  insert into app_private.sessions (user_id, tenant_id) values (v_user_id, v_invitation.tenant_id)
    returning id into v_session_id;
  insert into app_private.refresh_tokens (token_hash, session_id, expires_at)
    values (p_refresh_token_hash, v_session_id, pg_catalog.now() + p_refresh_token_ttl);
  return query select v_session_id, v_invitation.tenant_id, v_user_id;
end;
$$;
comment on function app_private.accept_invitation(bytea, uuid, text, text, bytea, interval) is
  E'Single-use accept of a mailed invitation token: joins the invitee (creating the account if new) with the invited role, marks the address verified and starts a session. TN404: unknown, used, revoked or expired; TNPLM: tenant full.';

drop function app_private.admin_create_tenant(text, text, text, text, text, text, bytea, interval, text);
create function app_private.admin_create_tenant(
  p_name text, p_slug text, p_plan text, p_owner_email text, p_owner_name text, p_owner_password_hash text,
  p_invitation_token_hash bytea, p_invitation_sealed_token text, p_invitation_ttl interval, p_request_id text
) returns table (tenant_id uuid, owner_id uuid, invitation_expires_at timestamptz)
  language plpgsql volatile security definer set search_path to pg_catalog, pg_temp
as $$
declare
  v_email text := pg_catalog.lower(p_owner_email);
  v_tenant_id uuid;
  v_owner_id uuid;
  v_invitation app_public.invitations;
begin
  if exists (select 1 from app_public.tenants t where t.slug = p_slug) then
    raise exception 'this tenant slug is taken' using errcode = 'TN409';
  end if;
  select u.id into v_owner_id from app_public.users u where u.email = v_email;
  if p_owner_password_hash is not null and v_owner_id is not null then
    raise exception 'an account with this email exists: omit the password to send it an owner invitation'
      using errcode = 'TN409';
  end if;
  insert into app_public.tenants (slug, name, plan) values (p_slug, p_name, p_plan) returning id into v_tenant_id;
  if p_owner_password_hash is not null then
    insert into app_public.users (email, name, created_via) values (v_email, p_owner_name, 'platform')
      returning id into v_owner_id;
    insert into app_private.user_secrets (user_id, password_hash) values (v_owner_id, p_owner_password_hash);
    insert into app_public.memberships (tenant_id, user_id, role) values (v_tenant_id, v_owner_id, 'owner');
  else
    insert into app_public.invitations (tenant_id, email, role, invited_by, expires_at)
      values (v_tenant_id, v_email, 'owner', null, pg_catalog.now() + p_invitation_ttl)
      returning * into v_invitation;
    perform app_private.enqueue_invitation(v_invitation, p_invitation_token_hash, p_invitation_sealed_token);
  end if;
  perform app_private.record_platform_action('tenant.created', v_tenant_id,
    pg_catalog.jsonb_build_object('slug', p_slug, 'name', p_name, 'plan', p_plan,
      'ownerEmail', v_email, 'ownerInvited', p_owner_password_hash is null),
    p_request_id);
  return query select v_tenant_id, v_owner_id, v_invitation.expires_at;
end;
$$;
grant execute on function app_private.admin_create_tenant(text, text, text, text, text, text, bytea, text, interval, text) to tenantry_app;
revoke execute on function app_private.admin_create_tenant(text, text, text, text, text, text, bytea, text, interval, text) from public;
comment on function app_private.admin_create_tenant(text, text, text, text, text, text, bytea, text, interval, text) is
  E'Platform admin: provisions a tenant with a new owner account (password hash given) or an owner invitation, mailed to the owner. TN409: slug taken, or a password for an existing account.';
