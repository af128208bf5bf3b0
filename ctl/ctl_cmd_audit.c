/*
 * escrowctl audit verify - check the audit log like a witness does.
 *
 *  1. Fetch the server's newest checkpoint and verify its signature against
 *     the PINNED log key (never a key the server hands over).
 *  2. Fetch every entry; check that entry i is at index i, is canonical
 *     JSON and an event whose "seq" is i; hash it; fold the hashes into
 *     the tree (ke_merkle_stream) and compare the root with the checkpoint.
 *  3. With a saved checkpoint (an earlier run's --save): it must verify
 *     too, the recomputed root of the first `saved size` entries must equal
 *     it, and the server's consistency proof from it to the new checkpoint
 *     must verify (RFC 9162 2.1.4.2): the log only ever grew.
 *  4. On any mismatch, name the FIRST bad index.  A changed leaf is found by
 *     bisection: "the first m entries are genuine" is exactly "a consistency
 *     proof from our recomputed root of those m entries to the signed root
 *     verifies", which is monotonic in m.  Proof hashes that fail to verify
 *     prove nothing, so a lying server cannot shift the blame to an earlier
 *     index than the first one it cannot prove.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "ctl_audit.h"
#include "ctl_logview.h"
#include "ctl_cmd.h"
#include "ke_canon.h"
#include "ke_merkle.h"

const char ctl_usage_audit_verify[] =
  "usage: escrowctl audit verify [--log-key VKEY] [--checkpoint FILE] [--save]\n"
  "\n"
  "Verifies the whole audit log (auditor role): the newest checkpoint's signature\n"
  "against the pinned log key, every entry, the recomputed Merkle tree, and that\n"
  "the log extends the checkpoint saved by an earlier run.  Exits 1 naming the\n"
  "first bad index on any mismatch.\n"
  "\n"
  "  --log-key VKEY     the log's verifier key (name+id+key), from a trusted\n"
  "                     channel; default $ESCROWCTL_LOG_KEY, else the key pinned\n"
  "                     by an earlier --save (<config>/audit-log-key)\n"
  "  --checkpoint FILE  the checkpoint saved earlier (default\n"
  "                     <config>/audit-checkpoint when it exists)\n"
  "  --save             store the newly verified checkpoint there (mode 0600),\n"
  "                     and pin --log-key if no key is pinned yet\n"
  "  --server URL, --cacert PEM   as for every online command\n";

typedef struct audit_opts {
  ctl_http_target t;
  const char *log_key, *checkpoint;
  int save;
} audit_opts;

static const struct option audit_options[] = {
  CTL_HTTP_OPTIONS,
  {"log-key", required_argument, 0, CTL_OPT_ARG(audit_opts, log_key)},
  {"checkpoint", required_argument, 0, CTL_OPT_ARG(audit_opts, checkpoint)},
  {"save", no_argument, 0, CTL_OPT_SET(audit_opts, save)},
  CTL_OPT_END};

/* State of the walk over the entries. */
typedef struct walk {
  int64_t next;    /* the index expected next */
  uint8_t *hashes; /* leaf hashes [0, next) */
  size_t cap;
  int64_t first_bad; /* -1: none yet */
  char why[160];
} walk;

static void bad(walk *w, int64_t index, const char *why)
{
  if (w->first_bad < 0 || index < w->first_bad) {
    w->first_bad = index;
    snprintf(w->why, sizeof w->why, "%s", why);
  }
}

static int on_leaf(void *ctx, int64_t index, const uint8_t *leaf, size_t len)
{
  walk *w = ctx;
  json_t *ev = NULL;

  if (index != w->next) {
    /* A missing (or reordered) entry: nothing after it can be hashed. */
    bad(w, w->next, "missing from the server's entries");
    return CTL_AUDIT_STOP;
  }
  if ((size_t)(w->next + 1) * KE_MERKLE_HASH_LEN > w->cap) {
    size_t cap = w->cap ? w->cap * 2 : 4096 * KE_MERKLE_HASH_LEN;
    uint8_t *n = realloc(w->hashes, cap);
    if (!n)
      return ctl_oom();
    w->hashes = n;
    w->cap = cap;
  }
  if (ke_merkle_leaf_hash(w->hashes + (size_t)w->next * KE_MERKLE_HASH_LEN, leaf, len) != KE_OK)
    return CTL_FAIL;
  if (ke_canon_parse(&ev, (const char *)leaf, len) != KE_OK)
    bad(w, index, "not canonical JSON");
  else if (ke_canon_event_check(ev, (uint64_t)index) != KE_OK)
    bad(w, index, "not an event whose seq is its index");
  json_decref(ev);
  w->next++;
  return CTL_OK;
}

