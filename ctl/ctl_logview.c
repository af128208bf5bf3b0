/*
 * ctl_logview.c - the client's consistent view of the audit log (see
 * ctl_logview.h).
 */
#include "ctl_logview.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "ctl_audit.h"
#include "ctl_util.h"
#include "ke_cosig.h"
#include "ke_util.h"

#define CTL_MAX_WITNESSES 8

static const char *witness_arg;

void ctl_logview_set_witness(const char *vkeys) { witness_arg = vkeys; }

/* The configured witness keys into w (at most CTL_MAX_WITNESSES); *n = 0
 * when none.  CTL_OK or CTL_USAGE/CTL_FAIL (printed). */
static int load_witnesses(ke_cosig_verifier *w, size_t *n)
{
  const char *env = getenv("ESCROWCTL_WITNESS_KEY"), *src = witness_arg, *from = "--witness-key";
  char path[4200], *copy = NULL, *save = NULL, *tok;
  ke_buf b = {0};
  int rc = CTL_OK;

  *n = 0;
  if (!src && env && *env) {
    src = env;
    from = "$ESCROWCTL_WITNESS_KEY";
  }
  if (!src) {
    if ((rc = ctl_audit_default_path(path, sizeof path, "audit-witness-keys")))
      return rc;
    if (!ctl_exists(path))
      return CTL_OK;
    if ((rc = ctl_read(&b, path, 64 * 1024, 0, "witness keys")))
      return rc;
    src = b.p;
    from = path;
  }
  if (!(copy = strdup(src))) {
    ke_buf_free(&b);
    return CTL_FAIL;
  }
  for (tok = strtok_r(copy, ", \t\r\n", &save); tok; tok = strtok_r(NULL, ", \t\r\n", &save)) {
    if (*n == CTL_MAX_WITNESSES || ke_cosig_vkey_parse(&w[*n], tok) != KE_OK) {
      rc = ctl_err(CTL_USAGE,
                   "%s: '%s' is not a witness key (name+id+base64 of 0x04 and an "
                   "Ed25519 key; at most %d)",
                   from, tok, CTL_MAX_WITNESSES);
      break;
    }
    (*n)++;
  }
  free(copy);
  ke_buf_free(&b);
  return rc;
}

/* Every configured witness cosigned the note. */
static int check_cosigned(const ke_cosig_verifier *w, size_t n, const ke_buf *note, uint64_t size)
{
  for (size_t i = 0; i < n; i++)
    if (ke_cosig_verify(&w[i], note->p, note->len, NULL) != KE_OK)
      return ctl_err(CTL_FAIL,
                     "the server's checkpoint (tree size %llu) has no valid cosignature "
                     "by the witness %s: refusing",
                     (unsigned long long)size, w[i].name);
  return CTL_OK;
}

int ctl_logview_consistent(ctl_http *h, uint64_t m, const uint8_t root_m[KE_MERKLE_HASH_LEN],
                           uint64_t n, const uint8_t root_n[KE_MERKLE_HASH_LEN])
{
  ke_merkle_path p;
  char url[128];
  json_t *ans = NULL;
  int rc, ok;

  if (m == n)
    return CRYPTO_memcmp(root_m, root_n, KE_MERKLE_HASH_LEN) == 0;
  if (m > n)
    return 0;
  if (m == 0)
    return 1;
  snprintf(url, sizeof url, "/v1/audit/proof/consistency?from=%llu&to=%llu", (unsigned long long)m,
           (unsigned long long)n);
  if ((rc = ctl_http_call(h, "GET", url, NULL, &ans)) != CTL_OK)
    return -rc;
  ok = ke_note_path_decode(&p, json_object_get(ans, "consistency_path")) == KE_OK &&
       ke_merkle_verify_consistency(m, n, root_m, root_n, &p) == KE_OK;
  json_decref(ans);
  return ok;
}

/* The saved checkpoint, if any: *have = 0 when there is none.  CTL_LATER
 * when it cannot be read (this host's trouble, not the log's). */
static int load_saved(const ke_note_verifier *vk, const char *path, ke_note_checkpoint *cp,
                      int *have)
{
  ke_buf b = {0};
  int rc = CTL_OK;

  *have = 0;
  if (!ctl_exists(path))
    return CTL_OK;
  if (ctl_read(&b, path, KE_NOTE_MAX_LEN, 0, "saved checkpoint"))
    return CTL_LATER;
  if (ke_note_checkpoint_open(vk, b.p, b.len, cp) != KE_OK) {
    rc = ctl_err(CTL_FAIL, "the saved checkpoint %s does not verify with the pinned log key", path);
  } else {
    *have = 1;
  }
  ke_buf_free(&b);
  return rc;
}

