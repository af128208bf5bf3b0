/*
 * ctl_cmd_drill_run.c - `escrowctl drill run DRILL` (auditor): fetch the
 * custodians' parts, and for every record of the snapshot, in memory:
 * open each part with the one-time key and check its proof against Q_i,
 * combine T good ones, open the envelope (AEAD), check the secret's format
 * for its key type and its verifier against the stored one, wipe it.  Then
 * sign the summary (counts, failed records and why, custodian indices) with
 * the client key and post it; the server appends it to the audit log.
 * Nothing of a secret is ever printed or written.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "ctl_cmd.h"
#include "ctl_drill.h"
#include "ctl_escrow_pin.h"
#include "ctl_open.h"
#include "ke_bitlocker.h"
#include "ke_canon.h"
#include "ke_note.h"

const char ctl_usage_drill_run[] =
  "usage: escrowctl drill run (--all | --sample N | --group G\n"
  "                           | --canary N --fingerprint HEX) [--expires HOURS]\n"
  "       escrowctl drill run DRILL --key FILE\n"
  "                           [--client-key FILE] [--escrow-fingerprint HEX]\n"
  "                           [--server URL] [--cacert FILE]\n"
  "Open every envelope of the drill in memory, check it, and post the summary\n"
  "signed with your client key (auditor).  With a selection, start the drill\n"
  "here (its id on stdout, the confirmation code for the custodians on\n"
  "stderr), wait until enough custodians sent their parts, then open: the\n"
  "one-time key lives only in this process's locked memory.  With DRILL, use\n"
  "the key file `drill start --key-out` wrote.  Exit 0 when every record is\n"
  "ok, 1 when some failed (listed on stdout), other codes on errors.  The\n"
  "server then deletes the drill's parts.  A canary drill opens only its own\n"
  "canaries, each to the secret sealed at its start.\n"
  "--escrow-fingerprint HEX (default: $ESCROWCTL_ESCROW_FINGERPRINT, else the\n"
  "fingerprints pinned by `escrowctl escrow-key pin`): refuse a drill with a\n"
  "record under any other escrow key.\n";

typedef struct run_opts {
  ctl_http_target t;
  ctl_drill_sel s;
  const char *key, *ckey, *escrow_fpr;
} run_opts;

static int run_opt(void *ctx, int opt, const char *arg)
{
  run_opts *o = ctx;
  return ctl_http_opt(&o->t, opt, arg) || ctl_drill_sel_opt(&o->s, opt, arg) ? CTL_OK : CTL_USAGE;
}

/* The secret has the shape of its key type: a BitLocker recovery password
 * whose blocks pass their checksum; a FileVault recovery key (6 groups of 4
 * of A-Z0-9); a LUKS or other passphrase of 1..512 bytes without NUL. */