/* Does a consistency proof from (m, our root of the first m leaves) to
 * (size, root) verify?  1 yes, 0 no, or -(exit code). */
static int prefix_genuine(ctl_http *h, const walk *w, int64_t m, int64_t size,
                          const uint8_t root[KE_MERKLE_HASH_LEN])
{
  uint8_t ours[KE_MERKLE_HASH_LEN];

  if (ke_merkle_root(ours, w->hashes, (uint64_t)m) != KE_OK)
    return -CTL_FAIL;
  return ctl_logview_consistent(h, (uint64_t)m, ours, (uint64_t)size, root);
}

/* The first index whose entry the tree of (size, root) does not vouch for,
 * among the `w->next` entries we hold; -1 if all of [0, size) are proven.
 * Bisection on m: prefix_genuine(0) holds, the answer is the first m with
 * prefix_genuine(m + 1) false. */
static int64_t first_unproven(ctl_http *h, const walk *w, int64_t size,
                              const uint8_t root[KE_MERKLE_HASH_LEN], int *err)
{
  int64_t lo = 0, hi = w->next < size ? w->next : size; /* prefix lo proven */
  int r;

  *err = CTL_OK;
  r = prefix_genuine(h, w, hi, size, root);
  if (r < 0) {
    *err = -r;
    return -1;
  }
  if (r)
    return hi < size ? hi : -1;
  while (hi - lo > 1) { /* invariant: lo proven, hi not */
    int64_t mid = lo + (hi - lo) / 2;
    r = prefix_genuine(h, w, mid, size, root);
    if (r < 0) {
      *err = -r;
      return -1;
    }
    if (r)
      lo = mid;
    else
      hi = mid;
  }
  return lo;
}

static void b64(char out[64], const uint8_t *h)
{
  char *s = ke_note_b64_encode(h, KE_MERKLE_HASH_LEN);
  snprintf(out, 64, "%s", s ? s : "?");
  free(s);
}

/* One run of audit verify. */
typedef struct verify {
  audit_opts o;
  ke_note_verifier v;
  ke_note_checkpoint cp, saved; /* the server's newest; the saved one */
  char *vkey, cppath[4200];
  int key_pinned, have_saved;
  ctl_http *h;
  ke_buf note; /* the server's checkpoint as received */
  walk w;
  int64_t size, first; /* cp.size; the first index not proven */
} verify;

/* The saved checkpoint, if any: --checkpoint or the default path. */
static int open_saved(verify *a)
{
  int rc;
  if (a->o.checkpoint)
    snprintf(a->cppath, sizeof a->cppath, "%s", a->o.checkpoint);
  else if ((rc = ctl_audit_default_path(a->cppath, sizeof a->cppath, "audit-checkpoint")))
    return rc;
  if ((rc = ctl_logview_load_saved(&a->v, a->cppath, &a->saved, &a->have_saved)))
    return rc;
  /* An explicit --checkpoint must exist, unless this run creates it. */
  if (!a->have_saved && a->o.checkpoint && !a->o.save)
    return ctl_err(CTL_USAGE, "no saved checkpoint %s (use --save to create it)", a->cppath);
  return CTL_OK;
}

/* The server's newest checkpoint, verified with the pinned key, not older
 * than the saved one. */
static int fetch_head(verify *a)
{
  int rc;
  if ((rc = ctl_http_open(&a->h, &a->o.t, 1)))
    return rc;
  if ((rc = ctl_http_get_raw(a->h, "/v1/audit/checkpoint?fresh=1&format=note", &a->note, NULL)))
    return rc;
  if (ke_note_checkpoint_open(&a->v, a->note.p, a->note.len, &a->cp) != KE_OK)
    return ctl_err(CTL_FAIL, "the server's checkpoint does not verify with the pinned log key %s",
                   a->vkey);
  if (a->cp.size > (uint64_t)INT64_MAX / KE_MERKLE_HASH_LEN)
    return ctl_err(CTL_FAIL, "the checkpoint's tree size is absurd");
  a->size = (int64_t)a->cp.size;
  if (a->have_saved && a->saved.size > a->cp.size)
    return ctl_err(CTL_FAIL,
                   "the server's checkpoint (size %lld) is older than the saved one "
                   "(size %llu): the log was rolled back",
                   (long long)a->size, (unsigned long long)a->saved.size);
  return CTL_OK;
}

/* Against the saved checkpoint first: what was verified before must not
 * have changed, and the new head must extend it. */
