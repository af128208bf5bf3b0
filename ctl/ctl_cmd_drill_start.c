/*
 * ctl_cmd_drill_start.c - `escrowctl drill start` (auditor), and the start
 * of a drill that `drill run --all|--sample|--group` shares (ctl_drill.h):
 *
 * the auditor's client chooses the drill id, makes a one-time key pair e,
 * E = e*G (in locked memory; written to --key-out only for the split flow),
 * signs the drill request (lib/ke_drill.h) with the registered client key,
 * and once the server has made the snapshot, fetches it, checks that it
 * carries this E, and signs the drill statement that names the records
 * (their ids and envelope digests), the mode and the expiry: custodians act
 * on nothing else (docs/protocol.md section 9).  The confirmation code of
 * the statement is shown for the auditor to read to the custodians.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl_cmd.h"
#include "ctl_drill.h"
#include "ctl_open.h"
#include "ke_note.h"

const char ctl_usage_drill_start[] =
  "usage: escrowctl drill start (--all | --sample N | --group G\n"
  "                              | --canary N --fingerprint HEX) --key-out FILE\n"
  "                             [--expires HOURS] [--client-key FILE]\n"
  "                             [--server URL] [--cacert FILE]\n"
  "Start a backup-integrity drill (auditor) to run later with `escrowctl drill\n"
  "run DRILL --key FILE`.  The one-time key that opens every part goes to FILE\n"
  "(mode 0600, never overwritten): keep it offline and delete it after the run.\n"
  "`escrowctl drill run --all` (or --sample, --group) instead starts, waits and\n"
  "opens in one process, with the key in locked memory only.  The drill id is\n"
  "printed on stdout, the confirmation code for the custodians on stderr.\n"
  "  --expires HOURS   the custodians' deadline (1..744, default 72)\n"
  "  --canary N        a canary drill of N (1..100) canaries sealed to the current\n"
  "                    escrow key (its pinned --fingerprint HEX) instead of real\n"
  "                    records: it proves the custodians' shares and tools, opens\n"
  "                    no real key and discloses nothing\n";

typedef struct start_opts {
  ctl_http_target t;
  ctl_drill_sel s;
  const char *key_out;
} start_opts;

int ctl_drill_sel_opt(ctl_drill_sel *s, int opt, const char *arg)
{
  char *end;
  switch (opt) {
    case CTL_DRILL_O_ALL: s->all = 1; return 1;
    case CTL_DRILL_O_SAMPLE: s->sample = arg; return 1;
    case CTL_DRILL_O_GROUP: s->group = arg; return 1;
    case CTL_DRILL_O_CKEY: s->ckey = arg; return 1;
    case CTL_DRILL_O_CANARY: s->canary = arg; return 1;
    case CTL_DRILL_O_FPR:
      s->pinned = 1;
      s->bad_pin = ctl_parse_fpr(s->pin, arg) != CTL_OK;
      return 1;
    case CTL_DRILL_O_EXPIRES:
      s->hours = strtol(arg, &end, 10);
      if (*arg < '1' || *arg > '9' || *end || s->hours > 744)
        s->hours = -1;
      return 1;
  }
  return 0;
}

static int start_opt(void *ctx, int opt, const char *arg)
{
  start_opts *o = ctx;
  return ctl_http_opt(&o->t, opt, arg) || ctl_drill_sel_opt(&o->s, opt, arg) ? CTL_OK : CTL_USAGE;
}

int ctl_drill_sel_text(ctl_drill_sel *s)
{
  if (s->all + !!s->sample + !!s->group + !!s->canary != 1)
    return ctl_err(CTL_USAGE, "choose the records with exactly one of --all, --sample N, --group "
                              "G, --canary N");
  if (!!s->canary != s->pinned || s->bad_pin)
    return ctl_err(CTL_USAGE,
                   !s->canary
                     ? "--fingerprint goes with --canary"
                     : "--canary: give the pinned --fingerprint HEX of the current escrow key");
  snprintf(s->text, sizeof s->text, "%s%s",
           s->all      ? "all"
           : s->sample ? "sample:"
           : s->group  ? "group:"
                       : "canary:",
           s->all      ? ""
           : s->sample ? s->sample
           : s->group  ? s->group
                       : s->canary);
  if (!ke_drill_selection_ok(s->text))
    return ctl_err(CTL_USAGE, s->sample  ? "--sample: 1 to 999999"
                              : s->group ? "--group: a group name"
                                         : "--canary: 1 to 100");
  if (s->hours < 0)
    return ctl_err(CTL_USAGE, "--expires: 1 to 744 hours");
  s->mode = s->canary ? "canary" : "full";
  return CTL_OK;
}

/* The request the server verifies before it snapshots (ke_drill_statement). */
static int begin_request(ctl_http *h, const ctl_drill_sel *s, const ke_reqkey *key,
                         const ke_note_key *ck, json_t **ans)
{
  char stmt[KE_DRILL_STMT_MAX], *e64 = NULL, *n64 = NULL, *s64 = NULL;
  uint8_t nonce[16], sig[KE_NOTE_SIG_LEN];
  json_t *body = NULL, *canaries = NULL;
  size_t n;
  int rc = CTL_FAIL;

  if (!(e64 = ke_b64url_encode(key->E.b, KE_POINT_LEN)) ||
      ke_random(nonce, sizeof nonce) != KE_OK || !(n64 = ke_b64url_encode(nonce, sizeof nonce)) ||
      !(n = ke_drill_statement(stmt, key->request_id, s->text, e64, n64)) ||
      ke_note_key_sign_raw(ck, (const uint8_t *)stmt, n, sig) != KE_OK ||
      !(s64 = ke_b64url_encode(sig, sizeof sig)) ||
      !(body = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "drill_id", key->request_id, "selection",
                         s->text, "E", e64, "nonce", n64, "signature", s64, "mode", s->mode)))
    ctl_errf("cannot make the drill request");
  /* Canaries derive from e (lib/ke_canary.h) and go with the request. */
  else if (!s->canary ||
           (!(rc = ctl_drill_canaries(h, key, (unsigned)atoi(s->canary), s->pin, &canaries)) &&
            !(rc = json_object_set_new(body, "canaries", canaries) ? CTL_FAIL : CTL_OK)))
    rc = ctl_http_call(h, "POST", "/v1/drills", body, ans);
  json_decref(body);
  free(e64);
  free(n64);
  free(s64);
  return rc;
}

