/*
 * escrowctl report evidence - the signed evidence bundle an auditor hands
 * to an assessor (ctl_evidence.h): the reports exactly as escrowd sent
 * them, the log entries of every retrieval they list with inclusion proofs,
 * a self-contained index.html, and a manifest signed with the auditor's
 * client key that pins it all to one signed audit checkpoint.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "ctl_audit.h"
#include "ctl_cmd.h"
#include "ctl_evidence.h"
#include "ctl_http.h"
#include "ctl_logview.h"
#include "ctl_open.h"
#include "ke_drill.h"

const char *const ctl_evidence_files[7] = {"coverage.json",  "coverage.csv", "retrievals.json",
                                           "retrievals.csv", "drills.json",  "proofs.json",
                                           "index.html"};

const char ctl_usage_report_evidence[] =
  "usage: escrowctl report evidence --from DATE --to DATE --out DIR [--previous DIR]\n"
  "                                 [--drill ID]... [--client-key FILE] [--log-key VKEY]\n"
  "\n"
  "Writes the signed evidence bundle of a period (auditor only) into the new\n"
  "directory DIR: the coverage and retrievals reports in JSON and CSV as the\n"
  "server sent them, proofs.json (each listed retrieval's audit event and its\n"
  "inclusion proof), index.html (self-contained, for reading and printing)\n"
  "and manifest.json with every file's SHA-256 and the signed audit\n"
  "checkpoint, signed with your client key (manifest.sig).  With --previous,\n"
  "the manifest also carries the consistency proof from the previous\n"
  "bundle's checkpoint.  Check a bundle with `report verify-evidence`.\n"
  "\n"
  "  --from DATE, --to DATE  the period (YYYY-MM-DD, UTC)\n"
  "  --drill ID              include this drill and its audit events (repeatable,\n"
  "                          up to 32)\n"
  "  --client-key FILE       the signing key (default: client-key in the\n"
  "                          configuration directory; `escrowctl key register`)\n"
  "  --log-key VKEY          the audit log key (default: $ESCROWCTL_LOG_KEY or\n"
  "                          the pinned one)\n"
  "  --server URL, --cacert PEM   as for every online command\n";

typedef struct ev_opts {
  ctl_http_target t;
  const char *from, *to, *out, *previous, *ckey, *log_key;
  const char *drills[CTL_EVIDENCE_MAX_DRILLS];
  size_t ndrills;
} ev_opts;

enum { O_DRILL = 256 };

static int on_opt(void *ctx, int opt, const char *arg)
{
  ev_opts *o = ctx;

  if (ctl_http_opt(&o->t, opt, arg))
    return CTL_OK;
  if (opt != O_DRILL)
    return CTL_USAGE;
  if (o->ndrills == CTL_EVIDENCE_MAX_DRILLS)
    return ctl_err(CTL_USAGE, "--drill: at most %d", CTL_EVIDENCE_MAX_DRILLS);
  if (!ke_drill_id_ok(arg))
    return ctl_err(CTL_USAGE, "--drill: a drill id (drl-...)");
  o->drills[o->ndrills++] = arg;
  return CTL_OK;
}

int ctl_evidence_hash(char hex[65], const void *data, size_t len)
{
  uint8_t d[32];
  unsigned int n = 0;

  if (EVP_Digest(data, len, d, &n, EVP_sha256(), NULL) != 1 || n != 32)
    return ctl_err(CTL_FAIL, "cannot hash");
  ke_hex_encode(hex, d, sizeof d);
  return CTL_OK;
}

uint8_t *ctl_evidence_message(const char *manifest, size_t len, size_t *outlen)
{
  size_t c = strlen(CTL_EVIDENCE_CONTEXT);
  uint8_t *m = malloc(c + len + 1);

  if (!m)
    return NULL;
  memcpy(m, CTL_EVIDENCE_CONTEXT, c);
  memcpy(m + c, manifest, len);
  *outlen = c + len;
  return m;
}

/* One file of the bundle, with its hash in files. */
static int put(const char *dir, const char *name, const void *data, size_t len, json_t *files)
{
  char path[4200], hex[65];
  int rc;

  snprintf(path, sizeof path, "%s/%s", dir, name);
  if ((rc = ctl_evidence_hash(hex, data, len)) || (rc = ctl_write(path, data, len, 0644)))
    return rc;
  return files && json_object_set_new(files, name, json_string(hex)) ? ctl_oom() : CTL_OK;
}