int ctl_logview_load_saved(const ke_note_verifier *vk, const char *path, ke_note_checkpoint *cp,
                           int *have)
{
  int rc = load_saved(vk, path, cp, have);
  return rc == CTL_LATER ? CTL_FAIL : rc;
}

/* The fresh checkpoint against the saved one; CTL_OK when it extends it. */
static int check_extends(ctl_http *h, const ke_note_checkpoint *saved, const ke_note_checkpoint *cp)
{
  int r;

  if (cp->size < saved->size)
    return ctl_err(CTL_FAIL,
                   "FORKED LOG VIEW: the server's checkpoint (tree size %llu) is older "
                   "than the one this client saved (tree size %llu): the log was rolled back or "
                   "forked; refusing",
                   (unsigned long long)cp->size, (unsigned long long)saved->size);
  r = ctl_logview_consistent(h, saved->size, saved->root, cp->size, cp->root);
  if (r < 0)
    return -r;
  if (r == 0)
    return ctl_err(CTL_FAIL,
                   "FORKED LOG VIEW: the server's checkpoint (tree size %llu) is not "
                   "consistent with the one this client saved (tree size %llu): the log was "
                   "rewritten or forked; refusing",
                   (unsigned long long)cp->size, (unsigned long long)saved->size);
  return CTL_OK;
}

int ctl_logview_check_keys(const char *log_key_arg)
{
  ke_note_verifier vk;
  ke_cosig_verifier w[CTL_MAX_WITNESSES];
  char *text = NULL;
  size_t nw;
  int rc, pinned;

  if (!(rc = ctl_audit_log_key(&vk, &text, log_key_arg, &pinned)))
    rc = load_witnesses(w, &nw);
  free(text);
  return rc;
}

int ctl_logview_open(ctl_logview *lv, ctl_http *h, const char *log_key_arg)
{
  ke_note_checkpoint saved;
  ke_cosig_verifier w[CTL_MAX_WITNESSES];
  size_t nw = 0;
  ke_buf note = {0};
  char path[4200];
  long status = 0;
  int rc, pinned = 0, fd = -1;

  memset(lv, 0, sizeof *lv);
  if ((rc = ctl_audit_log_key(&lv->vk, &lv->vkey, log_key_arg, &pinned)))
    return rc;
  if ((rc = load_witnesses(w, &nw)))
    goto out;
  /* The saved checkpoint is read, checked against and replaced by one
   * command at a time.  This host failing at that proves nothing about the
   * log: CTL_LATER. */
  if (ctl_audit_default_path(path, sizeof path, "audit-checkpoint") ||
      (fd = ctl_audit_lock("audit-checkpoint.lock", LOCK_EX)) < 0) {
    rc = CTL_LATER;
    goto out;
  }
  if ((rc = load_saved(&lv->vk, path, &saved, &lv->had_saved)))
    goto out;
  /* A fresh checkpoint no witness has seen yet is of no use with witnesses:
   * take the newest one they cosigned (404 when none is yet: a lag). */
  if ((rc = ctl_http_get_raw(
         h, nw ? "/v1/audit/checkpoint/cosigned" : "/v1/audit/checkpoint?fresh=1&format=note",
         &note, &status))) {
    if (nw && status == 404)
      rc = CTL_LATER;
    goto out;
  }
  if (ke_note_checkpoint_open(&lv->vk, note.p, note.len, &lv->cp) != KE_OK) {
    rc = ctl_err(CTL_FAIL, "the server's checkpoint does not verify with the pinned log key %s",
                 lv->vkey);
    goto out;
  }
  if ((rc = check_cosigned(w, nw, &note, lv->cp.size)))
    goto out;
  lv->witnesses = nw;
  if (lv->had_saved) {
    lv->saved_size = saved.size;
    if ((rc = check_extends(h, &saved, &lv->cp)))
      goto out;
  }
  if ((!lv->had_saved || lv->cp.size > saved.size) && ctl_audit_replace(path, note.p, note.len))
    rc = CTL_LATER;
out:
  if (fd >= 0)
    close(fd); /* releases the lock */
  ke_buf_free(&note);
  if (rc)
    ctl_logview_free(lv);
  return rc;
}

