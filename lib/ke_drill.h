/*
 * ke_drill.h - the texts of a backup-integrity drill (docs/protocol.md
 * section 9) that escrowctl signs with the auditor's client key and escrowd
 * verifies: the drill request and the name under which a record's part is
 * sealed.  The summary is signed as its canonical JSON (ke_canon_dump).
 */
#ifndef KE_DRILL_H
#define KE_DRILL_H

#include <stddef.h>

#define KE_DRILL_ID_LEN 30           /* "drl-" + 26 characters of a-z2-7 */
#define KE_DRILL_STMT_MAX 512
#define KE_DRILL_PART_ID_MAX 64      /* drill id "/" record id, NUL */
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

#endif