/* GET path into raw; *json parsed from it when json is non-NULL. */
static int fetch(ctl_http *h, const char *path, ke_buf *raw, json_t **json)
{
  json_error_t e;
  int rc;

  if ((rc = ctl_http_get_raw(h, path, raw, NULL)))
    return rc;
  if (json && (!(*json = json_loadb(raw->p, raw->len, JSON_REJECT_DUPLICATES, &e)) ||
               !json_is_object(*json)))
    return ctl_err(CTL_NET, "the server's answer to %s is not JSON", path);
  return CTL_OK;
}

/* drills.json: {"drills":[each --drill as GET /v1/drills/{id} shows it]}. */
static int fetch_drills(ctl_http *h, const ev_opts *o, json_t *files, json_t **drills)
{
  json_t *list = json_array(), *ans = NULL;
  char url[128], *text = NULL;
  int rc = list ? CTL_OK : ctl_oom();

  for (size_t i = 0; i < o->ndrills && !rc; i++) {
    snprintf(url, sizeof url, "/v1/drills/%s", o->drills[i]);
    if (!(rc = ctl_http_call(h, "GET", url, NULL, &ans)) &&
        (!json_is_object(json_object_get(ans, "drill")) ||
         json_array_append(list, json_object_get(ans, "drill"))))
      rc = ctl_err(CTL_NET, "the server shows no drill %s", o->drills[i]);
    json_decref(ans);
    ans = NULL;
  }
  if (!rc && (!(*drills = json_pack("{s:O}", "drills", list)) ||
              !(text = json_dumps(*drills, JSON_INDENT(2) | JSON_SORT_KEYS))))
    rc = ctl_oom();
  if (!rc)
    rc = put(o->out, "drills.json", text, strlen(text), files);
  free(text);
  json_decref(list);
  return rc;
}

/* The reports, as the server sent them; *cov and *ret parsed. */
static int fetch_reports(ctl_http *h, const ev_opts *o, json_t *files, json_t **cov, json_t **ret)
{
  static const char *const fmt[2] = {"", "format=csv&"};
  char path[256];
  int rc = CTL_OK;

  for (int i = 0; i < 4 && !rc; i++) {
    ke_buf raw = {0};
    if (i < 2)
      snprintf(path, sizeof path, "/v1/reports/coverage%s", i ? "?format=csv" : "");
    else
      snprintf(path, sizeof path, "/v1/reports/retrievals?%ssince=%s", fmt[i - 2], o->from);
    if (!(rc = fetch(h, path, &raw, i == 0 ? cov : i == 2 ? ret : NULL)))
      rc = put(o->out, ctl_evidence_files[i], raw.p, raw.len, files);
    ke_buf_free(&raw);
  }
  return rc;
}

typedef struct ev_scan {
  json_t *want;     /* retrieval id -> true, from the report */
  json_t *events;   /* the proofs.json list being built */
  json_t *dwant;    /* drill id -> true, from --drill */
  json_t *devents;  /* their drill.* events */
  int64_t rep[2];   /* the leaves of the two reports' own audit events */
  json_t *rleaf[2]; /* and their text (base64), once seen */
} ev_scan;

/* Each retrieval.create event of a retrieval the report lists, and the
 * reports' own events. */
