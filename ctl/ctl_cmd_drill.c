/*
 * ctl_cmd_drill.c - `escrowctl drill approve` (custodian), and the drill
 * fetch every side of a drill shares (ctl_drill.h).  `drill start` is in
 * ctl_cmd_drill_start.c, `drill run` in ctl_cmd_drill_run.c, `drill part`
 * and the offline files in ctl_cmd_drill_file.c, the checks of the signed
 * statement and of the log in ctl_drill_check.c.
 *
 * approve: the custodian sees the drill, its auditor and its size, checks
 * every snapshot envelope against its record (R, escrow key), verifies the
 * auditor's signed statement with the pinned key, proves every record's
 * escrow event in the log, confirms the code, unseals the share once and
 * makes one part per record: P_i = d_i*R with a DLEQ proof whose context is
 * the drill id, sealed to E with the AAD request id "<drill id>/<record id>"
 * (docs/protocol.md section 9).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl_cmd.h"
#include "ctl_drill.h"
#include "ctl_open.h"
#include "ke_note.h"

void ctl_drill_free(ctl_drill *d)
{
  for (size_t i = 0; d->rec && i < d->nrec; i++) {
    free(d->rec[i].envelope);
    free(d->rec[i].escrow_event);
  }
  free(d->rec);
  free(d->keys);
  memset(d, 0, sizeof *d);
}

static int ctl_drill_str(char *out, size_t outlen, const json_t *o, const char *k)
{
  const char *v = ctl_jstr(o, k);
  if (!v || strlen(v) >= outlen)
    return 0;
  memcpy(out, v, strlen(v) + 1);
  return 1;
}

static int ctl_drill_keys(ctl_drill *d, const json_t *keys)
{
  const char *fpr;
  json_t *m;
  ke_ferr ferr;

  if (!json_is_object(keys) || !(d->keys = calloc(json_object_size(keys) + 1, sizeof *d->keys)))
    return 0;
  json_object_foreach ((json_t *)keys, fpr, m) {
    char *text = json_dumps(m, JSON_COMPACT);
    uint8_t want[KE_FPR_LEN];
    int ok = text && ke_manifest_parse(&d->keys[d->nkeys], text, strlen(text), &ferr) == KE_OK &&
             ke_hex_decode(want, sizeof want, fpr) == KE_OK &&
             memcmp(want, d->keys[d->nkeys].pub.fingerprint, KE_FPR_LEN) == 0;
    free(text);
    if (!ok) {
      ctl_errf("the server's manifest of escrow key %.16s... does not parse or recompute", fpr);
      return 0;
    }
    d->nkeys++;
  }
  return 1;
}

static int ctl_drill_record(ctl_drill *d, ctl_drill_rec *r, const json_t *o)
{
  const char *env = ctl_jstr(o, "envelope");
  const char *R = ctl_jstr(o, "R");
  const char *fpr = ctl_jstr(o, "fingerprint");
  const char *ver = ctl_jstr(o, "verifier");
  uint8_t rb[KE_POINT_LEN], fb[KE_FPR_LEN];
  char pid[KE_DRILL_PART_ID_MAX];

  if (!ctl_drill_str(r->id, sizeof r->id, o, "record_id") || !ke_drill_part_id(pid, d->id, r->id) ||
      !ctl_drill_str(r->device, sizeof r->device, o, "device_id") ||
      !ctl_drill_str(r->volume, sizeof r->volume, o, "volume_id") ||
      !ke_label_valid(r->device, KE_LABEL_MAX) || !ke_label_valid(r->volume, KE_LABEL_MAX) ||
      !ctl_drill_str(r->key_type, sizeof r->key_type, o, "key_type") || !env || !R || !fpr ||
      !ver || ke_b64url_decode(&r->envelope, &r->envlen, env, 0) != KE_OK ||
      ke_b64url_decode_fixed(rb, sizeof rb, R) != KE_OK ||
      ke_verifier_decode(r->verifier, &r->verifier_len, ver) != KE_OK ||
      ke_hex_decode(fb, sizeof fb, fpr) != KE_OK) {
    ctl_errf("the server's drill has a malformed record");
    return 0;
  }
  /* A corrupt envelope is the run's finding, not a reason to refuse the
   * drill; but R and the escrow key must be the record's own, or the part
   * would be a decryption of something else. */
  if (ke_envelope_parse(&r->env, r->envelope, r->envlen) != KE_OK ||
      !ke_ct_eq(r->env.R.b, rb, KE_POINT_LEN) || !ke_ct_eq(r->env.fingerprint, fb, KE_FPR_LEN)) {
    ctl_errf("record %s: the envelope's R or escrow key is not the record's; refusing", r->id);
    return 0;
  }
  /* The digest the statement and the escrow event name is of these bytes,
   * hashed here: never the server's word for it. */
  if (ke_envelope_sha256(r->envelope_sha256, r->envelope, r->envlen) != KE_OK)
    return 0;
  const json_t *li = json_object_get(o, "leaf_index");
  const char *ev = ctl_jstr(o, "escrow_event");
  r->leaf_index = json_is_integer(li) && json_integer_value(li) >= 0 ? json_integer_value(li) : -1;
  const char *cp = ctl_jstr(o, "canary_proof");
  if (ev && !(r->escrow_event = strdup(ev)))
    return 0;
  if (cp) {
    if (ke_b64url_decode_fixed(r->canary_proof, sizeof r->canary_proof, cp) != KE_OK) {
      ctl_errf("record %s: the server's canary proof is malformed", r->id);
      return 0;
    }
    r->has_canary_proof = 1;
  }
  r->key = -1;
  for (size_t k = 0; k < d->nkeys; k++)
    if (memcmp(d->keys[k].pub.fingerprint, fb, KE_FPR_LEN) == 0)
      r->key = (int)k;
  if (r->key < 0) {
    ctl_errf("record %s: no manifest for its escrow key", r->id);
    return 0;
  }
  return 1;
}

