-- 004_devices.sql - escrow keys, enrolment tokens, devices, their escrow
-- records, and the nonces of signed agent requests (docs/agent-protocol.md).
--
-- Nothing here is secret: envelopes are ciphertext sealed to the offline
-- escrow key, verifiers are HMACs keyed by the (high-entropy) recovery key,
-- enrolment tokens are stored as SHA-256 only.  Still, the application role
-- gets exactly the privileges its statements need, and escrow records are
-- history: never deleted, their content never rewritten.

-- Published escrow manifests (docs/protocol.md), by fingerprint (hex).
-- Exactly one is 'current' (what agents seal to); 'accepted' keys are still
-- taken for new uploads during a move to a new key; 'retired' ones are not,
-- but their records stay (they open with the old shares).  The manifest is
-- stored as written by ke_manifest_write() after a full parse, so what is
-- served was validated and its fingerprint recomputed.
CREATE TABLE escrow_keys (
  fingerprint   text        PRIMARY KEY CHECK (fingerprint ~ '^[0-9a-f]{64}$'),
  manifest      text        NOT NULL CHECK (octet_length(manifest) BETWEEN 2 AND 262144),
  threshold     smallint    NOT NULL CHECK (threshold BETWEEN 1 AND 255),
  shares        smallint    NOT NULL CHECK (shares BETWEEN 1 AND 255),
  state         text        NOT NULL CHECK (state IN ('current', 'accepted', 'retired')),
  created       timestamptz NOT NULL DEFAULT now(),
  created_by    text        NOT NULL CHECK (octet_length(created_by) BETWEEN 1 AND 200),
  state_changed timestamptz NOT NULL DEFAULT now(),
  CHECK (threshold <= shares)
);
CREATE UNIQUE INDEX escrow_keys_one_current ON escrow_keys ((true)) WHERE state = 'current';
COMMENT ON TABLE escrow_keys IS 'Published escrow manifests; one current';

-- Enrolment tokens: "ket_" + 43 base64url characters, shown once; only
-- SHA-256(token text) is kept.  A use is taken by each enrolment.
CREATE TABLE enrollment_tokens (
  id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  token_hash  bytea       NOT NULL UNIQUE CHECK (length(token_hash) = 32),
  group_name  text        NOT NULL CHECK (group_name ~ '^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$'),
  uses_max    integer     NOT NULL CHECK (uses_max BETWEEN 1 AND 1000000),
  uses_left   integer     NOT NULL CHECK (uses_left >= 0 AND uses_left <= uses_max),
  expires     timestamptz NOT NULL,
  created     timestamptz NOT NULL DEFAULT now(),
  created_by  text        NOT NULL CHECK (octet_length(created_by) BETWEEN 1 AND 200),
  revoked     timestamptz,
  revoked_by  text        CHECK (octet_length(revoked_by) BETWEEN 1 AND 200),
  CHECK (expires > created),
  CHECK ((revoked IS NULL) = (revoked_by IS NULL))
);
COMMENT ON TABLE enrollment_tokens IS 'Enrolment tokens, stored as SHA-256 only';

