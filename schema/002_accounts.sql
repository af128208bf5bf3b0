-- 002_accounts.sql - local accounts, login sessions and API tokens, and the
-- login rate-limit state (kept here so that every escrowd instance sharing
-- the database enforces the same limits).
--
-- Passwords are stored as scrypt(password, salt, N, r, p) with a per-user
-- random salt and the parameters beside them (so the cost can be raised for
-- new hashes without breaking old ones).  Tokens are 256-bit random values;
-- only SHA-256(token) is stored: a fast hash is right for high-entropy
-- secrets, and the lookup by hash leaks no timing about the token itself.

CREATE TABLE users (
  id                  bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name                text        NOT NULL UNIQUE
                                  CHECK (name ~ '^[a-z][a-z0-9._-]{0,62}$'),
  role                text        NOT NULL
                                  CHECK (role IN ('admin', 'helpdesk', 'custodian', 'auditor')),
  -- The Shamir index a custodian holds: a custodian may contribute parts
  -- for that index only, and no two custodians share one.
  custodian_index     smallint    UNIQUE CHECK (custodian_index BETWEEN 1 AND 255),
  pw_salt             bytea       NOT NULL CHECK (length(pw_salt) = 16),
  pw_hash             bytea       NOT NULL CHECK (length(pw_hash) = 32),
  pw_n                integer     NOT NULL CHECK (pw_n >= 2 AND pw_n <= 16777216
                                                  AND (pw_n & (pw_n - 1)) = 0),
  pw_r                integer     NOT NULL CHECK (pw_r BETWEEN 1 AND 64),
  pw_p                integer     NOT NULL CHECK (pw_p BETWEEN 1 AND 64),
  -- A generated (one-time) password must be replaced at the first login.
  pw_must_change      boolean     NOT NULL DEFAULT false,
  disabled            boolean     NOT NULL DEFAULT false,
  created             timestamptz NOT NULL DEFAULT now(),
  updated             timestamptz NOT NULL DEFAULT now(),
  CHECK ((role = 'custodian') = (custodian_index IS NOT NULL))
);
COMMENT ON TABLE users IS 'Local accounts; passwords as scrypt hashes';

-- Login sessions (kind 'login', from POST /v1/login) and API tokens (kind
-- 'api', made by an admin for automation).  Never deleted by the server:
-- revocation sets `revoked`, so token history stays auditable.
CREATE TABLE auth_tokens (
  id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id     bigint      NOT NULL REFERENCES users (id),
  kind        text        NOT NULL CHECK (kind IN ('login', 'api')),
  token_hash  bytea       NOT NULL UNIQUE CHECK (length(token_hash) = 32),
  name        text        NOT NULL CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9 ._:@-]{0,63}$'),
  created     timestamptz NOT NULL DEFAULT now(),
  expires     timestamptz NOT NULL,
  revoked     timestamptz,
  created_by  bigint      REFERENCES users (id),
  CHECK (expires > created)
);
CREATE INDEX auth_tokens_user ON auth_tokens (user_id);
COMMENT ON TABLE auth_tokens IS 'Bearer tokens, stored as SHA-256 only';

-- Failed-login counters per account name ('user') and per source address
-- ('addr'); a counter restarts after a quiet window since last_failure.
-- Names of accounts that do not exist are counted too, so that
-- the limit itself does not reveal which accounts exist.
CREATE TABLE login_failures (
  kind          text        NOT NULL CHECK (kind IN ('user', 'addr')),
  key           text        NOT NULL CHECK (length(key) BETWEEN 1 AND 64),
  failures      integer     NOT NULL CHECK (failures >= 0),
  last_failure  timestamptz NOT NULL,
  locked_until  timestamptz,
  PRIMARY KEY (kind, key)
);
CREATE INDEX login_failures_last ON login_failures (last_failure);

REVOKE ALL ON users, auth_tokens, login_failures FROM PUBLIC;
-- Least privilege: accounts are never deleted (disable instead), so their
-- audit trail keeps its meaning; ids come from identities, not from the
-- server.
GRANT SELECT, INSERT ON users TO keyescrow_app;
GRANT UPDATE (role, custodian_index, pw_salt, pw_hash, pw_n, pw_r, pw_p, pw_must_change,
              disabled, updated) ON users TO keyescrow_app;
GRANT SELECT, INSERT ON auth_tokens TO keyescrow_app;
GRANT UPDATE (revoked) ON auth_tokens TO keyescrow_app;
-- Rate-limit state is disposable: rows are reset and expired rows removed.
GRANT SELECT, INSERT, UPDATE, DELETE ON login_failures TO keyescrow_app;