int ctl_drill_fetch(ctl_http *h, const char *id, ctl_drill *d)
{
  char path[128], eb[64];
  json_t *ans = NULL, *dr, *recs, *it;
  size_t i;
  int rc;

  memset(d, 0, sizeof *d);
  if (!ke_drill_id_ok(id))
    return ctl_err(CTL_USAGE, "not a drill id: %s", id);
  snprintf(path, sizeof path, "/v1/drills/%s", id);
  if ((rc = ctl_http_call(h, "GET", path, NULL, &ans)))
    return rc;
  rc = CTL_NET;
  dr = json_object_get(ans, "drill");
  recs = json_object_get(ans, "records");
  memcpy(d->id, id, KE_DRILL_ID_LEN + 1);
  if (!ctl_drill_str(eb, sizeof eb, dr, "id") || strcmp(eb, id) != 0 ||
      !ctl_drill_str(d->auditor, sizeof d->auditor, dr, "auditor") ||
      /* shown to the custodian and the key of the pin: no control or
       * invisible characters */
      !ke_label_valid(d->auditor, KE_DRILLFILE_AUDITOR_MAX) ||
      !ctl_drill_str(d->selection, sizeof d->selection, dr, "selection") ||
      !ctl_drill_str(d->state, sizeof d->state, dr, "state") ||
      !ctl_drill_str(eb, sizeof eb, dr, "E") || !json_is_array(recs) ||
      json_array_size(recs) == 0) {
    ctl_errf("the server's answer is not a drill");
    goto out;
  }
  if (!ctl_drill_str(d->mode, sizeof d->mode, dr, "mode"))
    memcpy(d->mode, "full", 5);
  uint8_t e[KE_POINT_LEN];
  if (ke_b64url_decode_fixed(e, sizeof e, eb) != KE_OK ||
      ke_point_parse(&d->E, e, sizeof e) != KE_OK) {
    ctl_errf("the drill's one-time key is not a P-256 point");
    goto out;
  }
  if (json_is_true(json_object_get(dr, "signed"))) {
    const char *sig = ctl_jstr(dr, "statement_signature");
    const char *key = ctl_jstr(dr, "auditor_key");
    if (!ctl_drill_str(d->mode, sizeof d->mode, dr, "mode") ||
        !ctl_drill_str(d->expires, sizeof d->expires, dr, "expires") || !sig || !key ||
        ke_b64url_decode_fixed(d->stmt_sig, sizeof d->stmt_sig, sig) != KE_OK ||
        ke_b64url_decode_fixed(d->auditor_key, sizeof d->auditor_key, key) != KE_OK) {
      ctl_errf("the drill's signed statement is malformed");
      goto out;
    }
    d->is_signed = 1;
  }
  if (!ctl_drill_keys(d, json_object_get(ans, "escrow_keys")))
    goto out;
  if (!(d->rec = calloc(json_array_size(recs), sizeof *d->rec)))
    goto out;
  json_array_foreach (recs, i, it) {
    d->nrec = i + 1;
    if (!ctl_drill_record(d, &d->rec[i], it))
      goto out;
  }
  rc = CTL_OK;
out:
  json_decref(ans);
  if (rc)
    ctl_drill_free(d);
  return rc;
}

