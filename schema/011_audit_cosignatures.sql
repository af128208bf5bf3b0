-- 011: witness cosignatures of audit checkpoints (c2sp.org/tlog-cosignature).
--
-- An external witness (c2sp.org/tlog-witness) checks that each checkpoint
-- extends the last one it saw and adds its own signature line.  Whoever
-- relays checkpoints to the witness posts the cosigned note back
-- (POST /v1/audit/cosignatures); escrowd keeps the lines here and serves
-- them with their checkpoint (GET /v1/audit/checkpoint/cosigned), so that
-- clients configured with the witness's key can require its cosignature.
-- The server does not verify them (it is not told the witnesses' keys):
-- the clients do.  A line is public data.
CREATE TABLE audit_cosignatures (
  tree_size bigint      NOT NULL REFERENCES audit_checkpoints (tree_size),
  witness   text        NOT NULL CHECK (length(witness) BETWEEN 1 AND 255),
  line      text        NOT NULL CHECK (length(line) BETWEEN 1 AND 1024),
  created   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tree_size, line)
);
COMMENT ON TABLE audit_cosignatures IS
  'Append-only: witness cosignature lines (C2SP tlog-cosignature) of audit checkpoints';
CREATE TRIGGER audit_cosignatures_no_update_delete
  BEFORE UPDATE OR DELETE ON audit_cosignatures
  FOR EACH ROW EXECUTE FUNCTION keyescrow_append_only();
CREATE TRIGGER audit_cosignatures_no_truncate
  BEFORE TRUNCATE ON audit_cosignatures
  FOR EACH STATEMENT EXECUTE FUNCTION keyescrow_append_only();
REVOKE ALL ON audit_cosignatures FROM PUBLIC;
GRANT SELECT, INSERT ON audit_cosignatures TO keyescrow_app;
