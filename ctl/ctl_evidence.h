/*
 * ctl_evidence.h - what `report evidence` (ctl_cmd_report_evidence.c) and
 * `report verify-evidence` (ctl_cmd_report_verify.c) share: the bundle's
 * file names and the statement the auditor signs.
 *
 * A bundle is a directory: the reports as the server sent them
 * (coverage.json/.csv, retrievals.json/.csv), proofs.json (the log entry of
 * every retrieval in the report, with its inclusion proof against the
 * bundle's checkpoint), drills.json (the drills named by --drill, as GET
 * /v1/drills/{id} shows them, with their drill.* events in proofs.json),
 * index.html, manifest.json (every file's SHA-256,
 * the signed checkpoint, the consistency proof from the previous bundle's
 * checkpoint, the auditor's public key) and manifest.sig (the auditor's
 * Ed25519 signature of CTL_EVIDENCE_CONTEXT followed by manifest.json's
 * exact bytes, base64url, one line).
 */
#ifndef CTL_EVIDENCE_H
#define CTL_EVIDENCE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "ke_cli.h"
#include "ke_note.h"

#define CTL_EVIDENCE_FORMAT "keyescrow-evidence-v1"
/* Signed before the manifest's bytes, so that no other statement made with
 * a client key (a retrieval request) can pass for a manifest. */
#define CTL_EVIDENCE_CONTEXT "keyescrow-v1-evidence-manifest\n"
#define CTL_EVIDENCE_MAX (64u << 20) /* largest file of a bundle we read */

/* The files manifest.json lists, in order. */
extern const char *const ctl_evidence_files[7];
#define CTL_EVIDENCE_MAX_DRILLS 32

/* SHA-256 of data in hex (65 bytes with the NUL).  CTL_OK or CTL_FAIL. */
int ctl_evidence_hash(char hex[65], const void *data, size_t len);
/* The signed message: CTL_EVIDENCE_CONTEXT || manifest; malloc'd. */
uint8_t *ctl_evidence_message(const char *manifest, size_t len, size_t *outlen);

/* The log checks of verify-evidence on the parsed files (cov, ret, drills
 * and proofs may be anything): both reports pinned to cp, every proof of
 * proofs.json verifying against cp, the retrievals and drills matching
 * the proven events one to one.  CTL_OK, or CTL_FAIL with every failure
 * printed, naming its file and entry. */
int ctl_evidence_check_log(const json_t *cov, const json_t *ret, const json_t *drills,
                           const json_t *proofs, const ke_note_verifier *vk,
                           const ke_note_checkpoint *cp);

/* index.html into out: self-contained (no external resource, inline
 * CSS), every text escaped.  CTL_OK or CTL_FAIL (out of memory). */
int ctl_evidence_html(ke_buf *out, const char *from, const char *to, const json_t *cov,
                      const json_t *ret, const json_t *drills, const json_t *proofs,
                      const char *checkpoint);

#endif
