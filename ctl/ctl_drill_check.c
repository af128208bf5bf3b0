/*
 * ctl_drill_check.c - what a custodian checks before answering for a
 * drill (ctl_drill.h), online (`drill approve`, also before `--export`) and
 * offline (`drill part`), and what the auditor's side builds and signs:
 *
 *   the statement   rebuilt from the drill as shown (id, selection, mode, E,
 *                   expiry, and the count and digest of the records as they
 *                   are listed, each envelope hashed here), and verified
 *                   with the auditor's client key as this custodian pinned
 *                   it out of band (ctl_pins.h): a server that puts its own
 *                   E in a drill, adds a record or names another auditor key
 *                   gets no part;
 *   the auditor's   (drill run) the drill as shown is the one this auditor
 *   own check       signed, with their own client key;
 *   the log         (online) every record's escrow.store event, naming its
 *                   device, volume and envelope digest, proven in the
 *                   signed log consistently with the saved checkpoint
 *                   (ctl_logview.h): the R a custodian answers for is
 *                   always the R inside an envelope escrowed in the open.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "ctl_drill.h"
#include "ctl_logview.h"
#include "ctl_open.h"
#include "ctl_pins.h"
#include "ctl_util.h"
#include "ke_canary.h"
#include "ke_note.h"

int ctl_drill_digest(const ctl_drill *d, char out[65])
{
  ke_drill_recref *refs = d->nrec ? calloc(d->nrec, sizeof *refs) : NULL;
  uint8_t h[32];
  int rc = CTL_FAIL;

  if (refs) {
    for (size_t i = 0; i < d->nrec; i++) {
      refs[i].record_id = d->rec[i].id;
      refs[i].envelope_sha256 = d->rec[i].envelope_sha256;
    }
    if (ke_drill_records_digest(h, refs, d->nrec) == 0) {
      ke_hex_encode(out, h, sizeof h);
      rc = CTL_OK;
    }
  }
  free(refs);
  if (rc)
    ctl_errf("the drill's record list cannot be hashed (a record id is malformed or repeated)");
  return rc;
}

int ctl_drill_build_statement(ctl_drill *d)
{
  char digest[65], *e64 = NULL;
  int rc;

  if ((rc = ctl_drill_digest(d, digest)))
    return rc;
  if (!(e64 = ke_b64url_encode(d->E.b, KE_POINT_LEN)) ||
      !(d->stmt_len = ke_drill_signed_statement(d->statement, d->id, d->selection, d->mode, e64,
                                                d->nrec, digest, d->expires)))
    rc = ctl_err(CTL_FAIL, "the drill's statement cannot be made (mode, selection or expiry "
                           "malformed)");
  free(e64);
  return rc;
}

/* The auditor's key must be the one pinned for the auditor. */
static int check_pin(const ctl_drill *d)
{
  char fpr[CTL_PIN_FPR_LEN + 1], pinned[CTL_PIN_FPR_LEN + 1], since[32];
  uint8_t h[32];
  unsigned int hl = 0;
  ctl_pin_state st;
  int rc;

  if (EVP_Digest(d->auditor_key, sizeof d->auditor_key, h, &hl, EVP_sha256(), NULL) != 1 ||
      hl != 32)
    return ctl_err(CTL_FAIL, "cannot hash the auditor's key");
  ke_hex_encode(fpr, h, sizeof h);
  if ((rc = ctl_pin_lookup(d->auditor, fpr, &st, pinned, since)))
    return rc;
  if (st == CTL_PIN_MATCH)
    return CTL_OK;
  if (st == CTL_PIN_UNKNOWN)
    return ctl_err(CTL_FAIL,
                   "the drill is signed by a client key of %s that you have not pinned:\n"
                   "  fingerprint %s\n"
                   "Check it with %s out of band (in person or on a call: `escrowctl key show` on "
                   "their machine prints it), then pin it with\n"
                   "  escrowctl pin add %s %s\n"
                   "and run this again.  No part made.",
                   d->auditor, fpr, d->auditor, d->auditor, fpr);
  return ctl_err(CTL_FAIL,
                 "!!! THE AUDITOR'S KEY HAS CHANGED: refusing !!!\n"
                 "  the drill is signed by     %s\n"
                 "  you pinned for %-11s %s (since %s)\n"
                 "Either the server (or someone between you and it) substitutes a key, or %s "
                 "really has a new key.  Ask %s out of band; only if they confirm the new "
                 "fingerprint, re-pin with `escrowctl pin add %s %s`.  No part made.",
                 fpr, d->auditor, pinned, since, d->auditor, d->auditor, d->auditor, fpr);
}

