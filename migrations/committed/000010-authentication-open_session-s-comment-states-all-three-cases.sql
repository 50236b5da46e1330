--! Previous: sha1:0458312b94d1c79bab79273a6262427fab7d5872
--! Hash: sha1:12d86df403d0f08aa503b26caae07fb19702cfa1
--! Message: authentication: open_session's comment states all three cases again

--! split: 2200-open-session-comment.sql
/*
 * 2200 — authentication: open_session's comment says what it does, once more.
 *
 * 000003 corrected this comment (without a slug it skips suspended tenants); 000004 then replaced
 * the function and set the old wording again ("or their first"), adding the tenantless case. The
 * catalog is what a DBA reads: this states all three cases.
 */
comment on function app_private.open_session(uuid, text, bytea, interval) is
  E'Starts a refresh-token family for a user: in the tenant named by the slug, or else in the first tenant they joined that is not suspended (if every one is, the first, and TNSUS); a user with no tenant at all gets a tenantless session (tenant_id NULL). TN401: the slug names none of the user''s tenants; TNSUS: the tenant is suspended.';
