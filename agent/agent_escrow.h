/*
 * agent_escrow.h - wrapping and uploading one volume's secret, and the
 * receipt check (docs/agent-protocol.md section 4).
 *
 * Crash safety: the sealed envelope is recorded in the volume's "upload"
 * entry of state.json (durably) before it is sent, and moved to the record
 * only after the receipt verified.  An interrupted run leaves the upload
 * pending; the next run (or check-in) sends the very same envelope again,
 * which the server answers with the record it already stored, so no retry
 * or crash ever makes a second record.  Escrowing a secret whose verifier
 * equals the current record's (same escrow key) also re-sends the stored
 * envelope: "escrow it again" confirms the record instead of piling up new
 * ones.
 */
#ifndef AGENT_ESCROW_H
#define AGENT_ESCROW_H

#include "agent_state.h"

typedef struct agent_escrow_req {
  const char *volume_id;
  const char *provider; /* "stdin", "luks", ... recorded with the volume */
  const char *key_type; /* bitlocker | filevault | luks | other */
  const char *key_id;
  const uint8_t *secret;
  size_t secret_len;
  int force;           /* accept a secret that looks low in entropy */
  int keep;            /* keep the secret sealed in the state (luks, filevault) */
  int fresh;           /* always seal a new envelope (the server's record does
                               not match ours: re-sending ours would not fix it) */
  const json_t *extra; /* provider fields stored with the record (copied) */
  int generated;       /* machine-generated: v1 verifier; else v2 (scrypt) */
} agent_escrow_req;

/* Seal, record the pending upload, send, verify the receipt, record it.
 * Exit codes as in agent.h; on any failure the volume is NOT counted as
 * escrowed and the log says why. */
int agent_escrow(agent_ctx *c, const agent_escrow_req *r);
/* Send the volume's pending upload (if any; AGENT_OK if none). */
int agent_escrow_resume(agent_ctx *c, const char *volume_id);

/* Verify a receipt note against the pinned log key and every line against
 * what was sent: AGENT_OK (time of the escrow in `when`) or AGENT_BADANSWER
 * (logged). */
int agent_receipt_check(const ke_note_verifier *logkey, const char *receipt, const char *device_id,
                        const char *volume_id, const char *record_id,
                        const char *envelope_sha256_hex, json_int_t leaf_index,
                        char when[KE_TIME_LEN + 1]);

/* 1 for bitlocker, filevault, luks, other. */
int agent_key_type_valid(const char *s);

#endif
