-- 016_mail.sql - email notifications of retrievals (server/srv_mail.c).
--
-- Custodians learn that a request waits by mail, not by polling: a message
-- when a request is made, a reminder while it still waits, and one when it
-- completes or expires.  As with the webhooks, one outbox row per message is
-- written in the transaction of the change it reports (nothing announced
-- that did not commit, nothing committed lost) and a worker sends it with
-- retries.  A row names its recipient account and its request: the text is
-- composed when it is sent, from public metadata only (device, requester,
-- reason, ticket, age), never a secret and never the confirmation code.

-- Where an account is told about requests (custodians; the others unused
-- for now).  A plain addr-spec, no display name, no control characters.
ALTER TABLE users ADD COLUMN email text
  CHECK (octet_length(email) <= 254 AND
         email ~ '^[A-Za-z0-9.!#$%&''*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$');
GRANT UPDATE (email) ON users TO keyescrow_app;

CREATE TABLE mail_outbox (
  id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  recipient_id  bigint      NOT NULL REFERENCES users (id),
  retrieval_id  text        NOT NULL REFERENCES retrievals (id),
  kind          text        NOT NULL CHECK (kind IN ('created', 'reminder', 'completed', 'expired')),
  created       timestamptz NOT NULL DEFAULT now(),
  attempts      integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  next_attempt  timestamptz NOT NULL DEFAULT now(),
  delivered     timestamptz,
  failed        timestamptz,
  last_error    text        CHECK (octet_length(last_error) <= 300)
);
CREATE INDEX mail_outbox_due ON mail_outbox (next_attempt)
  WHERE delivered IS NULL AND failed IS NULL;
COMMENT ON TABLE mail_outbox IS 'Notification mails (recipient and request; no text, no secret)';

-- The requests a reminder was queued for: once each, whichever instance
-- noticed first (the primary key settles a race between two).
CREATE TABLE mail_reminders (
  retrieval_id  text        PRIMARY KEY REFERENCES retrievals (id),
  queued        timestamptz NOT NULL DEFAULT now()
);

REVOKE ALL ON mail_outbox, mail_reminders FROM PUBLIC;
GRANT SELECT, INSERT ON mail_outbox, mail_reminders TO keyescrow_app;
GRANT UPDATE (attempts, next_attempt, delivered, failed, last_error) ON mail_outbox
  TO keyescrow_app;
