--! Previous: sha1:671b0a4961fe7b9482705cf933c8c71028a6decc
--! Hash: sha1:d09dcd949b7ecdeba29424e19610279b5c378acd
--! Message: sessions: open_session's comment says what it does without a slug

/*
 * 1000 — sessions: the catalog says what open_session really does without a slug.
 *
 * The comment said "or their first"; since the baseline it skips suspended tenants.
 */
comment on function app_private.open_session(uuid, text, bytea, interval) is
  E'Starts a refresh-token family for a user in one of their tenants: by slug, or else the first they joined that is not suspended. TN401: not a member; TNSUS: suspended (the slug named a suspended tenant, or every tenant is).';
