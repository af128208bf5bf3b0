-- 014_drill_close.sql - what follows a drill (docs/operations.md "Drills",
-- docs/threat-model.md finding 2):
--
-- * Parts are deleted when the drill closes: in the transaction that stores
--   its result, or by `escrowd maintenance` once it expired (state
--   'expired').  A part is a d_i*R sealed to the auditor's one-time key:
--   kept, it turns one auditor laptop plus any database backup into every
--   drilled key.  The snapshot (ciphertext and public values) stays as
--   history; the counts of what was deleted stay with the drill.
-- * A full drill discloses its records as a retrieval does: once a
--   custodian's batch is stored, every current record of the snapshot is
--   'disclosed' with disclosed_drill naming the drill, and the device's
--   next check-in answers rotate "disclosed".
-- * A canary drill (mode 'canary', selection 'canary:N') tests only canary
--   records: envelopes the auditor sealed to the escrow key with secrets it
--   knows, with a proof of knowledge of each envelope's R (canary_proof),
--   never attached to a device.  It discloses nothing.

ALTER TABLE drills
  ADD COLUMN mode          text        NOT NULL DEFAULT 'full' CHECK (mode IN ('full', 'canary')),
  -- the server's deadline (drill_expiry after the start); an expiry the
  -- auditor signs can only be earlier
  ADD COLUMN open_until    timestamptz,
  ADD COLUMN parts_purged  timestamptz,
  ADD COLUMN parts_deleted bigint      CHECK (parts_deleted >= 0),
  -- the custodian indices that contributed, kept when their parts go
  ADD COLUMN custodians    smallint[],
  ADD COLUMN disclosed     bigint      CHECK (disclosed >= 0);
-- Drills of earlier releases: the default drill_expiry after their start.
UPDATE drills SET open_until = created + interval '7 days';
ALTER TABLE drills ALTER COLUMN open_until SET NOT NULL,
  ADD CONSTRAINT drills_open_until CHECK (open_until > created),
  DROP CONSTRAINT drills_state_check,
  ADD CONSTRAINT drills_state_check CHECK (state IN ('open', 'done', 'expired')),
  DROP CONSTRAINT drills_selection_check,
  ADD CONSTRAINT drills_selection_check CHECK (selection ~
    '^(all|sample:[1-9][0-9]{0,5}|group:[A-Za-z0-9][A-Za-z0-9._:-]{0,63}|canary:[1-9][0-9]{0,2})$'),
  ADD CONSTRAINT drills_mode_selection CHECK ((mode = 'canary') = (selection LIKE 'canary:%'));
CREATE INDEX drills_open_until ON drills (open_until) WHERE state = 'open';

-- A snapshot row is a current escrow record, or a canary of the drill
-- (canary_proof set) whose id is no escrow record's: the foreign key to
-- escrow_records becomes this check, made at insert (rows never change).
ALTER TABLE drill_records
  ADD COLUMN canary_proof bytea CHECK (length(canary_proof) = 97),
  DROP CONSTRAINT drill_records_record_id_fkey;
CREATE FUNCTION keyescrow_drill_record_check() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path = pg_catalog, public
AS $$
BEGIN
  IF (NEW.canary_proof IS NULL) <> EXISTS (SELECT 1 FROM escrow_records WHERE id = NEW.record_id)
  THEN
    RAISE EXCEPTION 'drill record %: a real record must exist, a canary must not',
      NEW.record_id USING ERRCODE = 'foreign_key_violation';
  END IF;
  RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION keyescrow_drill_record_check() FROM PUBLIC;
CREATE TRIGGER drill_records_check
  BEFORE INSERT ON drill_records
  FOR EACH ROW EXECUTE FUNCTION keyescrow_drill_record_check();

-- Parts: still never changed; deleted only once their drill is closed,
-- whoever asks (the owner included).
DROP TRIGGER drill_parts_no_update ON drill_parts;
CREATE TRIGGER drill_parts_no_update
  BEFORE UPDATE ON drill_parts
  FOR EACH ROW EXECUTE FUNCTION keyescrow_append_only();
CREATE FUNCTION keyescrow_drill_parts_delete() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path = pg_catalog, public
AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM gone g JOIN drills d ON d.id = g.drill_id WHERE d.state = 'open') THEN
    RAISE EXCEPTION 'drill parts are deleted only when their drill is closed'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION keyescrow_drill_parts_delete() FROM PUBLIC;
CREATE TRIGGER drill_parts_delete
  AFTER DELETE ON drill_parts REFERENCING OLD TABLE AS gone
  FOR EACH STATEMENT EXECUTE FUNCTION keyescrow_drill_parts_delete();

-- The audit leaf of each canary's escrow.store event, learnt right after
-- the drill's creation commits (as a record's leaf_index is): custodians
-- prove canaries in the log like escrowed records.  History: never changed.
CREATE TABLE drill_canary_leaves (
  drill_id    text   NOT NULL,
  record_id   text   NOT NULL,
  leaf_index  bigint NOT NULL CHECK (leaf_index >= 0),
  PRIMARY KEY (drill_id, record_id),
  FOREIGN KEY (drill_id, record_id) REFERENCES drill_records (drill_id, record_id)
);
CREATE TRIGGER drill_canary_leaves_no_update
  BEFORE UPDATE OR DELETE ON drill_canary_leaves
  FOR EACH ROW EXECUTE FUNCTION keyescrow_append_only();
COMMENT ON TABLE drill_canary_leaves IS 'Audit leaves of canary drills'' escrow events';

ALTER TABLE escrow_records
  ADD COLUMN disclosed_drill text REFERENCES drills (id);

REVOKE ALL ON drill_canary_leaves FROM PUBLIC;
GRANT SELECT, INSERT ON drill_canary_leaves TO keyescrow_app;
GRANT DELETE ON drill_parts TO keyescrow_app;
GRANT UPDATE (parts_purged, parts_deleted, custodians, disclosed) ON drills TO keyescrow_app;
GRANT UPDATE (disclosed_drill) ON escrow_records TO keyescrow_app;
