-- 007_drills.sql - backup-integrity drills (docs/protocol.md section 9,
-- "Drills"): an auditor snapshots a set of current escrow records, the
-- custodians contribute one batch of sealed parts each (sealed to the
-- auditor's one-time key E, so only the auditor can open them), and the
-- auditor opens every envelope in memory and posts a signed summary.
--
-- Nothing here is secret: envelopes are ciphertext, parts are sealed to E,
-- and the summary holds counts, record ids and reasons only.  Drills are
-- history: the snapshot and the parts are never rewritten.

-- The drill id is chosen by the auditor's client ("drl-" + 26 base32) so
-- that it can sign the request statement before the server has seen it.
-- selection: 'all', 'sample:N' or 'group:G' (what the auditor signed).
-- state: open -> done (the summary is posted; no more parts).
CREATE TABLE drills (
  id            text        PRIMARY KEY CHECK (id ~ '^drl-[a-z2-7]{26}$'),
  auditor_id    bigint      NOT NULL REFERENCES users (id),
  selection     text        NOT NULL CHECK (selection ~ '^(all|sample:[1-9][0-9]{0,5}|group:[A-Za-z0-9][A-Za-z0-9._:-]{0,63})$'),
  e_point       bytea       NOT NULL CHECK (length(e_point) = 33),
  nonce         text        NOT NULL CHECK (nonce ~ '^[A-Za-z0-9_-]{22}$'),
  signature     bytea       NOT NULL CHECK (length(signature) = 64),
  key_fpr       text        NOT NULL CHECK (key_fpr ~ '^[0-9a-f]{64}$'),
  state         text        NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'done')),
  created       timestamptz NOT NULL DEFAULT now(),
  closed        timestamptz,
  -- the summary the auditor signed (canonical JSON) and its signature
  result        text        CHECK (octet_length(result) <= 1048576),
  result_sig    bytea       CHECK (length(result_sig) = 64),
  CHECK ((state = 'open') = (closed IS NULL)),
  CHECK ((state = 'done') = (result IS NOT NULL AND result_sig IS NOT NULL))
);
CREATE INDEX drills_created ON drills (created);
COMMENT ON TABLE drills IS 'Backup-integrity drills (no secrets)';

-- The snapshot: what each record was when the drill started, so that a
-- rotation during the drill does not change what is being tested.
CREATE TABLE drill_records (
  drill_id      text        NOT NULL REFERENCES drills (id),
  record_id     text        NOT NULL REFERENCES escrow_records (id),
  device_id     text        NOT NULL,
  volume_id     text        NOT NULL,
  key_type      text        NOT NULL,
  escrow_fingerprint text   NOT NULL REFERENCES escrow_keys (fingerprint),
  envelope      bytea       NOT NULL CHECK (length(envelope) BETWEEN 112 AND 1120),
  envelope_sha256 text      NOT NULL CHECK (envelope_sha256 ~ '^[0-9a-f]{64}$'),
  r_point       bytea       NOT NULL CHECK (length(r_point) = 33),
  verifier      bytea       NOT NULL CHECK (length(verifier) = 32),
  PRIMARY KEY (drill_id, record_id)
);
COMMENT ON TABLE drill_records IS 'Snapshot of the records a drill tests';

-- One batch per custodian index and drill: a part per snapshot record.
CREATE TABLE drill_parts (
  drill_id        text        NOT NULL REFERENCES drills (id),
  record_id       text        NOT NULL,
  custodian_index smallint    NOT NULL CHECK (custodian_index BETWEEN 1 AND 255),
  custodian_id    bigint      NOT NULL REFERENCES users (id),
  part            bytea       NOT NULL CHECK (length(part) = 161),
  created         timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (drill_id, custodian_index, record_id),
  FOREIGN KEY (drill_id, record_id) REFERENCES drill_records (drill_id, record_id)
);
COMMENT ON TABLE drill_parts IS 'Drill parts sealed to the auditor''s one-time key';

CREATE TRIGGER drill_records_no_update
  BEFORE UPDATE OR DELETE ON drill_records
  FOR EACH ROW EXECUTE FUNCTION keyescrow_append_only();
CREATE TRIGGER drill_parts_no_update
  BEFORE UPDATE OR DELETE ON drill_parts
  FOR EACH ROW EXECUTE FUNCTION keyescrow_append_only();

REVOKE ALL ON drills, drill_records, drill_parts FROM PUBLIC;
GRANT SELECT, INSERT ON drills, drill_records, drill_parts TO keyescrow_app;
GRANT UPDATE (state, closed, result, result_sig) ON drills TO keyescrow_app;