-- Enrolled devices.  public_key is the raw Ed25519 key that signs every
-- agent request; a disabled device's requests are refused.
CREATE TABLE devices (
  id                 text        PRIMARY KEY CHECK (id ~ '^dev-[a-z2-7]{26}$'),
  public_key         bytea       NOT NULL UNIQUE CHECK (length(public_key) = 32),
  hostname           text        NOT NULL CHECK (octet_length(hostname) BETWEEN 1 AND 255
                                                 AND hostname !~ '[[:cntrl:]]'),
  serial             text        NOT NULL CHECK (octet_length(serial) <= 128
                                                 AND serial !~ '[[:cntrl:]]'),
  os                 text        NOT NULL CHECK (octet_length(os) BETWEEN 1 AND 128
                                                 AND os !~ '[[:cntrl:]]'),
  hardware           jsonb       NOT NULL DEFAULT '{}'
                                 CHECK (jsonb_typeof(hardware) = 'object'
                                        AND octet_length(hardware::text) <= 8192),
  group_name         text        NOT NULL CHECK (group_name ~ '^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$'),
  enrollment_token   bigint      NOT NULL REFERENCES enrollment_tokens (id),
  enrolled           timestamptz NOT NULL DEFAULT now(),
  last_checkin       timestamptz,
  agent_version      text        CHECK (agent_version ~ '^[ -~]{1,64}$'),
  -- what the agent said about the announced escrow key ('pinned' or
  -- 'unpinned': see docs/agent-protocol.md section 5)
  escrow_key_status  text        CHECK (escrow_key_status IN ('pinned', 'unpinned')),
  disabled           boolean     NOT NULL DEFAULT false
);
-- Helpdesk search: prefixes of hostname and serial, case-insensitive.
CREATE INDEX devices_hostname ON devices (lower(hostname) text_pattern_ops);
CREATE INDEX devices_serial ON devices (lower(serial) text_pattern_ops);
CREATE INDEX devices_enrollment_token ON devices (enrollment_token);
COMMENT ON TABLE devices IS 'Enrolled devices and their Ed25519 request keys';

-- Escrow records: one uploaded envelope each, the history of every volume.
-- The current record of a volume is the one in state 'active' or
-- 'disclosed' (retrieved: the next check-in asks the agent to rotate); a
-- new upload makes it 'superseded' (or 'rotated' if it had been
-- disclosed).  envelope_sha256 makes a re-upload of the same envelope
-- idempotent.  leaf_index is the audit leaf of its escrow.store event, set
-- right after commit (NULL only in the moment between the two).
CREATE TABLE escrow_records (
  id                   text        PRIMARY KEY CHECK (id ~ '^rec-[a-z2-7]{26}$'),
  device_id            text        NOT NULL REFERENCES devices (id),
  volume_id            text        NOT NULL CHECK (volume_id ~ '^[A-Za-z0-9._:-]{1,128}$'),
  key_type             text        NOT NULL
                                   CHECK (key_type IN ('bitlocker', 'filevault', 'luks', 'other')),
  key_id               text        NOT NULL CHECK (key_id ~ '^[ -~]{1,128}$'),
  -- "KE" 01 | fpr | R | nonce | ciphertext (16..1024) | tag
  envelope             bytea       NOT NULL CHECK (length(envelope) BETWEEN 112 AND 1120),
  envelope_sha256      text        NOT NULL CHECK (envelope_sha256 ~ '^[0-9a-f]{64}$'),
  escrow_fingerprint   text        NOT NULL REFERENCES escrow_keys (fingerprint),
  verifier             bytea       NOT NULL CHECK (length(verifier) = 32),
  agent_signature      bytea       NOT NULL CHECK (length(agent_signature) = 64),
  state                text        NOT NULL DEFAULT 'active'
                                   CHECK (state IN ('active', 'superseded', 'disclosed', 'rotated')),
  created              timestamptz NOT NULL DEFAULT now(),
  superseded_at        timestamptz,
  -- deferred: the new record is inserted after the old one is superseded
  superseded_by        text        REFERENCES escrow_records (id) DEFERRABLE INITIALLY DEFERRED,
  leaf_index           bigint      CHECK (leaf_index >= 0),
  last_verifier_match  boolean,
  last_verifier_at     timestamptz,
  last_unlock_check    text        CHECK (last_unlock_check IN ('ok', 'failed', 'unsupported')),
  last_unlock_at       timestamptz,
  CHECK ((state IN ('superseded', 'rotated')) = (superseded_at IS NOT NULL)),
  UNIQUE (device_id, volume_id, envelope_sha256)
);
CREATE UNIQUE INDEX escrow_records_current ON escrow_records (device_id, volume_id)
  WHERE state IN ('active', 'disclosed');