static void now_utc(char out[KE_DRILL_EXPIRES_LEN + 1])
{
  time_t t = time(NULL);
  struct tm tm;

  gmtime_r(&t, &tm);
  strftime(out, KE_DRILL_EXPIRES_LEN + 1, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int ctl_drill_check_statement(ctl_drill *d)
{
  char now[KE_DRILL_EXPIRES_LEN + 1];
  int rc;

  d->code[0] = '\0';
  if (!d->is_signed)
    return ctl_err(CTL_FAIL, "the drill has no statement signed by its auditor: no part is made "
                             "for an unsigned drill");
  if ((rc = ctl_drill_build_statement(d)))
    return rc;
  /* The pin first: an unknown key is the common case and says what to do. */
  if ((rc = check_pin(d)))
    return rc;
  if (!ke_drill_signature_ok(d->auditor_key, d->statement, d->stmt_len, d->stmt_sig))
    return ctl_err(CTL_FAIL,
                   "the auditor's signature does not verify over this drill (its "
                   "one-time key E, its records or their envelopes are not those %s signed): "
                   "refusing; no part made",
                   d->auditor);
  now_utc(now);
  /* Same fixed format: the strings order as the times. */
  if (strcmp(d->expires, now) <= 0)
    return ctl_err(CTL_FAIL, "the drill expired at %s: no part made", d->expires);
  ke_drill_code(d->code, d->statement, d->stmt_len);
  return d->code[0] ? CTL_OK : CTL_FAIL;
}

int ctl_drill_prove_records(ctl_http *h, const ctl_drill *d, const char *log_key)
{
  ctl_logview lv;
  char what[240];
  int rc, tty = isatty(STDERR_FILENO);

  /* The mode is the signed statement's (ctl_drill_check_statement). */
  const char *canary = strcmp(d->mode, "canary") == 0 ? d->id : NULL;

  for (size_t i = 0; i < d->nrec; i++) {
    const ctl_drill_rec *r = &d->rec[i];
    if (!r->escrow_event || r->leaf_index < 0)
      return ctl_err(CTL_FAIL,
                     "the server shows no audit event for the escrow of record %s: "
                     "refusing; no part made",
                     r->id);
    if (canary && (strcmp(r->device, KE_CANARY_DEVICE) != 0 || strcmp(r->volume, r->id) != 0 ||
                   !r->has_canary_proof ||
                   ke_canary_verify(r->canary_proof, sizeof r->canary_proof, &r->env.R, d->id,
                                    r->id) != KE_OK))
      return ctl_err(CTL_FAIL,
                     "record %s of canary drill %s is not a canary with a valid proof of "
                     "knowledge of its R: refusing; no part made",
                     r->id, d->id);
    if (!ctl_escrow_event_ok(r->escrow_event, r->id, r->device, r->volume, r->envelope_sha256,
                             canary))
      return ctl_err(CTL_FAIL,
                     "record %s: the audit event the server shows is not the escrow of "
                     "this envelope for device %s, volume %s: refusing; no part made",
                     r->id, r->device, r->volume);
  }
  if ((rc = ctl_logview_open(&lv, h, log_key)))
    return rc;
  for (size_t i = 0; !rc && i < d->nrec; i++) {
    const ctl_drill_rec *r = &d->rec[i];
    snprintf(what, sizeof what, "the escrow event of record %s", r->id);
    rc = ctl_logview_prove(&lv, h, r->leaf_index, r->escrow_event, strlen(r->escrow_event), what);
    if (tty && (i + 1 == d->nrec || i % 64 == 0))
      fprintf(stderr, "\r  proving escrow events %zu/%zu", i + 1, d->nrec);
  }
  if (tty)
    fputc('\n', stderr);
  if (!rc)
    ctl_notef("  audit log  %zu escrow event(s) proven in the signed log of size %llu%s", d->nrec,
              (unsigned long long)lv.cp.size,
              lv.had_saved ? ", consistent with the checkpoint saved before" : "");
  ctl_logview_free(&lv);
  return rc;
}

int ctl_drill_check_own(ctl_drill *d, const char *ckey)
{
  char path[4200];
  ke_note_key *k = NULL;
  ke_note_verifier v;
  int rc;

  if (!d->is_signed)
    return ctl_err(CTL_FAIL, "drill %s has no signed statement: no custodian will answer it",
                   d->id);
  if ((rc = ctl_client_key_path(path, sizeof path, ckey)))
    return rc;
  if (ke_note_key_load(&k, path) != KE_OK)
    return ctl_err(CTL_FAIL, "cannot load the client key %s", path);
  ke_note_key_verifier(k, &v);
  ke_note_key_free(k);
  if (!ke_ct_eq(v.pub, d->auditor_key, sizeof d->auditor_key))
    return ctl_err(CTL_FAIL,
                   "drill %s is signed by another key than your client key %s: not yours "
                   "to run",
                   d->id, path);
  if ((rc = ctl_drill_build_statement(d)))
    return rc;
  if (!ke_drill_signature_ok(d->auditor_key, d->statement, d->stmt_len, d->stmt_sig))
    return ctl_err(CTL_FAIL,
                   "the records or E the server shows for drill %s are not those you "
                   "signed",
                   d->id);
  ke_drill_code(d->code, d->statement, d->stmt_len);
  return CTL_OK;
}