static int on_leaf(void *ctx, int64_t index, const uint8_t *leaf, size_t len)
{
  ev_scan *s = ctx;
  json_t *ev = json_loadb((const char *)leaf, len, JSON_REJECT_DUPLICATES, NULL);
  const char *act = ctl_jstr(ev, "action"), *obj = ctl_jstr(ev, "object");
  char *b64 = ke_note_b64_encode(leaf, len);
  int rc = b64 ? CTL_OK : ctl_oom();

  for (int i = 0; i < 2 && !rc; i++)
    if (index == s->rep[i] && !(s->rleaf[i] = json_string(b64)))
      rc = ctl_oom();
  if (!rc && act && obj && strcmp(act, "retrieval.create") == 0 &&
      strncmp(obj, "retrieval:", 10) == 0 && json_object_get(s->want, obj + 10) &&
      json_array_append_new(s->events, json_pack("{s:s,s:I,s:s}", "retrieval_id", obj + 10,
                                                 "leaf_index", (json_int_t)index, "leaf", b64)))
    rc = ctl_oom();
  if (!rc && act && obj && strncmp(act, "drill.", 6) == 0 && strncmp(obj, "drill:", 6) == 0 &&
      json_object_get(s->dwant, obj + 6) &&
      json_array_append_new(s->devents,
                            json_pack("{s:s,s:s,s:I,s:s}", "drill_id", obj + 6, "action", act,
                                      "leaf_index", (json_int_t)index, "leaf", b64)))
    rc = ctl_oom();
  free(b64);
  json_decref(ev);
  return rc;
}

/* The inclusion proof of leaf `index` in cp, set as ev's "inclusion_path". */
static int prove(ctl_http *h, json_t *ev, long long index, const ke_note_checkpoint *cp)
{
  char url[160];
  json_t *ans = NULL;
  int rc;

  snprintf(url, sizeof url, "/v1/audit/proof/inclusion?index=%lld&size=%llu", index,
           (unsigned long long)cp->size);
  if ((rc = ctl_http_call(h, "GET", url, NULL, &ans)))
    return rc;
  rc = json_object_set(ev, "inclusion_path", json_object_get(ans, "inclusion_path")) ? ctl_oom()
                                                                                     : CTL_OK;
  json_decref(ans);
  return rc;
}

/* A report's pin: its own audit event (leaf and inclusion proof in cp) and
 * the consistency proof from the checkpoint it names to cp, so that its
 * figures are pinned to the bundle's checkpoint too. */
static int pin_report(ctl_http *h, const json_t *rep, json_t *leaf, const ke_note_checkpoint *cp,
                      json_t **out)
{
  const json_t *a = json_object_get(rep, "audit");
  long long m = ctl_jint(a, "tree_size"), idx = ctl_jint(a, "leaf_index");
  json_t *ans = NULL, *cpath;
  char url[128];
  int rc;

  if (!leaf || m < 0 || (unsigned long long)m > cp->size)
    return ctl_err(CTL_FAIL, "a report's audit event (leaf %lld) is not in the checkpoint", idx);
  if (m && (unsigned long long)m < cp->size) {
    snprintf(url, sizeof url, "/v1/audit/proof/consistency?from=%lld&to=%llu", m,
             (unsigned long long)cp->size);
    if ((rc = ctl_http_call(h, "GET", url, NULL, &ans)))
      return rc;
  }
  cpath = ans ? json_incref(json_object_get(ans, "consistency_path")) : json_array();
  *out = cpath ? json_pack("{s:I,s:O,s:o}", "leaf_index", (json_int_t)idx, "leaf", leaf,
                           "consistency_path", cpath)
               : NULL;
  json_decref(ans);
  if (!*out)
    return ctl_oom();
  return prove(h, *out, idx, cp);
}

/* proofs.json: every listed retrieval's event and both reports' pins,
 * proven in the checkpoint. */
