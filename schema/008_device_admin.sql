-- 008: people acting on devices (server/srv_ep_device_admin.c).
--
-- * An administrator or the helpdesk may ask a device to rotate the key of
--   a volume (after a suspected exposure, a departure, a policy change):
--   the current record carries the request until the rotated record
--   supersedes it, and every check-in meanwhile answers rotate "requested".
-- * An administrator may disable a device (lost, stolen, retired): its
--   signed requests are refused from then on, its records stay retrievable.
--   Enabling it again is the same path back.
-- Both are audited; these columns only say what is in force now.
ALTER TABLE escrow_records
  ADD COLUMN rotate_requested    timestamptz,
  ADD COLUMN rotate_requested_by text CHECK (octet_length(rotate_requested_by) BETWEEN 1 AND 200),
  ADD COLUMN rotate_reason       text CHECK (octet_length(rotate_reason) BETWEEN 1 AND 500
                                             AND rotate_reason !~ '[[:cntrl:]]'),
  ADD CONSTRAINT escrow_records_rotate_request
    CHECK ((rotate_requested IS NULL) = (rotate_requested_by IS NULL)
           AND (rotate_requested IS NULL) = (rotate_reason IS NULL));

ALTER TABLE devices
  ADD COLUMN disabled_at     timestamptz,
  ADD COLUMN disabled_by     text CHECK (octet_length(disabled_by) BETWEEN 1 AND 200),
  ADD COLUMN disabled_reason text CHECK (octet_length(disabled_reason) BETWEEN 1 AND 500
                                         AND disabled_reason !~ '[[:cntrl:]]');

GRANT UPDATE (rotate_requested, rotate_requested_by, rotate_reason) ON escrow_records
  TO keyescrow_app;
GRANT UPDATE (disabled, disabled_at, disabled_by, disabled_reason) ON devices TO keyescrow_app;
