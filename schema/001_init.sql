-- 001_init.sql - roles' privileges and the append-only audit log skeleton.
--
-- Conventions for every migration (docs/operations.md, "Migrations"):
--  * runs as the schema OWNER role inside one transaction opened by
--    `escrowd migrate`: no BEGIN/COMMIT in the file;
--  * never edit a file once released: its sha256 is recorded and checked;
--  * every table gets explicit grants to keyescrow_app; append-only tables
--    get SELECT, INSERT only and the keyescrow_append_only() trigger.

-- The application role is created by the DBA (or scripts/pg-local.sh, or the
-- compose init script) because creating roles needs CREATEROLE, which the
-- schema owner should not have.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'keyescrow_app') THEN
    RAISE EXCEPTION 'role keyescrow_app does not exist'
      USING HINT = 'Create it first: CREATE ROLE keyescrow_app LOGIN PASSWORD ...; '
                   'see docs/operations.md';
  END IF;
END
$$;

-- Nobody but the owner creates objects here, and only what is granted below
-- is visible to the application role.
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO keyescrow_app;

-- The migration ledger (created by escrowd migrate before this file ran):
-- readable so that serve and /readyz can check the version.
REVOKE ALL ON keyescrow_schema_version FROM PUBLIC;
GRANT SELECT ON keyescrow_schema_version TO keyescrow_app;

-- Refuses UPDATE, DELETE and TRUNCATE on the table it is attached to, for
-- every role including the owner and superusers, unless the table owner
-- explicitly enters maintenance in the same transaction:
--     BEGIN; SET LOCAL keyescrow.maintenance = 'on'; ...; COMMIT;
-- (documented in docs/operations.md; meant for restoring from backup, never
-- for routine work).  The application role has no UPDATE/DELETE/TRUNCATE
-- privilege in the first place, so for it this is a second wall.
CREATE FUNCTION keyescrow_append_only() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path = pg_catalog
AS $$
DECLARE
  owner_oid oid;
BEGIN
  SELECT relowner INTO owner_oid FROM pg_class WHERE oid = TG_RELID;
  IF current_setting('keyescrow.maintenance', true) = 'on'
     AND pg_has_role(current_user, owner_oid, 'MEMBER') THEN
    IF TG_OP = 'TRUNCATE' THEN
      RETURN NULL;
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
  END IF;
  RAISE EXCEPTION '% on %.% refused: the table is append-only', TG_OP,
                  TG_TABLE_SCHEMA, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege',
          HINT = 'keyescrow keeps audit history immutable; see docs/operations.md';
END
$$;
REVOKE ALL ON FUNCTION keyescrow_append_only() FROM PUBLIC;

-- The audit log: one row per Merkle leaf (RFC 9162 style), seq = leaf index
-- from 0.  leaf is the exact canonical JSON bytes that were hashed;
-- leaf_hash = SHA-256(0x00 || leaf).  Issue "audit log" builds on this.
CREATE TABLE audit_log (
  seq       bigint      PRIMARY KEY CHECK (seq >= 0),
  leaf      bytea       NOT NULL CHECK (length(leaf) > 0),
  leaf_hash bytea       NOT NULL CHECK (length(leaf_hash) = 32),
  created   timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE audit_log IS
  'Append-only Merkle log leaves; UPDATE/DELETE/TRUNCATE refused by trigger';

CREATE TRIGGER audit_log_no_update_delete
  BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION keyescrow_append_only();
CREATE TRIGGER audit_log_no_truncate
  BEFORE TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION keyescrow_append_only();

REVOKE ALL ON audit_log FROM PUBLIC;
GRANT SELECT, INSERT ON audit_log TO keyescrow_app;