static int prove_retrievals(ctl_http *h, const json_t *cov, const json_t *ret, const json_t *drills,
                            const ke_note_checkpoint *cp, json_t **proofs)
{
  const json_t *rows = json_object_get(ret, "retrievals"), *dl = json_object_get(drills, "drills");
  ev_scan s = {json_object(),
               json_array(),
               json_object(),
               json_array(),
               {ctl_jint(json_object_get(cov, "audit"), "leaf_index"),
                ctl_jint(json_object_get(ret, "audit"), "leaf_index")},
               {NULL, NULL}};
  json_t *ev, *pins[2] = {NULL, NULL};
  size_t i;
  int rc = CTL_OK;

  for (i = 0; i < json_array_size(rows); i++) {
    const char *id = ctl_jstr(json_array_get(rows, i), "retrieval_id");
    if (id)
      json_object_set_new(s.want, id, json_true());
  }
  for (i = 0; i < json_array_size(dl); i++) {
    const char *id = ctl_jstr(json_array_get(dl, i), "id");
    if (id)
      json_object_set_new(s.dwant, id, json_true());
  }
  /* The whole log up to the checkpoint: the report names no leaf of its
   * own rows, and a retrieval's event is found by its object. */
  if (cp->size && (rc = ctl_audit_fetch(h, 0, (int64_t)cp->size, on_leaf, &s, NULL)))
    goto out;
  json_array_foreach (s.events, i, ev)
    if ((rc = prove(h, ev, ctl_jint(ev, "leaf_index"), cp)))
      goto out;
  json_array_foreach (s.devents, i, ev)
    if ((rc = prove(h, ev, ctl_jint(ev, "leaf_index"), cp)))
      goto out;
  if ((rc = pin_report(h, cov, s.rleaf[0], cp, &pins[0])) ||
      (rc = pin_report(h, ret, s.rleaf[1], cp, &pins[1])))
    goto out;
  *proofs = json_pack("{s:I,s:O,s:O,s:{s:O,s:O}}", "tree_size", (json_int_t)cp->size, "events",
                      s.events, "drill_events", s.devents, "reports", "coverage.json", pins[0],
                      "retrievals.json", pins[1]);
  rc = *proofs ? CTL_OK : ctl_oom();
out:
  for (i = 0; i < 2; i++) {
    json_decref(pins[i]);
    json_decref(s.rleaf[i]);
  }
  json_decref(s.want);
  json_decref(s.events);
  json_decref(s.dwant);
  json_decref(s.devents);
  return rc;
}

/* The fresh signed checkpoint, verified with the log key: it covers both
 * reports' own audit events, which were sequenced before it. */
static int fetch_checkpoint(ctl_http *h, const ke_note_verifier *vk, ke_buf *note,
                            ke_note_checkpoint *cp)
{
  int rc;

  if ((rc = ctl_http_get_raw(h, "/v1/audit/checkpoint?fresh=1&format=note", note, NULL)))
    return rc;
  if (ke_note_checkpoint_open(vk, note->p, note->len, cp) != KE_OK)
    return ctl_err(CTL_FAIL, "the server's checkpoint does not verify with the log key");
  return CTL_OK;
}

/* "previous": the previous bundle's checkpoint and the consistency proof
 * from it to cp, checked here too (a bundle that cannot verify is refused
 * at creation, not discovered by the assessor). */
