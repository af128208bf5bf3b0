-- 013_client_key_trust.sql - what custodians need to trust a requester's
-- client key, and accounts that only machines use (issue 11; docs/protocol.md
-- section 8, docs/threat-model.md "A hostile server and the confirmation").
--
-- Nothing here is secret.

-- Service accounts: used by automation with API tokens only.  An admin may
-- mint API tokens for them (POST /v1/tokens {"user": ...}) and for no other
-- account but their own; they have no usable password (a random hash
-- nobody knows: they cannot log in), and never hold a share.  Set when the
-- account is made; never changed afterwards (no route changes it).
ALTER TABLE users ADD COLUMN service boolean NOT NULL DEFAULT false;
ALTER TABLE users ADD CONSTRAINT users_service_not_custodian
  CHECK (NOT (service AND role = 'custodian'));
GRANT UPDATE (service) ON users TO keyescrow_app;

-- Every client key a user ever registered, for custodians to judge a key's
-- age and history (GET /v1/retrievals/{id}: requester_key).  The current key
-- is the one row of a user with replaced IS NULL (client_keys holds it too,
-- as before).  Rows are never deleted.
CREATE TABLE client_key_history (
  id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id      bigint      NOT NULL REFERENCES users (id),
  public_key   bytea       NOT NULL CHECK (length(public_key) = 32),
  fingerprint  text        NOT NULL CHECK (fingerprint ~ '^[0-9a-f]{64}$'),
  registered   timestamptz NOT NULL DEFAULT now(),
  replaced     timestamptz,
  CHECK (replaced IS NULL OR replaced >= registered)
);
CREATE UNIQUE INDEX client_key_history_current ON client_key_history (user_id)
  WHERE replaced IS NULL;
CREATE INDEX client_key_history_user ON client_key_history (user_id, registered);
COMMENT ON TABLE client_key_history IS 'Every registered client key, with its dates';
INSERT INTO client_key_history (user_id, public_key, fingerprint, registered)
  SELECT user_id, public_key, fingerprint, created FROM client_keys;
REVOKE ALL ON client_key_history FROM PUBLIC;
GRANT SELECT, INSERT ON client_key_history TO keyescrow_app;
GRANT UPDATE (replaced) ON client_key_history TO keyescrow_app;

-- What a custodian needs to verify the requester's signature itself: how
-- the request named the record (exactly as signed: NULL = not given) and
-- the public key that signed it.  Requests stored before this migration
-- have NULL key_public: custodians refuse them (they carry no verifiable
-- signature), and they expire within retrieval_expiry.
ALTER TABLE retrievals
  ADD COLUMN named_device text CHECK (octet_length(named_device) BETWEEN 1 AND 255),
  ADD COLUMN named_volume text CHECK (named_volume ~ '^[A-Za-z0-9._:-]{1,128}$'),
  ADD COLUMN named_key_id text CHECK (named_key_id ~ '^[ -~]{4,64}$'),
  ADD COLUMN key_public   bytea CHECK (length(key_public) = 32);