static const char *run_format(const char *type, const uint8_t *s, size_t len)
{
  if (strcmp(type, "bitlocker") == 0) {
    char canon[KE_BITLOCKER_PASSWORD_LEN + 1];
    int bad = 0;
    ke_rc k = ke_bitlocker_password_parse(canon, (const char *)s, len, &bad);
    OPENSSL_cleanse(canon, sizeof canon);
    return k == KE_OK ? NULL : "bitlocker format";
  }
  if (strcmp(type, "filevault") == 0) {
    if (len != 29)
      return "filevault format";
    for (size_t i = 0; i < len; i++) {
      int dash = i % 5 == 4;
      if (dash ? s[i] != '-' : !((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9')))
        return "filevault format";
    }
    return NULL;
  }
  if (len < 1 || len > 512 || memchr(s, 0, len))
    return "passphrase format";
  return NULL;
}

/* One record: NULL when it is ok, else the reason. */
static const char *run_record(const ctl_drill *d, const ctl_drill_rec *r, const json_t *parts,
                              const ke_reqkey *key, ctl_good_parts *g, json_t *used)
{
  const ke_escrow_pub *pub = &d->keys[r->key].pub;
  char pid[KE_DRILL_PART_ID_MAX];
  ke_dleq *pr = ke_secure_alloc(sizeof *pr);
  ke_point *S = ke_secure_alloc(sizeof *S);
  uint8_t *secret = NULL;
  size_t len = 0, i;
  const json_t *it;
  const char *why = NULL;

  g->count = 0;
  if (!pr || !S || !ke_drill_part_id(pid, d->id, r->id)) {
    why = "internal error";
    goto out;
  }
  /* A canary drill opens nothing but the auditor's own canaries. */
  if (strcmp(d->mode, "canary") == 0 && (why = ctl_drill_canary_mine(r, d->id, &key->e)))
    goto out;
  json_array_foreach (parts, i, it) {
    const char *rid = ctl_jstr(it, "record_id");
    const char *p64 = ctl_jstr(it, "part");
    json_int_t idx = ctl_jint(it, "custodian_index");
    uint8_t pb[KE_PART_LEN];
    if (g->count >= pub->t || !rid || strcmp(rid, r->id) != 0 || !p64 || idx < 1 || idx > pub->n ||
        ke_b64url_decode_fixed(pb, sizeof pb, p64) != KE_OK)
      continue;
    /* A part that does not open or prove is not counted: another
     * custodian's may still make T. */
    if (ke_part_open(pr, pb, sizeof pb, &key->e, &key->E, pid, (unsigned)idx) != KE_OK ||
        ke_dleq_verify(pr, (unsigned)idx, &pub->public_shares[idx - 1], &r->env.R,
                       (const uint8_t *)d->id, strlen(d->id)) != KE_OK)
      continue;
    g->indices[g->count] = (uint8_t)idx;
    g->P[g->count++] = pr->P;
    json_array_append_new(used, json_integer(idx));
  }
  if (g->count < pub->t) {
    why = "not enough valid parts";
    goto out;
  }
  if (ke_combine(S, g->indices, g->P, g->count) != KE_OK) {
    why = "combine failed";
    goto out;
  }
  if (ke_envelope_open(&secret, &len, &r->env, &pub->commitments[0], S, r->device, r->volume) !=
      KE_OK) {
    why = "AEAD";
    goto out;
  }
  if ((why = run_format(r->key_type, secret, len)))
    goto out;
  /* v1 or v2 (one scrypt), compared in constant time. */
  if (ke_verifier_check(r->verifier, r->verifier_len, secret, len, r->device, r->volume) != KE_OK)
    why = "verifier mismatch";
  else if (strcmp(d->mode, "canary") == 0)
    why = ctl_drill_canary_secret(r, d->id, &key->e, secret, len);
out:
  if (secret)
    ke_secure_free(secret, len);
  ke_secure_free(pr, sizeof *pr);
  ke_secure_free(S, sizeof *S);
  return why;
}

static void run_progress(size_t done, size_t total)
{
  int w = 40, f = total ? (int)(done * (size_t)w / total) : w;
  fprintf(stderr, "\r[%.*s%*s] %zu/%zu", f, "########################################", w - f, "",
          done, total);
  if (done == total)
    fputc('\n', stderr);
  fflush(stderr);
}

static int run_post(ctl_http *h, const run_opts *o, const json_t *sum, const char *id, json_t **ans)
{
  char cpath[4200], path[128], *text = NULL, *s64 = NULL;
  uint8_t sig[KE_NOTE_SIG_LEN];
  ke_note_key *ck = NULL;
  json_t *body = NULL;
  size_t len;
  int rc;

  if ((rc = ctl_client_key_path(cpath, sizeof cpath, o->ckey)))
    return rc;
  rc = CTL_FAIL;
  if (ke_note_key_load(&ck, cpath) != KE_OK) {
    ctl_errf("cannot load the client key %s", cpath);
    goto out;
  }
  if (ke_canon_dump(sum, &text, &len) != KE_OK ||
      ke_note_key_sign_raw(ck, (const uint8_t *)text, len, sig) != KE_OK ||
      !(s64 = ke_b64url_encode(sig, sizeof sig)) ||
      !(body = json_pack("{s:O,s:s}", "summary", sum, "signature", s64)))
    goto out;
  snprintf(path, sizeof path, "/v1/drills/%s/result", id);
  rc = ctl_http_call(h, "POST", path, body, ans);
out:
  json_decref(body);
  free(text);
  free(s64);
  ke_note_key_free(ck);
  return rc;
}

/* Wait, with the status long-poll, until T custodians (the escrow key's
 * threshold) have sent their batch, the drill closes or its statement
 * expires.  The key is in this process's memory only: if it ends first,
 * the drill can never be opened (it simply expires). */
static int run_wait(ctl_http *h, const ctl_drill *d)
{
  unsigned t = 0, retries = 0;
  long long since = -1;
  time_t end = time(NULL) + 72 * 3600;
  struct tm tm = {0};
  char path[200];

  for (size_t k = 0; k < d->nkeys; k++)
    t = d->keys[k].pub.t > t ? d->keys[k].pub.t : t;
  if (sscanf(d->expires, "%4d-%2d-%2dT%2d:%2d:%2dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
             &tm.tm_hour, &tm.tm_min, &tm.tm_sec) == 6) {
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    end = timegm(&tm);
  }
  ctl_notef("waiting for %u custodian(s) until %s (this process holds the one-time key: "
            "keep it running)",
            t, d->expires);
  for (;;) {
    json_t *ans = NULL, *dr;
    long long n;
    time_t now = time(NULL);
    int rc;

    if (now >= end)
      return ctl_err(CTL_FAIL, "drill %s expired before %u custodians answered", d->id, t);
    long long w = end - now < 60 ? (long long)(end - now) : 60;
    if (since < 0) /* the first call answers at once */
      snprintf(path, sizeof path, "/v1/drills/%s/status", d->id);
    else
      snprintf(path, sizeof path, "/v1/drills/%s/status?wait=%lld&since=%lld", d->id, w, since);
    /* The key dies with this process: ride out a server restart or a
     * network hiccup (about five minutes) rather than lose the drill. */
    if ((rc = ctl_http_call(h, "GET", path, NULL, &ans)) == CTL_NET && retries++ < 60) {
      sleep(5);
      continue;
    }
    if (rc)
      return rc;
    retries = 0;
    dr = json_object_get(ans, "drill");
    n = (long long)json_array_size(json_object_get(dr, "custodian_indices"));
    int open = strcmp(ctl_jstr(dr, "state") ?: "", "open") == 0;
    json_decref(ans);
    if (!open)
      return ctl_err(CTL_FAIL, "drill %s was closed by someone else", d->id);
    if (n != since)
      ctl_notef("  %lld of %u custodian(s) have sent their parts", n, t);
    if (n >= (long long)t)
      return CTL_OK;
    since = n;
  }
}

/* The drill and its one-time key: DRILL with --key FILE (from `drill start
 * --key-out`), or a new drill started here (--all, --sample, --group),
 * whose key never leaves locked memory, waited for until T custodians
 * answered. */
static int run_prepare(ctl_http *h, run_opts *o, const char *id, ke_reqkey *key, ctl_drill *d)
{
  int rc;

  if (!id) {
    if ((rc = ctl_drill_begin(h, &o->s, NULL, key, d)))
      return rc;
    printf("%s\n", d->id);
    fflush(stdout);
    rc = run_wait(h, d);
    ctl_drill_free(d);
    if (rc || (rc = ctl_drill_fetch(h, key->request_id, d)))
      return rc;
    return ctl_drill_check_own(d, o->s.ckey);
  }
  if (!o->key)
    return ctl_err(CTL_USAGE, "--key FILE: the one-time key `drill start --key-out` wrote");
  if ((rc = ctl_load_reqkey(key, o->key)))
    return rc;
  if (strcmp(key->request_id, id) != 0)
    return ctl_err(CTL_FAIL, "%s is not the one-time key of drill %s", o->key, id);
  if ((rc = ctl_drill_fetch(h, id, d)))
    return rc;
  if (!ke_ct_eq(d->E.b, key->E.b, KE_POINT_LEN))
    return ctl_err(CTL_FAIL, "the drill's one-time key is not the one in %s", o->key);
  return ctl_drill_check_own(d, o->s.ckey);
}

static const struct option run_options[] = {
  CTL_HTTP_OPTIONS,
  CTL_DRILL_SEL_OPTIONS,
  {"key", required_argument, 0, CTL_OPT_ARG(run_opts, key)},
  {"escrow-fingerprint", required_argument, 0, CTL_OPT_ARG(run_opts, escrow_fpr)},
  CTL_OPT_END,
};

/* The command line: a drill started before (DRILL --key FILE) or a
 * selection to start one now; *id is the drill or NULL. */
static int run_args(const ctl_cmd *cmd, int argc, char **argv, run_opts *o, const char **id)
{
  int rc, first = 0;
  if ((rc = ctl_getopt(cmd, argc, argv, run_options, run_opt, o, &first)))
    return rc;
  if (argc > first && (rc = ctl_drill_args(cmd, argc, argv, run_options, run_opt, o, id)))
    return rc;
  if (*id ? (o->s.all || o->s.sample || o->s.group || o->s.canary) : o->key != NULL)
    return ctl_err(CTL_USAGE, "either DRILL --key FILE (a drill started before), or --all, "
                              "--sample N, --group G or --canary N (start one now)");
  if (!*id && (rc = ctl_drill_sel_text(&o->s)))
    return rc;
  if (*id && !ke_drill_id_ok(*id))
    return ctl_err(CTL_USAGE, "name one drill (drl-...)");
  o->ckey = o->s.ckey;
  return CTL_OK;
}

/* Open and check every record with the parts of `ans`; failures into
 * fails, the custodian index of every good part into used. */
static size_t run_records(const ctl_drill *d, const json_t *ans, const ke_reqkey *key,
                          ctl_good_parts *g, json_t *fails, json_t *used)
{
  int tty = isatty(STDERR_FILENO);
  size_t okc = 0;
  for (size_t i = 0; i < d->nrec; i++) {
    const char *why = run_record(d, &d->rec[i], json_object_get(ans, "parts"), key, g, used);
    if (why)
      json_array_append_new(fails,
                            json_pack("{s:s,s:s}", "record_id", d->rec[i].id, "reason", why));
    else
      okc++;
    if (tty)
      run_progress(i + 1, d->nrec);
  }
  return okc;
}

/* Which custodians took part: the distinct indices in used, ascending. */
static void run_custodians(const json_t *used, json_t *idx)
{
  for (unsigned c = 1; c <= KE_MAX_SHARES; c++) {
    size_t j;
    json_t *v;
    json_array_foreach (used, j, v)
      if (json_integer_value(v) == (json_int_t)c) {
        json_array_append_new(idx, json_integer(c));
        break;
      }
  }
}

/* The verdict, and what follows the drill on the server's side (res). */
static void run_report(const ctl_drill *d, const run_opts *o, const json_t *fails, size_t okc,
                       const json_t *res)
{
  size_t j;
  json_t *f;
  printf("drill %s: %zu record(s), %zu ok, %zu failed\n", d->id, d->nrec, okc, d->nrec - okc);
  json_array_foreach (fails, j, f)
    printf("failed %s: %s\n", ctl_jstr(f, "record_id"), ctl_jstr(f, "reason"));
  /* Its parts are gone; a full drill's records are disclosed and rotate,
   * a canary drill's are not. */
  printf("parts deleted: %lld\n", ctl_jint(res, "parts_deleted"));
  if (strcmp(d->mode, "canary") == 0)
    printf("canary drill: %zu of %zu canaries opened to their sealed secrets; no real record "
           "was opened or disclosed\n",
           okc, d->nrec);
  else
    printf("disclosed by this drill: %lld record(s); each device rotates its key at its next "
           "check-in\n",
           ctl_jint(res, "disclosed"));
  /* The parts are gone with the result: a key file opens nothing any more
   * but a database backup from before (an in-memory key dies here). */
  if (o->key)
    ctl_notef("the one-time key %s opens nothing any more but old database backups: "
              "delete it",
              o->key);
}

int ctl_cmd_drill_run(const ctl_cmd *cmd, int argc, char **argv)
{
  run_opts o = {0};
  ctl_http *h = NULL;
  ctl_drill d = {0};
  ke_reqkey *key = NULL;
  ctl_good_parts *g = NULL;
  json_t *ans = NULL, *fails = NULL, *used = NULL, *sum = NULL, *idx = NULL, *res = NULL;
  char path[128];
  size_t okc = 0;
  const char *id = NULL;
  int rc;
  if ((rc = run_args(cmd, argc, argv, &o, &id)))
    return rc;
  key = ke_secure_alloc(sizeof *key);
  g = ke_secure_alloc(sizeof *g);
  if (!key || !g) {
    rc = CTL_FAIL;
    goto out;
  }
  if ((rc = ctl_http_open(&h, &o.t, 1)) || (rc = run_prepare(h, &o, id, key, &d)))
    goto out;
  /* Every escrow key of the drill is pinned (ctl_escrow_pin.h). */
  for (size_t k = 0; k < d.nkeys; k++)
    if ((rc = ctl_escrow_pin_check(o.escrow_fpr, d.keys[k].pub.fingerprint, "the drill")))
      goto out;
  snprintf(path, sizeof path, "/v1/drills/%s/parts", d.id);
  if ((rc = ctl_http_call(h, "GET", path, NULL, &ans)))
    goto out;
  rc = CTL_FAIL;
  if (!json_is_array(json_object_get(ans, "parts")) || !(fails = json_array()) ||
      !(used = json_array()) || !(idx = json_array()))
    goto out;
  okc = run_records(&d, ans, key, g, fails, used);
  run_custodians(used, idx);
  if (json_array_size(idx) == 0) {
    ctl_errf("no valid part from any custodian: nothing to report yet");
    goto out;
  }
  sum = json_pack("{s:s,s:s,s:I,s:I,s:I,s:O,s:O}", "type", KE_DRILL_RESULT_TYPE, "drill", d.id,
                  "total", (json_int_t)d.nrec, "ok", (json_int_t)okc, "failed",
                  (json_int_t)(d.nrec - okc), "failures", fails, "custodians", idx);
  if (!sum || (rc = run_post(h, &o, sum, d.id, &res)))
    goto out;
  run_report(&d, &o, fails, okc, res);
  rc = okc == d.nrec ? CTL_OK : CTL_FAIL;
out:
  json_decref(ans);
  json_decref(res);
  json_decref(fails);
  json_decref(used);
  json_decref(idx);
  json_decref(sum);
  ke_secure_free(key, sizeof *key);
  ke_secure_free(g, sizeof *g);
  ctl_drill_free(&d);
  ctl_http_free(h);
  return rc;
}