static int previous(ctl_http *h, const char *dir, const ke_note_verifier *vk,
                    const ke_note_checkpoint *cp, json_t **out)
{
  char path[4200], url[128], *b64 = NULL;
  ke_note_checkpoint pc;
  ke_buf b = {0};
  json_t *man = NULL, *ans = NULL;
  const char *note;
  int rc = CTL_FAIL, r;

  snprintf(path, sizeof path, "%s/manifest.json", dir);
  if ((rc = ctl_read(&b, path, CTL_EVIDENCE_MAX, 0, "previous manifest")))
    return rc;
  rc = CTL_FAIL;
  if (!(man = json_loadb(b.p, b.len, JSON_REJECT_DUPLICATES, NULL)) ||
      !(note = ctl_jstr(man, "checkpoint")) ||
      ke_note_checkpoint_open(vk, note, strlen(note), &pc) != KE_OK) {
    ctl_errf("%s: no checkpoint that verifies with the log key", path);
    goto out;
  }
  if ((r = ctl_logview_consistent(h, pc.size, pc.root, cp->size, cp->root)) != 1) {
    rc = r < 0 ? -r
               : ctl_err(CTL_FAIL,
                         "FORKED LOG VIEW: the server's checkpoint (tree size %llu) is not "
                         "consistent with the previous bundle's (tree size %llu)",
                         (unsigned long long)cp->size, (unsigned long long)pc.size);
    goto out;
  }
  if (pc.size && pc.size < cp->size) {
    snprintf(url, sizeof url, "/v1/audit/proof/consistency?from=%llu&to=%llu",
             (unsigned long long)pc.size, (unsigned long long)cp->size);
    if ((rc = ctl_http_call(h, "GET", url, NULL, &ans)))
      goto out;
  }
  b64 = ke_note_b64_encode(pc.root, sizeof pc.root);
  *out =
    json_pack("{s:s,s:I,s:s?,s:O?}", "checkpoint", note, "tree_size", (json_int_t)pc.size, "root",
              b64, "consistency_path", ans ? json_object_get(ans, "consistency_path") : NULL);
  if (*out && !json_object_get(*out, "consistency_path"))
    json_object_set_new(*out, "consistency_path", json_array());
  rc = *out && b64 ? CTL_OK : ctl_oom();
out:
  free(b64);
  json_decref(ans);
  json_decref(man);
  ke_buf_free(&b);
  return rc;
}

/* manifest.json and manifest.sig. */
static int sign_manifest(const ev_opts *o, json_t *man)
{
  char path[4200], hex[65], *text = NULL, *pub = NULL, *sig64 = NULL;
  uint8_t sig[KE_NOTE_SIG_LEN], fpr[32], *msg = NULL;
  ke_note_key *k = NULL;
  ke_note_verifier v;
  size_t mlen;
  unsigned int fl = 0;
  int rc;

  if ((rc = ctl_client_key_path(path, sizeof path, o->ckey)))
    return rc;
  if (ke_note_key_load(&k, path) != KE_OK)
    return ctl_err(CTL_FAIL, "cannot load the client key %s (run `escrowctl key register` first)",
                   path);
  rc = CTL_FAIL;
  ke_note_key_verifier(k, &v);
  if (EVP_Digest(v.pub, sizeof v.pub, fpr, &fl, EVP_sha256(), NULL) != 1 ||
      !(pub = ke_b64url_encode(v.pub, sizeof v.pub)))
    goto out;
  ke_hex_encode(hex, fpr, sizeof fpr);
  if (json_object_set_new(man, "auditor",
                          json_pack("{s:s,s:s}", "public_key", pub, "fingerprint", hex)) ||
      !(text = json_dumps(man, JSON_INDENT(2) | JSON_SORT_KEYS)) ||
      !(msg = ctl_evidence_message(text, strlen(text), &mlen)) ||
      ke_note_key_sign_raw(k, msg, mlen, sig) != KE_OK ||
      !(sig64 = ke_b64url_encode(sig, sizeof sig)))
    goto out;
  if ((rc = put(o->out, "manifest.json", text, strlen(text), NULL)))
    goto out;
  sig64 = realloc(sig64, strlen(sig64) + 2);
  if (!sig64)
    goto out;
  strcat(sig64, "\n");
  if ((rc = put(o->out, "manifest.sig", sig64, strlen(sig64), NULL)))
    goto out;
  printf("evidence bundle %s signed by the client key with fingerprint %s\n", o->out, hex);
out:
  free(text);
  free(pub);
  free(sig64);
  free(msg);
  ke_note_key_free(k);
  return rc;
}

static int check_date(const char *d, const char *opt)
{
  int y, m, dd;
  char tail;

  if (!d)
    return ctl_missing_opt(opt);
  if (strlen(d) != 10 || sscanf(d, "%4d-%2d-%2d%c", &y, &m, &dd, &tail) != 3 || m < 1 || m > 12 ||
      dd < 1 || dd > 31)
    return ctl_err(CTL_USAGE, "%s: a UTC date YYYY-MM-DD", opt);
  return CTL_OK;
}