/* Sign the statement of the snapshot the server made, and post it. */
static int begin_sign(ctl_http *h, const ctl_drill_sel *s, const ke_note_key *ck, ctl_drill *d)
{
  char path[128], digest[65], *s64 = NULL;
  time_t t = time(NULL) + (time_t)(s->hours ? s->hours : 72) * 3600;
  struct tm tm;
  json_t *body = NULL;
  int rc;

  snprintf(d->mode, sizeof d->mode, "%s", s->mode);
  gmtime_r(&t, &tm);
  strftime(d->expires, sizeof d->expires, "%Y-%m-%dT%H:%M:%SZ", &tm);
  if ((rc = ctl_drill_digest(d, digest)) || (rc = ctl_drill_build_statement(d)))
    return rc;
  rc = CTL_FAIL;
  if (ke_note_key_sign_raw(ck, (const uint8_t *)d->statement, d->stmt_len, d->stmt_sig) != KE_OK ||
      !(s64 = ke_b64url_encode(d->stmt_sig, sizeof d->stmt_sig)) ||
      !(body = json_pack("{s:s,s:s,s:s,s:s}", "mode", d->mode, "records_sha256", digest, "expires",
                         d->expires, "signature", s64))) {
    ctl_errf("cannot sign the drill statement");
    goto out;
  }
  snprintf(path, sizeof path, "/v1/drills/%s/statement", d->id);
  if ((rc = ctl_http_call(h, "POST", path, body, NULL)))
    goto out;
  d->is_signed = 1;
  ke_drill_code(d->code, d->statement, d->stmt_len);
out:
  json_decref(body);
  free(s64);
  return rc;
}

