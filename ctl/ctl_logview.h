/*
 * ctl_logview.h - this client's view of the audit log, and the one way
 * every escrowctl command that acts on the log's word gets it.
 *
 * A hostile server can show each client a different log (a fork): one in
 * which a record was escrowed, to the custodian it wants to use, and one
 * without it, to the auditors.  Signatures alone do not catch that, since
 * the server holds the log key.  What does is memory: each client keeps the
 * last checkpoint it accepted (<config dir>/audit-checkpoint, the file that
 * `audit verify --save` writes) and accepts a new one only with a valid
 * consistency proof from it.  Two views that diverged can then never both
 * be accepted by the same client, and any auditor who compares checkpoints
 * with a custodian (or a witness) sees the fork.
 *
 * Usage: ctl_logview_open() once per command, ctl_logview_prove() for each
 * event the command relies on, ctl_logview_free().
 */
#ifndef CTL_LOGVIEW_H
#define CTL_LOGVIEW_H

#include <stddef.h>
#include <stdint.h>

#include "ctl_http.h"
#include "ke_merkle.h"
#include "ke_note.h"

/* Not proven yet, and nothing proven wrong: the event is past the
 * checkpoint the view may use (with witnesses, the newest cosigned one: a
 * witness lag), no checkpoint was cosigned yet, or this client's saved
 * checkpoint could not be locked, read or written.  Asking again later may
 * succeed, so a policy custodian waits instead of declining (it gets the
 * code through ctl_approve_in_log).  Never an exit status: escrowctl's
 * main() turns it into CTL_FAIL, a refusal whose message says to retry. */
enum { CTL_LATER = 6 };

typedef struct ctl_logview {
  ke_note_verifier vk;   /* the pinned log key */
  char *vkey;            /* its text, for messages */
  ke_note_checkpoint cp; /* the server's checkpoint, verified and consistent */
  uint64_t saved_size;   /* size of the checkpoint saved before (0: none) */
  int had_saved;
  size_t witnesses; /* witnesses whose cosignature the checkpoint has */
} ctl_logview;

/* Witnesses (c2sp.org/tlog-witness): when any is configured, the view is
 * the server's latest *cosigned* checkpoint (GET
 * /v1/audit/checkpoint/cosigned) instead of a fresh one, and it must carry
 * a valid cosignature (ke_cosig.h) by every configured witness.  Where the
 * witness keys come from, first found wins: ctl_logview_set_witness() (a
 * command's --witness-key), $ESCROWCTL_WITNESS_KEY, <config
 * dir>/audit-witness-keys; vkeys separated by commas or newlines. */
void ctl_logview_set_witness(const char *vkeys);

/* The log key and the witness keys can be found and parse (what
 * ctl_logview_open() needs before asking the server): a daemon checks at
 * start.  CTL_OK or an exit code (printed). */
int ctl_logview_check_keys(const char *log_key_arg);

/* The log key as ctl_audit_log_key() finds it (log_key_arg, then
 * $ESCROWCTL_LOG_KEY, then the pinned file); the server's fresh checkpoint,
 * which must verify with it; and, when this client saved one before, proof
 * that the new checkpoint extends the saved one: an equal size must have an
 * equal root, a larger one a consistency proof that verifies, and a smaller
 * one is refused.  Every refusal names both tree sizes.  On success a larger
 * checkpoint replaces the saved one (under a lock, so that two commands
 * running at once never move it backwards).  CTL_OK, CTL_LATER or an exit
 * code (printed). */
int ctl_logview_open(ctl_logview *lv, ctl_http *h, const char *log_key_arg);

/* The checkpoint saved at path, which must verify with vk; *have is 0 (and
 * CTL_OK) when there is none.  audit verify reads its --checkpoint so. */
int ctl_logview_load_saved(const ke_note_verifier *vk, const char *path, ke_note_checkpoint *cp,
                           int *have);

/* Prove that `leaf` (the exact bytes of an event) is entry `index` of the
 * view's checkpoint, with the server's inclusion proof.  `what` names the
 * event in the refusal ("the escrow event of record r-1").  CTL_OK,
 * CTL_LATER (printed) when the entry is past the checkpoint, or CTL_FAIL
 * (printed) when the proof does not verify. */
int ctl_logview_prove(const ctl_logview *lv, ctl_http *h, int64_t index, const char *leaf,
                      size_t len, const char *what);

void ctl_logview_free(ctl_logview *lv);

/* The escrow.store event of one record, proven in the view: `view` is the
 * server's object naming it ("escrow_event": the leaf's exact text,
 * "leaf_index", "record_id"; a retrieval or drill record as the server
 * shows it).  The event must be the escrow of record_id ("object":
 * "record:<id>") with this envelope digest, device and volume in its
 * details, and its inclusion must verify against the view's checkpoint.
 * Prints one "audit log" line on success.  CTL_OK, or CTL_FAIL (printed:
 * a missing or foreign event, or a failed proof), CTL_LATER (the event is
 * past the checkpoint) or a network exit code.
 * Used by approve, retrieve and drill approve. */
/* The one check of an escrow.store event (approve, retrieve, drill
 * approve; the inclusion proof is ctl_logview_prove's): 1 when `leaf` (the
 * event's exact JSON text) is an escrow.store event of object
 * "record:<record_id>" whose details name device, volume and the hex of
 * envelope_sha256, and whose "canary" detail is the drill `canary` for a
 * canary record, absent for a real one (canary NULL); 0 otherwise (nothing
 * printed).  A custodian answers only for envelopes escrowed in the signed
 * log (docs/threat-model.md, "a custodian as an oracle"). */
int ctl_escrow_event_ok(const char *leaf, const char *record_id, const char *device,
                        const char *volume, const uint8_t envelope_sha256[32], const char *canary);

int ctl_logview_check_escrow(const ctl_logview *lv, ctl_http *h, const json_t *view,
                             const uint8_t envelope_sha256[32], const char *device,
                             const char *volume);

/* Does the server's consistency proof from (m, root_m) to (n, root_n)
 * verify?  1 yes, 0 no, or -(exit code) when the server could not be asked.
 * m == n compares the roots; m == 0 is always consistent.  Shared with
 * `audit verify`. */
int ctl_logview_consistent(ctl_http *h, uint64_t m, const uint8_t root_m[KE_MERKLE_HASH_LEN],
                           uint64_t n, const uint8_t root_n[KE_MERKLE_HASH_LEN]);

#endif
