--! Previous: sha1:302612330e38e8b99cc304174435423a5eb89d97
--! Hash: sha1:671b0a4961fe7b9482705cf933c8c71028a6decc
--! Message: activities: the broadcast message limit is the API's limit

/*
 * 3010 — activities: the broadcast message limit is the API's limit.
 *
 * The API allowed 1,000 characters while the table allowed 4,000 bytes of the whole payload
 * as JSON text, so a message of 1,000 control characters (6 bytes each once escaped) passed
 * validation and then failed here with a 400 that named no field. Now the table states the
 * same rule as the request schema (test/shared-lists.test.ts compares them): a broadcast's
 * payload is exactly {message} with 1 to 1,000 characters. The 4,000-byte cap stays for the
 * payloads that triggers write.
 */
alter table app_public.activities drop constraint activities_payload_check;
alter table app_public.activities
  add constraint activities_payload_is_object check (jsonb_typeof(payload) = 'object'),
  add constraint activities_trigger_payload_size check (type = 'BROADCAST_MESSAGE' or octet_length(payload::text) <= 4000),
  add constraint activities_broadcast_message check (
    type <> 'BROADCAST_MESSAGE'
    or (
      jsonb_typeof(payload -> 'message') = 'string'
      and payload - 'message' = '{}'::jsonb
      and char_length(payload ->> 'message') between 1 and 1000
    )
  );
comment on constraint activities_broadcast_message on app_public.activities is
  E'A broadcast is {message} of 1 to 1000 characters: the same rule as POST /v1/tenant/broadcasts.';
comment on constraint activities_trigger_payload_size on app_public.activities is
  E'Payloads written by triggers stay under 4000 bytes; NOTIFY carries ids only, whatever their size.';
