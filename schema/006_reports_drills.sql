-- 006_reports_drills.sql - what the compliance reports need
-- (server/srv_ep_reports.c, docs/api.yaml /v1/reports/coverage).
--
-- The coverage report aggregates every device's current records (state
-- active or disclosed) in one pass.  This partial index holds exactly
-- those rows, ordered by device, with every column the report reads: the
-- pass is an index-only scan feeding a streaming group aggregate that is
-- merge-joined to devices by primary key, with no heap access, no hash
-- table and no sort.  Superseded history (most rows, in time) is not in
-- it.  The price: a check-in's observation update cannot be a HOT update
-- (its columns are indexed here), which at one check-in per device and
-- day is small next to a report that stays fast at 100,000 devices
-- (bench/reports).
CREATE INDEX escrow_records_coverage ON escrow_records (device_id)
  INCLUDE (key_type, escrow_fingerprint, state, last_verifier_match, last_verifier_at,
           last_unlock_check, last_unlock_at)
  WHERE state IN ('active', 'disclosed');

-- Custodian health (escrowctl share attest, docs/protocol.md "Share
-- attestation"): the server issues a one-time challenge to a custodian
-- account, and the custodian answers with a proof of knowledge of d_i for
-- Q_i of the current escrow key, bound to that challenge.  A challenge is
-- used at most once, whether the proof holds or not.
CREATE TABLE custodian_challenges (
  id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_name    text        NOT NULL CHECK (octet_length(user_name) BETWEEN 1 AND 128),
  share_index  smallint    NOT NULL CHECK (share_index BETWEEN 1 AND 255),
  fingerprint  text        NOT NULL REFERENCES escrow_keys (fingerprint),
  nonce        bytea       NOT NULL CHECK (length(nonce) = 32),
  created      timestamptz NOT NULL DEFAULT now(),
  expires      timestamptz NOT NULL,
  used         timestamptz,
  CHECK (expires > created)
);
CREATE INDEX custodian_challenges_expires ON custodian_challenges (expires);
COMMENT ON TABLE custodian_challenges IS 'One-time share attestation challenges';

-- Proofs that held: which share of which escrow key was shown to be held,
-- by whom, when.  History: never deleted or changed.
CREATE TABLE custodian_attestations (
  id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  challenge_id  bigint      NOT NULL UNIQUE REFERENCES custodian_challenges (id),
  fingerprint   text        NOT NULL REFERENCES escrow_keys (fingerprint),
  share_index   smallint    NOT NULL CHECK (share_index BETWEEN 1 AND 255),
  user_name     text        NOT NULL CHECK (octet_length(user_name) BETWEEN 1 AND 128),
  created       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX custodian_attestations_share
  ON custodian_attestations (fingerprint, share_index, created);
CREATE TRIGGER custodian_attestations_no_update
  BEFORE UPDATE OR DELETE ON custodian_attestations
  FOR EACH ROW EXECUTE FUNCTION keyescrow_append_only();
CREATE TRIGGER custodian_attestations_no_truncate
  BEFORE TRUNCATE ON custodian_attestations
  FOR EACH STATEMENT EXECUTE FUNCTION keyescrow_append_only();
COMMENT ON TABLE custodian_attestations IS 'Share attestations that verified';

REVOKE ALL ON custodian_challenges, custodian_attestations FROM PUBLIC;
GRANT SELECT, INSERT ON custodian_challenges, custodian_attestations TO keyescrow_app;
GRANT UPDATE (used) ON custodian_challenges TO keyescrow_app;