static int check_saved(verify *a)
{
  int err;
  int64_t s = first_unproven(a->h, &a->w, (int64_t)a->saved.size, a->saved.root, &err);
  if (err)
    return err;
  if (s >= 0) {
    bad(&a->w, s, "differs from the saved checkpoint");
    return ctl_err(CTL_OK, "the log does not extend the saved checkpoint of size %llu",
                   (unsigned long long)a->saved.size);
  }
  int r = prefix_genuine(a->h, &a->w, (int64_t)a->saved.size, a->size, a->cp.root);
  if (r < 0)
    return -r;
  if (r == 0) {
    ctl_errf("no valid consistency proof from the saved checkpoint (size %llu) to the "
             "server's (size %lld): the log forked",
             (unsigned long long)a->saved.size, (long long)a->size);
    a->first = (int64_t)a->saved.size; /* nothing after the saved head is proven */
  }
  return CTL_OK;
}

/* The entries against the signed head: the recomputed root, and where it
 * differs the first entry the head does not vouch for. */
static int check_head(verify *a)
{
  uint8_t root[KE_MERKLE_HASH_LEN];
  int err;
  if (ke_merkle_root(root, a->w.hashes, (uint64_t)a->w.next) != KE_OK)
    return CTL_FAIL;
  if (a->w.next != a->size || CRYPTO_memcmp(root, a->cp.root, sizeof root) != 0) {
    int64_t s = first_unproven(a->h, &a->w, a->size, a->cp.root, &err);
    if (err)
      return err;
    bad(&a->w, s >= 0 ? s : a->w.next, "does not match the signed tree head");
  }
  return CTL_OK;
}

/* --save: the checkpoint, and the log key when none is pinned yet. */
static int save(const verify *a)
{
  int rc;
  if ((rc = ctl_audit_config_dir()))
    return rc;
  if ((rc = ctl_audit_replace(a->cppath, a->note.p, a->note.len)))
    return rc;
  if (!a->key_pinned) {
    char kpath[4200];
    if ((rc = ctl_audit_default_path(kpath, sizeof kpath, "audit-log-key")))
      return rc;
    if (!ctl_exists(kpath)) {
      char line[KE_NOTE_MAX_NAME + 128];
      snprintf(line, sizeof line, "%s\n", a->vkey);
      if ((rc = ctl_audit_replace(kpath, line, strlen(line))))
        return rc;
      ctl_notef("pinned the log key in %s", kpath);
    }
  }
  ctl_notef("saved the checkpoint of size %lld in %s", (long long)a->size, a->cppath);
  return CTL_OK;
}

/* Fetch and check every entry; print the verdict. */
static int verify_log(verify *a)
{
  walk *w = &a->w;
  char rootb64[64];
  int rc = ctl_audit_fetch(a->h, 0, a->size, on_leaf, w, NULL);
  if (rc != CTL_OK && rc != CTL_AUDIT_STOP)
    return rc;
  if (w->next < a->size)
    bad(w, w->next, "missing from the server's entries");
  if ((a->have_saved && (rc = check_saved(a))) || (rc = check_head(a)))
    return rc;
  if (w->first_bad >= 0 && (a->first < 0 || w->first_bad < a->first))
    a->first = w->first_bad;
  if (a->first >= 0) {
    printf("FAILED: first bad index %lld (%s)\n", (long long)a->first,
           a->first == w->first_bad ? w->why : "not proven consistent with the saved checkpoint");
    return ctl_err(CTL_FAIL, "audit log verification failed at index %lld", (long long)a->first);
  }
  b64(rootb64, a->cp.root);
  printf("ok: %lld entries verified; root %s signed by %s", (long long)a->size, rootb64, a->v.name);
  if (a->have_saved)
    printf("; extends the saved checkpoint of size %llu", (unsigned long long)a->saved.size);
  printf("\n");
  return CTL_OK;
}

int ctl_cmd_audit_verify(const ctl_cmd *cmd, int argc, char **argv)
{
  verify a = {.w = {0, NULL, 0, -1, ""}, .first = -1};
  int rc;

  if ((rc = ctl_getopt(cmd, argc, argv, audit_options, ctl_http_on_opt, &a.o, NULL)))
    return rc;
  if ((rc = ctl_audit_log_key(&a.v, &a.vkey, a.o.log_key, &a.key_pinned)))
    return rc;
  if (!(rc = open_saved(&a)) && !(rc = fetch_head(&a)) && !(rc = verify_log(&a)) && a.o.save)
    rc = save(&a);
  ctl_http_free(a.h);
  ke_buf_free(&a.note);
  free(a.w.hashes);
  free(a.vkey);
  return rc;
}
