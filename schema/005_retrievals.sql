-- 005_retrievals.sql - online M-of-N retrieval (docs/protocol.md, "online
-- retrieval"): helpdesk client keys, retrieval requests and the sealed
-- parts custodians contribute to them.
--
-- Nothing here is secret.  A part is sealed to the requester's one-time key
-- E (only the requester can open it); the server never sees P_i, e or the
-- recovery key.  Requests and parts are history: never deleted, and what
-- was asked for or contributed never rewritten.

-- Who a person is, across accounts: one human may hold a helpdesk account
-- and a custodian account, and must not contribute a part to their own
-- request.  Set by administrators; NULL = the account stands alone.
ALTER TABLE users ADD COLUMN person text
  CHECK (person ~ '^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$');
GRANT UPDATE (person) ON users TO keyescrow_app;

-- The Ed25519 key with which a helpdesk user signs retrieval requests
-- (escrowctl key register).  One per user; registering again replaces it
-- (and is audited with the new fingerprint).
CREATE TABLE client_keys (
  user_id     bigint      PRIMARY KEY REFERENCES users (id),
  public_key  bytea       NOT NULL CHECK (length(public_key) = 32),
  fingerprint text        NOT NULL CHECK (fingerprint ~ '^[0-9a-f]{64}$'),
  created     timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE client_keys IS 'Ed25519 public keys that sign retrieval requests';

-- Retrieval requests.  The id is chosen by the client (so that it can sign
-- the request statement, which names it, before the server has seen it);
-- E is the requester's one-time P-256 public key; signature is the client
-- key's Ed25519 signature of the statement (docs/protocol.md).  state:
-- pending -> completed (T parts stored: the record is then disclosed) or
-- expired.
CREATE TABLE retrievals (
  id            text        PRIMARY KEY CHECK (id ~ '^req-[a-z2-7]{26}$'),
  record_id     text        NOT NULL REFERENCES escrow_records (id),
  requester_id  bigint      NOT NULL REFERENCES users (id),
  e_point       bytea       NOT NULL CHECK (length(e_point) = 33),
  reason        text        NOT NULL CHECK (octet_length(reason) BETWEEN 1 AND 500
                                            AND reason !~ '[[:cntrl:]]'),
  ticket        text        NOT NULL CHECK (ticket ~ '^[ -~]{1,128}$'),
  nonce         text        NOT NULL CHECK (nonce ~ '^[A-Za-z0-9_-]{22}$'),
  signature     bytea       NOT NULL CHECK (length(signature) = 64),
  key_fpr       text        NOT NULL CHECK (key_fpr ~ '^[0-9a-f]{64}$'),
  code          text        NOT NULL CHECK (code ~ '^[A-Z2-7]{8}$'),
  threshold     smallint    NOT NULL CHECK (threshold BETWEEN 1 AND 255),
  state         text        NOT NULL DEFAULT 'pending'
                            CHECK (state IN ('pending', 'completed', 'expired')),
  created       timestamptz NOT NULL DEFAULT now(),
  expires       timestamptz NOT NULL,
  closed        timestamptz,
  CHECK (expires > created),
  CHECK ((state = 'pending') = (closed IS NULL))
);
CREATE INDEX retrievals_state ON retrievals (state, created);
CREATE INDEX retrievals_requester ON retrievals (requester_id, created);
COMMENT ON TABLE retrievals IS 'Online retrieval requests (no secrets)';

-- One sealed part per custodian index and request.
CREATE TABLE retrieval_parts (
  retrieval_id    text        NOT NULL REFERENCES retrievals (id),
  custodian_index smallint    NOT NULL CHECK (custodian_index BETWEEN 1 AND 255),
  custodian_id    bigint      NOT NULL REFERENCES users (id),
  part            bytea       NOT NULL CHECK (length(part) = 161),
  created         timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (retrieval_id, custodian_index)
);
COMMENT ON TABLE retrieval_parts IS 'Parts sealed to the requester''s one-time key';

CREATE TRIGGER retrieval_parts_no_update
  BEFORE UPDATE OR DELETE ON retrieval_parts
  FOR EACH ROW EXECUTE FUNCTION keyescrow_append_only();

-- Webhook notifications, delivered by escrowd's worker (srv_webhook.c):
-- one row per event and configured URL, written in the transaction of the
-- change it reports (so nothing is announced that did not commit, and
-- nothing committed is lost), then POSTed with retries and backoff.  The
-- payload is public metadata only: ids, states, counts.
CREATE TABLE webhook_outbox (
  id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  url           text        NOT NULL CHECK (url ~ '^https?://[!-~]+$' AND octet_length(url) <= 508),
  event         text        NOT NULL CHECK (event ~ '^[a-z]+[.][a-z]+$'),
  payload       text        NOT NULL CHECK (octet_length(payload) BETWEEN 2 AND 8192),
  created       timestamptz NOT NULL DEFAULT now(),
  attempts      integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  next_attempt  timestamptz NOT NULL DEFAULT now(),
  delivered     timestamptz,
  failed        timestamptz,
  last_error    text        CHECK (octet_length(last_error) <= 300)
);
CREATE INDEX webhook_outbox_due ON webhook_outbox (next_attempt)
  WHERE delivered IS NULL AND failed IS NULL;
COMMENT ON TABLE webhook_outbox IS 'Webhook deliveries (public metadata only)';

REVOKE ALL ON client_keys, retrievals, retrieval_parts, webhook_outbox FROM PUBLIC;
GRANT SELECT, INSERT ON webhook_outbox TO keyescrow_app;
GRANT UPDATE (attempts, next_attempt, delivered, failed, last_error) ON webhook_outbox
  TO keyescrow_app;
GRANT SELECT, INSERT, UPDATE ON client_keys TO keyescrow_app;
GRANT SELECT, INSERT ON retrievals TO keyescrow_app;
GRANT UPDATE (state, closed) ON retrievals TO keyescrow_app;
GRANT SELECT, INSERT ON retrieval_parts TO keyescrow_app;
