--! Previous: sha1:3564abf3561158b0a7bd887f920880533eeb34cf
--! Hash: sha1:9e2af3fb23bdb8af01a0c6dabaf72bbe1d57ef57
--! Message: Devices: hashed device tokens that exempt a client from the account cap

/*
 * Devices: the OWASP "device cookie" for an API. Every successful authentication (register,
 * login, accept, refresh, switch) hands the client a device token; presented again with a
 * password check, it exempts that check from the per-account cap of failed sign-ins, so the
 * cap that stops guessing from new clients can never lock an owner out of a client they have
 * used. Kept here, in the database, so it holds on every instance with or without Redis.
 * Only the SHA-256 of a token is stored.
 */
create table app_private.devices (
  token_hash bytea primary key check (octet_length(token_hash) = 32),
  user_id uuid not null references app_public.users (id) on delete cascade,
  created_at timestamptz not null default now(),
  last_used_at timestamptz not null default now()
);
create index devices_user_id_last_used_at_idx on app_private.devices (user_id, last_used_at);
comment on table app_private.devices is E'Device tokens (SHA-256 hashes) a user was given at a successful authentication. A password check presenting one of the account''s own, used within the device lifetime, is exempt from the per-account cap of failed sign-ins.';
comment on column app_private.devices.last_used_at is E'The last authentication that presented (or created) this token; a token unused for the device lifetime no longer counts.';

create function app_private.remember_device(
  p_user_id uuid, p_presented_hash bytea, p_new_hash bytea, p_lifetime interval, p_keep integer
) returns boolean
  language plpgsql volatile security definer
  set search_path to pg_catalog, pg_temp
as $$
declare
  v_kept boolean;
begin
  -- The token the client presented stays its token when it is this user's and still alive.
  update app_private.devices set last_used_at = pg_catalog.now()
  where token_hash = p_presented_hash and user_id = p_user_id
    and last_used_at > pg_catalog.now() - p_lifetime;
  v_kept := found;
  if not v_kept then
    insert into app_private.devices (token_hash, user_id) values (p_new_hash, p_user_id);
  end if;
  -- Bounded per user: expired tokens go, and beyond p_keep the least recently used.
  delete from app_private.devices d
  where d.user_id = p_user_id
    and (d.last_used_at <= pg_catalog.now() - p_lifetime
      or d.token_hash not in (
        select k.token_hash from app_private.devices k where k.user_id = p_user_id
        order by k.last_used_at desc, k.token_hash limit p_keep));
  return v_kept;
end;
$$;
revoke execute on function app_private.remember_device(uuid, bytea, bytea, interval, integer) from public;
comment on function app_private.remember_device(uuid, bytea, bytea, interval, integer) is E'After a successful authentication: keeps the presented device token (true) when it is the user''s own and alive, else stores the new one (false); keeps at most p_keep live tokens per user.';
grant execute on function app_private.remember_device(uuid, bytea, bytea, interval, integer) to tenantry_app;

create function app_private.device_recognised(p_email text, p_token_hash bytea, p_lifetime interval)
  returns boolean
  language sql stable security definer
  set search_path to pg_catalog, pg_temp
as $$
  select exists (
    select from app_private.devices d
    join app_public.users u on u.id = d.user_id
    where d.token_hash = p_token_hash and u.email = pg_catalog.lower(p_email)
      and d.last_used_at > pg_catalog.now() - p_lifetime
  )
$$;
revoke execute on function app_private.device_recognised(text, bytea, interval) from public;
comment on function app_private.device_recognised(text, bytea, interval) is E'Whether a device token belongs to the account of this email and is alive: such a password check is exempt from the per-account cap. Answers only yes or no, before any password is checked.';
grant execute on function app_private.device_recognised(text, bytea, interval) to tenantry_app;