int ctl_drill_args(const ctl_cmd *cmd, int argc, char **argv, const struct option *opts,
                   ctl_opt_fn fn, void *ctx, const char **id)
{
  int first = 0, more = 0, rc;

  if ((rc = ctl_getopt(cmd, argc, argv, opts, fn, ctx, &first)))
    return rc;
  *id = argc > first ? argv[first] : NULL;
  /* Options may also follow DRILL: parse the rest with DRILL in the place
   * of the command word. */
  if (*id && argc - first > 1 &&
      (rc = ctl_getopt(cmd, argc - first, argv + first, opts, fn, ctx, &more)))
    return rc;
  if (!*id || (more && more < argc - first))
    return ctl_err(CTL_USAGE, "name one drill (drl-...)");
  return CTL_OK;
}

/* ---- drill approve ------------------------------------------------------------ */
const char ctl_usage_drill_approve[] =
  "usage: escrowctl drill approve DRILL (--share S [--passphrase-file P] [--yes]\n"
  "                                      | --export FILE | --import BATCH)\n"
  "                               [--log-key VKEY] [--server URL] [--cacert FILE]\n"
  "Contribute your parts to a drill (custodian): one unseal of the share, one\n"
  "part per record, each with its proof, sealed to the auditor's one-time key.\n"
  "First the drill's statement must verify with the auditor's client key as you\n"
  "pinned it (`escrowctl pin add AUDITOR FINGERPRINT`, after checking it with\n"
  "them), and every record's escrow event must be in the signed audit log\n"
  "(--log-key: as for `approve`).  Then confirm the code with the auditor\n"
  "(--yes: it was checked).\n"
  "Offline: --export writes the checked drill to FILE for `escrowctl drill part`\n"
  "on the machine with the share; --import uploads the batch file it made.\n";

typedef struct appr_opts {
  ctl_http_target t;
  const char *share, *passfile, *export_to, *import, *log_key;
  int yes;
} appr_opts;

int ctl_drill_one_key(const ctl_drill *d)
{
  for (size_t i = 0; i < d->nrec; i++)
    if (d->rec[i].key != d->rec[0].key)
      return ctl_err(CTL_FAIL, "the drill's records are under more than one escrow key: one share "
                               "cannot contribute to all of them");
  return CTL_OK;
}

int ctl_drill_check_share(const ctl_drill *d, const ke_sharefile *sf)
{
  const ke_manifest *m = &d->keys[d->rec[0].key];
  int rc = ctl_drill_one_key(d);
  return rc ? rc
            : ctl_check_share(sf, &m->pub, sf->index <= m->pub.n ? m->names[sf->index - 1] : NULL,
                              "the drill's escrow key");
}

