/*
 * ke_drillfile.h - the two files of a drill's offline round trip
 * (docs/protocol.md section 9.7):
 *
 *   drill file   what `escrowctl drill approve --export` writes from the
 *                server's drill and `escrowctl drill part` reads on the
 *                air-gapped machine: drill id, auditor, the one-time key E,
 *                the escrow key's manifest, every record (id, device,
 *                volume, envelope, its SHA-256, its R), and the drill's
 *                signed statement (ke_drill.h) with its signature and the
 *                auditor's public key.  Not secret.
 *   batch file   what `drill part` writes and `drill approve --import`
 *                uploads: one sealed part per record.  Not secret.
 *
 * Strict like ke_files.h: exactly the documented fields, "version": 1,
 * every point validated, the manifest recomputed (its fingerprint
 * authenticates threshold and commitments), every envelope parsed with its
 * R equal to the record's R, its escrow key the manifest's and its SHA-256
 * the listed one, and the statement the one that selection, mode, E,
 * expiry and the records make, with a signature that verifies with the
 * listed auditor key (whether that key is the auditor's is the reader's
 * question: `drill part` asks its pins).  Both structures own their record
 * arrays: free them with
 * the matching free function (also after a failed parse).
 */
#ifndef KE_DRILLFILE_H
#define KE_DRILLFILE_H

#include "ke_drill.h"
#include "ke_files.h"

#define KE_DRILLFILE_MAX (64u * 1024 * 1024) /* bytes of a drill or batch file */
#define KE_DRILLFILE_RECORDS_MAX 100000
#define KE_DRILLFILE_AUDITOR_MAX 128

typedef struct ke_drillfile_rec {
  char record_id[KE_ID_MAX + 1];
  char device[KE_LABEL_MAX + 1];
  char volume[KE_LABEL_MAX + 1];
  uint8_t envelope[KE_ENV_MAX_LEN];
  size_t envelope_len;
  uint8_t envelope_sha256[32];
  ke_point R; /* equal to the envelope's */
} ke_drillfile_rec;

typedef struct ke_drillfile {
  char drill_id[KE_DRILL_ID_LEN + 1];
  char auditor[KE_DRILLFILE_AUDITOR_MAX + 1];
  char selection[80], mode[8], expires[KE_DRILL_EXPIRES_LEN + 1];
  char statement[KE_DRILL_SIGNED_MAX]; /* the signed text */
  uint8_t signature[64], auditor_key[32];
  ke_point E;
  ke_manifest escrow_key; /* every envelope is under it */
  size_t nrec;
  ke_drillfile_rec *rec; /* malloc'd */
} ke_drillfile;

ke_rc ke_drillfile_parse(ke_drillfile *d, const char *json, size_t len, ke_ferr *err);
/* Checks what the parser checks before writing. */
ke_rc ke_drillfile_write(char **out, size_t *outlen, const ke_drillfile *d);
void ke_drillfile_free(ke_drillfile *d);

typedef struct ke_drillbatch_part {
  char record_id[KE_ID_MAX + 1];
  uint8_t part[KE_PART_LEN];
} ke_drillbatch_part;

typedef struct ke_drillbatch {
  char drill_id[KE_DRILL_ID_LEN + 1];
  unsigned index; /* the custodian's, 1..255 */
  size_t nparts;
  ke_drillbatch_part *parts; /* malloc'd; record ids distinct */
} ke_drillbatch;

ke_rc ke_drillbatch_parse(ke_drillbatch *b, const char *json, size_t len, ke_ferr *err);
ke_rc ke_drillbatch_write(char **out, size_t *outlen, const ke_drillbatch *b);
void ke_drillbatch_free(ke_drillbatch *b);

#endif
