/*
 * ke_drill.h - the texts of a backup-integrity drill (docs/protocol.md
 * section 9) that escrowctl signs with the auditor's client key and escrowd
 * verifies: the drill request and the name under which a record's part is
 * sealed.  The summary is signed as its canonical JSON (ke_canon_dump).
 */
#ifndef KE_DRILL_H
#define KE_DRILL_H

#include <stddef.h>

#define KE_DRILL_ID_LEN 30 /* "drl-" + 26 characters of a-z2-7 */
#define KE_DRILL_STMT_MAX 512
#define KE_DRILL_PART_ID_MAX 64 /* drill id "/" record id, NUL */
#define KE_DRILL_RESULT_TYPE "keyescrow-v1-drill-result"

/* "drl-" followed by 26 characters of a-z2-7. */
int ke_drill_id_ok(const char *id);

/* selection: "all", "sample:N" (N 1..999999 without leading zero),
 * "group:G" (G [A-Za-z0-9][A-Za-z0-9._:-]{0,63}) or, for a canary drill,
 * "canary:N" (N 1..KE_DRILL_CANARY_MAX canaries, ke_canary.h). */
#define KE_DRILL_CANARY_MAX 100
int ke_drill_selection_ok(const char *sel);

/* The statement the auditor signs:
 *   keyescrow-v1-drill-request\nid=..\nselect=..\nE=..\nnonce=..\n
 * Returns its length, 0 if a field is malformed (E: 44 base64url
 * characters, nonce: 22). */
size_t ke_drill_statement(char out[KE_DRILL_STMT_MAX], const char *id, const char *selection,
                          const char *E_b64, const char *nonce);

/* The request id of a record's part in a drill's AAD: id "/" record_id.
 * Returns 0 if either is malformed. */
int ke_drill_part_id(char out[KE_DRILL_PART_ID_MAX], const char *id, const char *record_id);

/* ---- the signed drill statement (docs/protocol.md section 9) -------------
 * What custodians act on.  The request statement above only lets the
 * server know the auditor asked for a drill; once the server has made the
 * snapshot, the auditor signs, with the same client key, a statement that
 * names the records as well:
 *
 *   keyescrow-v1-drill-statement\n
 *   id=<drill id>\n
 *   select=<selection>\n
 *   mode=full | canary\n
 *   E=<base64url of E>\n
 *   records=<count>\n
 *   records_sha256=<hex of the record list digest>\n
 *   expires=<YYYY-MM-DDTHH:MM:SSZ>\n
 *
 * A custodian who verifies it with the auditor's pinned key knows that the
 * one-time key is the auditor's and that the records are those the auditor
 * saw: a server cannot substitute its own E or add a record. */
#define KE_DRILL_SIGNED_MAX 512
#define KE_DRILL_CODE_LEN 14    /* XXXX-XXXX-XXXX */
#define KE_DRILL_EXPIRES_LEN 20 /* 2026-01-02T03:04:05Z */

typedef struct ke_drill_recref {
  const char *record_id;                /* "rec-..." */
  const unsigned char *envelope_sha256; /* 32 bytes */
} ke_drill_recref;

/* "full" or "canary". */
int ke_drill_mode_ok(const char *mode);

/* YYYY-MM-DDTHH:MM:SSZ with a valid date and time. */
int ke_drill_expires_ok(const char *t);

/* The record list digest: SHA-256 of
 *   "keyescrow-v1-drill-records\n" || for each record in strcmp order of
 *   its id: "<record id> <hex of its envelope SHA-256>\n".
 * The records may come in any order; ids must be distinct record ids.
 * 0 on success, -1 on a malformed or repeated id (or no memory). */
int ke_drill_records_digest(unsigned char out[32], const ke_drill_recref *recs, size_t n);

/* The statement text; its length, 0 if a field is malformed (records_hex:
 * 64 lower-case hex digits; nrec >= 1). */
size_t ke_drill_signed_statement(char out[KE_DRILL_SIGNED_MAX], const char *id,
                                 const char *selection, const char *mode, const char *E_b64,
                                 size_t nrec, const char *records_hex, const char *expires);

/* 1 when sig (64 bytes) is pub's (32 bytes, raw Ed25519) over text[0..len). */
int ke_drill_signature_ok(const unsigned char pub[32], const char *text, size_t len,
                          const unsigned char sig[64]);

/* The confirmation code of a signed statement: the first 60 bits of
 * SHA-256("keyescrow-v1-drill-code\n" || statement) in RFC 4648 base32,
 * as XXXX-XXXX-XXXX.  The auditor's client and every custodian's show it;
 * the custodian compares it with the auditor out of band. */
void ke_drill_code(char out[KE_DRILL_CODE_LEN + 1], const char *statement, size_t len);

#endif