int ctl_logview_prove(const ctl_logview *lv, ctl_http *h, int64_t index, const char *leaf,
                      size_t len, const char *what)
{
  ke_merkle_path *path = NULL;
  uint8_t lh[KE_MERKLE_HASH_LEN];
  json_t *ans = NULL;
  char url[160];
  int rc;

  if (index < 0)
    return ctl_err(CTL_FAIL, "%s has no leaf index: refusing", what);
  if ((uint64_t)index >= lv->cp.size)
    return ctl_err(CTL_LATER,
                   "%s (leaf %lld) is not in the signed log yet (tree size %llu%s): retry "
                   "later",
                   what, (long long)index, (unsigned long long)lv->cp.size,
                   lv->witnesses ? ", the newest cosigned" : "");
  snprintf(url, sizeof url, "/v1/audit/proof/inclusion?index=%lld&size=%llu", (long long)index,
           (unsigned long long)lv->cp.size);
  if ((rc = ctl_http_call(h, "GET", url, NULL, &ans)))
    return rc;
  rc = CTL_FAIL;
  if (!(path = calloc(1, sizeof *path))) {
    ctl_errf("out of memory");
    goto out;
  }
  if (ke_note_path_decode(path, json_object_get(ans, "inclusion_path")) != KE_OK ||
      ke_merkle_leaf_hash(lh, leaf, len) != KE_OK ||
      ke_merkle_verify_inclusion(lh, (uint64_t)index, lv->cp.size, path, lv->cp.root) != KE_OK) {
    ctl_errf("the inclusion proof of %s does not verify against the signed checkpoint: "
             "refusing",
             what);
    goto out;
  }
  rc = CTL_OK;
out:
  free(path);
  json_decref(ans);
  return rc;
}

void ctl_logview_free(ctl_logview *lv)
{
  free(lv->vkey);
  lv->vkey = NULL;
}

static int same(const json_t *o, const char *key, const char *want)
{
  const char *v = ctl_jstr(o, key);
  return v && strcmp(v, want) == 0;
}

int ctl_escrow_event_ok(const char *leaf, const char *record_id, const char *device,
                        const char *volume, const uint8_t envelope_sha256[32], const char *canary)
{
  char hex[65], obj[200];
  json_error_t je;
  json_t *ev, *d;
  int ok;

  if (!leaf || !record_id || !device || !volume)
    return 0;
  ke_hex_encode(hex, envelope_sha256, 32);
  snprintf(obj, sizeof obj, "record:%s", record_id);
  /* Duplicate keys are refused: a leaf must mean one thing to everyone. */
  ev = json_loads(leaf, JSON_REJECT_DUPLICATES, &je);
  d = json_object_get(ev, "details");
  ok = ev && same(ev, "action", "escrow.store") && same(ev, "object", obj) &&
       same(d, "envelope_sha256", hex) && same(d, "device", device) && same(d, "volume", volume);
  /* A canary's escrow names its drill (srv_drill_canary.c): it stands for
   * that canary drill only, and a real record's never carries the field. */
  if (ok)
    ok = canary ? same(d, "canary", canary) : json_object_get(d, "canary") == NULL;
  json_decref(ev);
  return ok;
}

int ctl_logview_check_escrow(const ctl_logview *lv, ctl_http *h, const json_t *view,
                             const uint8_t envelope_sha256[32], const char *device,
                             const char *volume)
{
  const char *leaf = ctl_jstr(view, "escrow_event");
  const json_t *ji = json_object_get(view, "leaf_index");
  json_int_t idx = json_integer_value(ji);
  const char *rec = ctl_jstr(view, "record_id");
  char what[240];
  int rc;

  if (!leaf || !rec || !json_is_integer(ji) || idx < 0)
    return ctl_err(CTL_FAIL,
                   "the server shows no audit event for the escrow of record %s: "
                   "refusing",
                   rec ? rec : "?");
  if (!ctl_escrow_event_ok(leaf, rec, device, volume, envelope_sha256, NULL))
    return ctl_err(CTL_FAIL,
                   "the audit event the server shows is not the escrow of this envelope "
                   "for device %s, volume %s: refusing",
                   device, volume);
  snprintf(what, sizeof what, "the escrow event of record %s", rec);
  if ((rc = ctl_logview_prove(lv, h, idx, leaf, strlen(leaf), what)))
    return rc;
  ctl_notef("  audit log          escrow event %lld proven in the signed log of size %llu%s%s",
            (long long)idx, (unsigned long long)lv->cp.size,
            lv->had_saved ? ", consistent with the checkpoint saved before" : "",
            lv->witnesses ? ", cosigned by the configured witnesses" : "");
  return CTL_OK;
}