int ctl_drill_confirm(const ctl_drill *d, int yes)
{
  char q[400];

  if (yes)
    return CTL_OK;
  if (!ctl_interactive())
    return ctl_err(CTL_USAGE, "not a terminal: check the confirmation code with the auditor, then "
                              "pass --yes");
  snprintf(q, sizeof q,
           "Does %s read you the confirmation code %s? Contribute parts for "
           "every record of this drill? [y/N] ",
           d->auditor, d->code);
  if (!ctl_confirm(q))
    return ctl_err(CTL_FAIL, "not confirmed; no part made");
  return CTL_OK;
}

/* Every part of the batch from one unsealed d_i, on as many threads as the
 * machine has cores (ke_part_batch_all): a drill over the whole fleet is
 * 100,000 records, and the custodian waits for all of them. */
int ctl_drill_parts(const ctl_drill *d, const ke_sharefile *sf, const char *passfile,
                    ke_drillbatch *b)
{
  const ke_escrow_pub *pub = &d->keys[d->rec[0].key].pub;
  ke_scalar *di = ke_secure_alloc(sizeof *di);
  char(*pid)[KE_DRILL_PART_ID_MAX] = calloc(d->nrec, KE_DRILL_PART_ID_MAX);
  const char **pids = calloc(d->nrec, sizeof *pids);
  ke_point *R = calloc(d->nrec, sizeof *R);
  uint8_t(*parts)[KE_PART_LEN] = calloc(d->nrec, KE_PART_LEN);
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  size_t failed = 0;
  int rc = CTL_FAIL;

  memset(b, 0, sizeof *b);
  if (di && pid && pids && R && parts && (b->parts = calloc(d->nrec, sizeof *b->parts)))
    rc = ctl_unseal_share(di, sf, pub, passfile);
  memcpy(b->drill_id, d->id, sizeof b->drill_id);
  b->index = sf->index;
  for (size_t i = 0; !rc && i < d->nrec; i++) {
    if (!ke_drill_part_id(pid[i], d->id, d->rec[i].id))
      rc = ctl_err(CTL_FAIL, "cannot make the part of record %s", d->rec[i].id);
    pids[i] = pid[i];
    R[i] = d->rec[i].env.R;
  }
  if (!rc &&
      ke_part_batch_all(parts, d->nrec, R, pids, sf->index, di, &pub->public_shares[sf->index - 1],
                        &d->E, (const uint8_t *)d->id, strlen(d->id),
                        ncpu < 1    ? 1
                        : ncpu > 16 ? 16
                                    : (unsigned)ncpu,
                        &failed) != KE_OK) {
    if (failed < d->nrec)
      ctl_errf("cannot make the part of record %s", d->rec[failed].id);
    else
      ctl_errf("cannot make the drill's parts with this share");
    rc = CTL_FAIL;
  }
  for (size_t i = 0; !rc && i < d->nrec; i++) {
    memcpy(b->parts[i].part, parts[i], KE_PART_LEN);
    memcpy(b->parts[i].record_id, d->rec[i].id, sizeof d->rec[i].id);
    b->nparts = i + 1;
  }
  ke_secure_free(di, sizeof *di);
  free(pid);
  free(pids);
  free(R);
  free(parts);
  if (rc)
    ke_drillbatch_free(b);
  return rc;
}

int ctl_drill_post(ctl_http *h, const ke_drillbatch *b)
{
  json_t *arr = json_array(), *body = NULL;
  char path[128];
  int rc = arr ? CTL_OK : CTL_FAIL;

  for (size_t i = 0; !rc && i < b->nparts; i++) {
    char *p64 = ke_b64url_encode(b->parts[i].part, KE_PART_LEN);
    if (!p64 || json_array_append_new(
                  arr, json_pack("{s:s,s:s}", "record_id", b->parts[i].record_id, "part", p64)))
      rc = CTL_FAIL;
    free(p64);
  }
  if (rc)
    json_decref(arr);
  else if (!(body = json_pack("{s:o}", "parts", arr))) /* "o" steals arr, also on failure */
    rc = CTL_FAIL;
  snprintf(path, sizeof path, "/v1/drills/%s/parts", b->drill_id);
  if (!rc && !(rc = ctl_http_call(h, "POST", path, body, NULL)))
    ctl_notef("drill %s: %zu part(s) of custodian %u sent", b->drill_id, b->nparts, b->index);
  json_decref(body);
  return rc;
}

