-- 012: verifiers of secrets a person may have chosen are scrypt-hardened.
--
-- A verifier is now one of two forms (docs/protocol.md "Verifier"):
--   v1  32 bytes, HMAC-SHA256 keyed by the secret: machine-generated
--       recovery keys (LUKS by the agent, BitLocker, FileVault), and every
--       record stored before this migration;
--   v2  54 bytes, "KV" 02 | log2(N) | r | p | salt(16) | scrypt output(32):
--       any secret a person may have chosen (the agent's stdin provider).
-- escrowd parses both strictly (lib/ke_verifier.c) before storing; the
-- checks below keep a direct write from storing anything else, in
-- particular a v2 below the N = 2^17 floor.  Existing rows are all v1 and
-- stay valid; nothing is rewritten.
ALTER TABLE escrow_records
  DROP CONSTRAINT escrow_records_verifier_check,
  ADD CONSTRAINT escrow_records_verifier_check CHECK (
    length(verifier) = 32
    OR (length(verifier) = 54 AND substring(verifier FROM 1 FOR 3) = '\x4b5602'::bytea
        AND get_byte(verifier, 3) BETWEEN 17 AND 20));

-- Drills snapshot the record's verifier: the same two forms.
ALTER TABLE drill_records
  DROP CONSTRAINT drill_records_verifier_check,
  ADD CONSTRAINT drill_records_verifier_check CHECK (
    length(verifier) = 32
    OR (length(verifier) = 54 AND substring(verifier FROM 1 FOR 3) = '\x4b5602'::bytea
        AND get_byte(verifier, 3) BETWEEN 17 AND 20));
