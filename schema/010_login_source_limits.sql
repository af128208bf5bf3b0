-- 010: login limits per (account, source address) (server/srv_login_limits.c).
--
-- Before, five failures locked an account for everyone, for up to a day:
-- anyone could keep a custodian or an admin out.  Now each source address
-- has its own failure counter for each account and, past
-- login_max_failures, a growing wait (login_lockout doubled per further
-- failure, capped at login_max_delay): one source's wait does not touch
-- another source.  A failure is reserved in this table BEFORE scrypt runs,
-- under the row's lock, so concurrent guesses cannot exceed the limit; a
-- correct password clears it and remembers the source as known
-- (last_success), which exempts it from the per-account ceiling.
--
-- login_failures keeps its rows: kind 'addr' is still the per-address limit
-- (any account), and kind 'user' becomes the per-account ceiling, which
-- only slows (login_account_delay seconds between attempts), never locks.
CREATE TABLE login_source_failures (
  account       text        NOT NULL CHECK (length(account) BETWEEN 1 AND 64),
  source        text        NOT NULL CHECK (length(source) BETWEEN 1 AND 64),
  failures      integer     NOT NULL CHECK (failures >= 0),
  last_failure  timestamptz NOT NULL,
  wait_until    timestamptz,
  last_success  timestamptz,
  PRIMARY KEY (account, source)
);
CREATE INDEX login_source_failures_last ON login_source_failures (last_failure);
COMMENT ON TABLE login_source_failures IS
  'Failed-login counters and waits per account name and source address';

-- The account-wide lockouts of the old scheme end now: under the new one a
-- kind 'user' lock is the ceiling's short delay, never hours.
UPDATE login_failures SET locked_until = NULL WHERE kind = 'user';

REVOKE ALL ON login_source_failures FROM PUBLIC;
-- Disposable rate-limit state, like login_failures.
GRANT SELECT, INSERT, UPDATE, DELETE ON login_source_failures TO keyescrow_app;