void ctl_drill_show(const ctl_drill *d)
{
  fprintf(stderr, "drill %s\n  auditor    %s\n  selection  %s\n  records    %zu\n  state      %s\n",
          d->id, d->auditor, d->selection, d->nrec, d->state);
  if (d->is_signed)
    fprintf(stderr, "  mode       %s\n  expires    %s\n", d->mode, d->expires);
  if (d->code[0])
    fprintf(stderr, "  confirmation code  %s\n", d->code);
}

int ctl_cmd_drill_approve(const ctl_cmd *cmd, int argc, char **argv)
{
  static const struct option opts[] = {
    CTL_HTTP_OPTIONS,
    {"share", required_argument, 0, CTL_OPT_ARG(appr_opts, share)},
    {"passphrase-file", required_argument, 0, CTL_OPT_ARG(appr_opts, passfile)},
    {"yes", no_argument, 0, CTL_OPT_SET(appr_opts, yes)},
    {"export", required_argument, 0, CTL_OPT_ARG(appr_opts, export_to)},
    {"import", required_argument, 0, CTL_OPT_ARG(appr_opts, import)},
    {"log-key", required_argument, 0, CTL_OPT_ARG(appr_opts, log_key)},
    CTL_OPT_END,
  };
  appr_opts o = {0};
  ctl_http *h = NULL;
  ctl_drill d = {0};
  ke_sharefile sf;
  ke_drillbatch b = {0};
  const char *id;
  int rc;

  if ((rc = ctl_drill_args(cmd, argc, argv, opts, ctl_http_on_opt, &o, &id)))
    return rc;
  if (!!o.share + !!o.export_to + !!o.import != 1)
    return ctl_err(CTL_USAGE, "give exactly one of --share, --export FILE, --import BATCH");
  if ((rc = ctl_new_file(o.export_to)))
    return rc;
  if ((o.share && (rc = ctl_load_share(&sf, o.share))) ||
      (o.import && (rc = ctl_drill_load_batch(&b, o.import, id))) ||
      (rc = ctl_http_open(&h, &o.t, 1)) || (rc = ctl_drill_fetch(h, id, &d)))
    goto out;
  if ((rc = o.share ? ctl_drill_check_share(&d, &sf) : ctl_drill_one_key(&d)))
    goto out;
  if (strcmp(d.state, "open") != 0) {
    ctl_drill_show(&d);
    rc = ctl_err(CTL_FAIL, "the drill is done: it takes no more parts");
    goto out;
  }
  /* An upload of parts made offline was checked there (drill part); the
   * rest acts only on a drill its auditor signed, over records escrowed in
   * the open. */
  if (!o.import &&
      ((rc = ctl_drill_check_statement(&d)) || (rc = ctl_drill_prove_records(h, &d, o.log_key)))) {
    ctl_drill_show(&d);
    goto out;
  }
  ctl_drill_show(&d);
  if (o.export_to) {
    rc = ctl_drill_export(&d, o.export_to);
    goto out;
  }
  if (o.import) {
    if (!(rc = ctl_drill_batch_matches(&d, &b)))
      rc = ctl_drill_post(h, &b);
    goto out;
  }
  if (!(rc = ctl_drill_confirm(&d, o.yes)) && !(rc = ctl_drill_parts(&d, &sf, o.passfile, &b)))
    rc = ctl_drill_post(h, &b);
out:
  ke_drillbatch_free(&b);
  ctl_drill_free(&d);
  ctl_http_free(h);
  return rc;
}
