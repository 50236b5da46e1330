--! Previous: sha1:1ea69beca92980917449ac0c7877060e10cb094f
--! Hash: sha1:27fac7b68a696e56a16eeace21f1d6af0fe5c514
--! Message: sessions: session_standing runs with a pinned search_path

--! split: 2300-session-standing-search-path.sql
/*
 * 2300 — sessions: session_standing runs with a pinned search_path, as every function here does.
 *
 * 000011 created it as plain SQL without one (splinter: functionSearchPathMutable). Its body names
 * every object with its schema; the pinned path keeps an operator or type lookup from resolving
 * through a schema the caller put first.
 */
alter function app_private.session_standing(uuid[]) set search_path to pg_catalog, pg_temp;