CREATE INDEX escrow_records_device ON escrow_records (device_id, created);
-- A BitLocker recovery screen shows the first 8 hex digits of the protector
-- id "{8F3A2B1C-...}": search ignores the brace and the case.
CREATE INDEX escrow_records_key_id ON escrow_records (lower(ltrim(key_id, '{')) text_pattern_ops);
COMMENT ON TABLE escrow_records IS
  'Sealed envelopes (ciphertext only); history, never deleted';

-- What an escrow record is can never change once written: only its state
-- and the observations about it (verifier match, unlock check, leaf index
-- once known) may.  This holds for every role, the owner included.
CREATE FUNCTION keyescrow_records_immutable() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path = pg_catalog
AS $$
BEGIN
  IF NEW.id <> OLD.id OR NEW.device_id <> OLD.device_id OR NEW.volume_id <> OLD.volume_id
     OR NEW.key_type <> OLD.key_type OR NEW.key_id <> OLD.key_id
     OR NEW.envelope <> OLD.envelope OR NEW.envelope_sha256 <> OLD.envelope_sha256
     OR NEW.escrow_fingerprint <> OLD.escrow_fingerprint OR NEW.verifier <> OLD.verifier
     OR NEW.agent_signature <> OLD.agent_signature OR NEW.created <> OLD.created
     OR (OLD.leaf_index IS NOT NULL AND NEW.leaf_index IS DISTINCT FROM OLD.leaf_index)
     OR (OLD.state IN ('superseded', 'rotated') AND NEW.state <> OLD.state) THEN
    RAISE EXCEPTION 'escrow record % may only change its state and observations', OLD.id
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION keyescrow_records_immutable() FROM PUBLIC;
CREATE TRIGGER escrow_records_immutable
  BEFORE UPDATE ON escrow_records
  FOR EACH ROW EXECUTE FUNCTION keyescrow_records_immutable();
CREATE TRIGGER escrow_records_no_delete
  BEFORE DELETE ON escrow_records
  FOR EACH ROW EXECUTE FUNCTION keyescrow_append_only();
CREATE TRIGGER escrow_records_no_truncate
  BEFORE TRUNCATE ON escrow_records
  FOR EACH STATEMENT EXECUTE FUNCTION keyescrow_append_only();

-- Nonces of signed agent requests, kept for twice the clock-skew window:
-- a request whose (device, nonce) is here already is a replay.  Each signed
-- request removes its own device's expired rows; enrolments sweep a batch
-- of everyone's.
CREATE TABLE request_nonces (
  device_id  text        NOT NULL REFERENCES devices (id),
  nonce      text        NOT NULL CHECK (nonce ~ '^[A-Za-z0-9_-]{22}$'),
  expires    timestamptz NOT NULL,
  PRIMARY KEY (device_id, nonce)
);
CREATE INDEX request_nonces_expires ON request_nonces (expires);
COMMENT ON TABLE request_nonces IS 'Replay protection of signed agent requests';

REVOKE ALL ON escrow_keys, enrollment_tokens, devices, escrow_records, request_nonces
  FROM PUBLIC;
GRANT SELECT, INSERT ON escrow_keys TO keyescrow_app;
GRANT UPDATE (state, state_changed) ON escrow_keys TO keyescrow_app;
GRANT SELECT, INSERT ON enrollment_tokens TO keyescrow_app;
GRANT UPDATE (uses_left, revoked, revoked_by) ON enrollment_tokens TO keyescrow_app;
GRANT SELECT, INSERT ON devices TO keyescrow_app;
GRANT UPDATE (last_checkin, agent_version, escrow_key_status) ON devices TO keyescrow_app;
GRANT SELECT, INSERT ON escrow_records TO keyescrow_app;
GRANT UPDATE (state, superseded_at, superseded_by, leaf_index, last_verifier_match,
              last_verifier_at, last_unlock_check, last_unlock_at)
  ON escrow_records TO keyescrow_app;
GRANT SELECT, INSERT, DELETE ON request_nonces TO keyescrow_app;