int ctl_drill_begin(ctl_http *h, ctl_drill_sel *s, const char *key_out, ke_reqkey *key,
                    ctl_drill *d)
{
  char cpath[4200], *text = NULL; /* text: the key file's, handed to ctl_write_text */
  ke_note_key *ck = NULL;
  json_t *ans = NULL;
  size_t len = 0;
  int rc;

  memset(d, 0, sizeof *d);
  if ((rc = ctl_drill_sel_text(s)) || (rc = ctl_client_key_path(cpath, sizeof cpath, s->ckey)))
    return rc;
  if (key_out && ctl_exists(key_out))
    return ctl_err(CTL_FAIL, "%s exists already; not overwriting it", key_out);
  rc = CTL_FAIL;
  if (ke_b32_id_new(key->request_id, "drl-") != KE_OK || ke_scalar_random(&key->e) != KE_OK ||
      ke_point_mul_base(&key->E, &key->e) != KE_OK) {
    ctl_errf("cannot make the one-time key");
    goto out;
  }
  if (ke_note_key_load(&ck, cpath) != KE_OK) {
    ctl_errf("cannot load the client key %s: run `escrowctl key register` first", cpath);
    goto out;
  }
  /* A key file is written before the server hears of the drill: a drill
   * whose key was lost could never be run. */
  if (key_out) {
    /* ctl_write_text wipes and frees the text, also on failure. */
    if (ke_reqkey_write(&text, &len, key) != KE_OK) {
      ctl_errf("cannot encode the one-time key");
      goto out;
    }
    if ((rc = ctl_write_text(key_out, text, len, 0600, 1)))
      goto out;
  }
  if ((rc = begin_request(h, s, key, ck, &ans)) || (rc = ctl_drill_fetch(h, key->request_id, d)))
    goto out;
  rc = CTL_FAIL;
  if (!ke_ct_eq(d->E.b, key->E.b, KE_POINT_LEN)) {
    ctl_errf("the server's drill does not carry this drill's one-time key: not signing it");
    goto out;
  }
  /* A canary drill's statement says no real key is opened: a hostile
   * server must not get a real record signed into it.  Each record must
   * be one of this drill's own canaries (its R derived from e), and all
   * of them must be there. */
  if (s->canary) {
    const char *why = d->nrec == (size_t)atoi(s->canary) ? NULL : "not the canaries sent";
    for (size_t i = 0; !why && i < d->nrec; i++)
      if ((why = ctl_drill_canary_mine(&d->rec[i], d->id, &key->e)))
        ctl_errf("record %s of the snapshot: %s", d->rec[i].id, why);
    if (why) {
      ctl_errf("the server's canary drill holds other records than its canaries: not "
               "signing it");
      goto out;
    }
  }
  if ((rc = begin_sign(h, s, ck, d)))
    goto out;
  ctl_notef("drill %s started: %zu record(s) (%s, mode %s), custodians until %s%s%s\n"
            "  confirmation code  %s   (read it to each custodian)",
            d->id, d->nrec, s->text, d->mode, d->expires, key_out ? "; one-time key in " : "",
            key_out ? key_out : "", d->code);
out:
  json_decref(ans);
  ke_note_key_free(ck);
  if (rc)
    ctl_drill_free(d);
  return rc;
}

int ctl_cmd_drill_start(const ctl_cmd *cmd, int argc, char **argv)
{
  static const struct option opts[] = {
    CTL_HTTP_OPTIONS,
    CTL_DRILL_SEL_OPTIONS,
    {"key-out", required_argument, 0, CTL_OPT_ARG(start_opts, key_out)},
    CTL_OPT_END,
  };
  start_opts o = {0};
  ke_reqkey *key = NULL;
  ctl_http *h = NULL;
  ctl_drill d = {0};
  int rc;

  if ((rc = ctl_getopt(cmd, argc, argv, opts, start_opt, &o, NULL)))
    return rc;
  if (!o.key_out)
    return ctl_err(CTL_USAGE,
                   "--key-out FILE: where the one-time key goes until `drill run DRILL "
                   "--key FILE` (or use `escrowctl drill run --all|--sample N|--group G`, which "
                   "keeps it in memory)");
  if ((rc = ctl_drill_sel_text(&o.s)))
    return rc;
  if (!(key = ke_secure_alloc(sizeof *key)))
    return CTL_FAIL;
  if (!(rc = ctl_http_open(&h, &o.t, 1)) && !(rc = ctl_drill_begin(h, &o.s, o.key_out, key, &d))) {
    printf("%s\n", d.id);
    rc = fflush(stdout) == 0 ? CTL_OK : CTL_FAIL;
  }
  ctl_drill_free(&d);
  ctl_http_free(h);
  ke_secure_free(key, sizeof *key);
  return rc;
}
