-- 019_time_text.sql - one spelling of a timestamp in API answers.
--
-- Every time escrowd returns is RFC 3339 UTC with whole seconds
-- ("2026-12-03T21:29:20Z").  The statements of server/srv_db_stmts*.def
-- used to repeat the to_char() expression that makes it; they call this
-- function instead, so that the format is stated once.  IMMUTABLE holds:
-- the zone is fixed (not the session's) and the pattern has no locale part.
CREATE OR REPLACE FUNCTION ke_time(t timestamptz) RETURNS text
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  SET search_path = pg_catalog
AS $$ SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') $$;