/* Everything after the reports: proofs, previous, html, manifest. */
static int bundle(ctl_http *h, const ev_opts *o, const ke_note_verifier *vk, json_t *files)
{
  json_t *cov = NULL, *ret = NULL, *drills = NULL, *proofs = NULL, *prev = NULL, *man = NULL;
  ke_note_checkpoint cp;
  ke_buf note = {0}, html = {0};
  char *pj = NULL;
  int rc;

  if ((rc = fetch_reports(h, o, files, &cov, &ret)) || (rc = fetch_drills(h, o, files, &drills)) ||
      (rc = fetch_checkpoint(h, vk, &note, &cp)) ||
      (rc = prove_retrievals(h, cov, ret, drills, &cp, &proofs)))
    goto out;
  if (!(pj = json_dumps(proofs, JSON_INDENT(2) | JSON_SORT_KEYS))) {
    rc = ctl_oom();
    goto out;
  }
  if ((rc = put(o->out, "proofs.json", pj, strlen(pj), files)) ||
      (o->previous && (rc = previous(h, o->previous, vk, &cp, &prev))) ||
      (rc = ctl_evidence_html(&html, o->from, o->to, cov, ret, drills, proofs, note.p)) ||
      (rc = put(o->out, "index.html", html.p, html.len, files)))
    goto out;
  man = json_pack("{s:s,s:{s:s,s:s},s:O,s:s,s:O?}", "format", CTL_EVIDENCE_FORMAT, "period", "from",
                  o->from, "to", o->to, "files", files, "checkpoint", note.p, "previous", prev);
  rc = man ? sign_manifest(o, man) : ctl_oom();
out:
  free(pj);
  json_decref(man);
  json_decref(prev);
  json_decref(proofs);
  json_decref(drills);
  json_decref(cov);
  json_decref(ret);
  ke_buf_free(&note);
  ke_buf_free(&html);
  return rc;
}

int ctl_cmd_report_evidence(const ctl_cmd *cmd, int argc, char **argv)
{
  static const struct option opts[] = {
    {"from", required_argument, 0, CTL_OPT_ARG(ev_opts, from)},
    {"to", required_argument, 0, CTL_OPT_ARG(ev_opts, to)},
    {"out", required_argument, 0, CTL_OPT_ARG(ev_opts, out)},
    {"previous", required_argument, 0, CTL_OPT_ARG(ev_opts, previous)},
    {"drill", required_argument, 0, O_DRILL | CTL_OPT_MULTI},
    {"client-key", required_argument, 0, CTL_OPT_ARG(ev_opts, ckey)},
    {"log-key", required_argument, 0, CTL_OPT_ARG(ev_opts, log_key)},
    CTL_HTTP_OPTIONS,
    CTL_OPT_END,
  };
  ev_opts o = {0};
  ke_note_verifier vk;
  ctl_http *h = NULL;
  json_t *files = NULL;
  char *vtext = NULL;
  int rc, pinned;

  if ((rc = ctl_getopt(cmd, argc, argv, opts, on_opt, &o, NULL)) ||
      (rc = check_date(o.from, "--from")) || (rc = check_date(o.to, "--to")))
    return rc;
  if (!o.out)
    return ctl_missing_opt("--out");
  if (strcmp(o.from, o.to) > 0)
    return ctl_err(CTL_USAGE, "--from is after --to");
  if ((rc = ctl_audit_log_key(&vk, &vtext, o.log_key, &pinned)))
    return rc;
  if (mkdir(o.out, 0755) != 0) {
    rc = ctl_err(CTL_FAIL, "cannot create %s: %s (it must not exist)", o.out, strerror(errno));
    goto out;
  }
  if (!(files = json_object())) {
    rc = ctl_oom();
    goto out;
  }
  if (!(rc = ctl_http_open(&h, &o.t, 1)))
    rc = bundle(h, &o, &vk, files);
out:
  json_decref(files);
  ctl_http_free(h);
  free(vtext);
  return rc;
}
