-- 015_drill_statement.sql - the drill statement the auditor signs once the
-- snapshot exists (docs/protocol.md section 9, "Statement"), and long-polls
-- on a drill's parts.
--
-- Custodians act only on a drill whose statement - selection, mode, E, the
-- digest of the record list (record ids and envelope digests), expiry - is
-- signed by the auditor's client key, which they pinned out of band.  The
-- server keeps the statement, its signature and the public key that made
-- it (the auditor may register another key later; the statement stays
-- checkable with the one that signed).  Nothing here is secret.
ALTER TABLE drills
  ADD COLUMN statement     text        CHECK (octet_length(statement) <= 512),
  ADD COLUMN statement_sig bytea       CHECK (length(statement_sig) = 64),
  ADD COLUMN auditor_key   bytea       CHECK (length(auditor_key) = 32),
  ADD COLUMN expires       timestamptz,
  ADD CONSTRAINT drills_statement_whole CHECK
    ((statement IS NULL) = (statement_sig IS NULL) AND
     (statement IS NULL) = (auditor_key IS NULL) AND
     (statement IS NULL) = (expires IS NULL));
GRANT UPDATE (statement, statement_sig, auditor_key, expires) ON drills TO keyescrow_app;

-- A batch of parts wakes the auditor's `drill run` waiting on
-- GET /v1/drills/{id}/status?wait= at any escrowd instance (009's channel;
-- the payload is the drill id).  One notification per batch: a statement
-- trigger over the inserted rows.
CREATE FUNCTION keyescrow_drill_parts_notify() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path = pg_catalog
AS $$
BEGIN
  PERFORM pg_notify('keyescrow_longpoll', d.drill_id)
    FROM (SELECT DISTINCT drill_id FROM new_parts) AS d;
  RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION keyescrow_drill_parts_notify() FROM PUBLIC;
CREATE TRIGGER drill_parts_longpoll
  AFTER INSERT ON drill_parts REFERENCING NEW TABLE AS new_parts
  FOR EACH STATEMENT EXECUTE FUNCTION keyescrow_drill_parts_notify();
