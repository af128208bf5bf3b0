/*
 * escrowctl approve - the custodian side of an online retrieval.
 *
 *   approve                      the pending requests
 *   approve REQ --share S        show REQ, check it, confirm the code, make
 *                                this custodian's part and upload it
 *   approve REQ --export FILE    the request file, for `escrowctl part` on
 *                                an air-gapped machine
 *   approve --import PART        upload a part file made there
 *   approve REQ --decline RULE --reason TEXT
 *                                say no, and why (not a veto: others may
 *                                still contribute)
 *
 * Before making a part, approve checks what the server sent: the request
 * file parses and is consistent (R inside the envelope, fingerprint,
 * envelope SHA-256, confirmation code: ke_request_parse), the share file
 * belongs to its escrow key, and the server's status names the same
 * envelope digest as the request file.  And, so that a custodian is not an
 * oracle for any envelope the server (or whoever holds it) picks, the
 * record's escrow.store event - naming this device, volume and envelope
 * digest - must be in the audit log: its inclusion is proven against a
 * checkpoint signed by the pinned log key (docs/threat-model.md).  The part
 * is computed by the code of `escrowctl part` (ctl_open.h).
 *
 * Who asked is checked too, before the code is: the request's one-time key
 * E is signed by the requester's client key (verified by ke_request_parse),
 * and that key must be the one this custodian pinned for the requester
 * (ctl_requester.h).  So a server cannot swap E, whatever confirmation code
 * it grinds, nor sign with a key it registered for the requester.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ctl_approve.h"
#include "ctl_cmd.h"
#include "ctl_http.h"
#include "ctl_open.h"
#include "ctl_logview.h"
#include "ctl_requester.h"
#include "ke_util.h"

const char ctl_usage_approve[] =
  "usage: escrowctl approve [REQUEST [--share S [--passphrase-file P] [--yes]\n"
  "                                   | --export FILE] [--pin-requester FPR]]\n"
  "       escrowctl approve --import PART\n"
  "       escrowctl approve REQUEST --decline RULE --reason TEXT\n"
  "\n"
  "Without REQUEST, lists the pending retrieval requests.  With REQUEST and\n"
  "--share, shows it (device, volume, requester and their key's history,\n"
  "reason, ticket, age, confirmation code, envelope digest), checks the\n"
  "requester's signature with the key you pinned for them (`escrowctl pin`)\n"
  "and the server's data, asks you to confirm that the requester read you\n"
  "the same confirmation code (--yes: it was checked), computes your part\n"
  "from the share file and uploads it.  A key that differs from your pin is\n"
  "refused; with no pin yet, you confirm the shown fingerprint with the\n"
  "requester out of band and it is pinned.\n"
  "--export writes the request file for `escrowctl part` on an offline\n"
  "machine; --import uploads the part file it made.  --decline records that\n"
  "you say no, naming a rule (a-z 0-9 _ . -) and a reason: the requester and\n"
  "the other custodians see it; it is not a veto.\n"
  "\n"
  "  --share S                your share file\n"
  "  --passphrase-file P      read the share passphrase from P\n"
  "  --yes                    the confirmation code was checked; do not ask\n"
  "  --pin-requester FPR      the requester's client key fingerprint, as they read\n"
  "                           it to you out of band: pin it when none is pinned\n"
  "                           (without a terminal, an unpinned requester is refused\n"
  "                           otherwise; a changed key is always refused)\n"
  "  --log-key VKEY           the audit log's verifier key (default: as for\n"
  "                           `audit verify`: $ESCROWCTL_LOG_KEY or the pinned\n"
  "                           key); the record's escrow event must be in the log\n"
  "  --export FILE            write the request file to FILE\n"
  "  --import PART            upload the part file PART\n"
  "  --decline RULE           decline REQUEST, naming the rule it fails\n"
  "  --reason TEXT            why (with --decline)\n"
  "  --server URL, --cacert PEM   as for every online command\n";

typedef struct ap_opts {
  ctl_http_target t;
  const char *share, *passfile, *export_to, *import, *log_key, *pin_requester;
  const char *decline, *reason;
  int yes;
} ap_opts;

static int list(ctl_http *h)
{
  json_t *ans = NULL, *v;
  size_t i;
  int rc = ctl_http_call(h, "GET", "/v1/retrievals?state=pending", NULL, &ans);

  if (rc)
    return rc;
  json_t *a = json_object_get(ans, "retrievals");
  if (json_array_size(a) == 0)
    printf("no pending retrieval requests\n");
  json_array_foreach (a, i, v) {
    /* who gave a part so far: a custodian sees what still waits for them */
    char from[160] = "";
    size_t k;
    json_t *c;
    json_array_foreach (json_object_get(v, "custodians"), k, c) {
      size_t used = strlen(from);
      snprintf(from + used, sizeof from - used, "%s%lld", k ? "," : " from custodians ",
               (long long)json_integer_value(c));
    }
    const json_t *rk = json_object_get(v, "requester_key");
    printf("%s  %s/%s  by %s  parts %lld/%lld%s  code %s  created %s\n  reason: %s  "
           "ticket: %s\n  requester key %.16s... registered %s (%lld key%s on the account)\n",
           ctl_jstr(v, "request_id"), ctl_jstr(v, "hostname"), ctl_jstr(v, "volume_id"),
           ctl_jstr(v, "requester"), ctl_jint(v, "parts"), ctl_jint(v, "needed"), from,
           ctl_jstr(v, "confirmation_code"), ctl_jstr(v, "created"), ctl_jstr(v, "reason"),
           ctl_jstr(v, "ticket"), ctl_jstr(rk, "fingerprint") ?: "?",
           ctl_jstr(rk, "registered") ?: "?", ctl_jint(rk, "keys"),
           ctl_jint(rk, "keys") == 1 ? "" : "s");
  }
  json_decref(ans);
  return CTL_OK;
}

/* Upload one part. */
static int upload(ctl_http *h, const ke_partfile *pf)
{
  char path[200], *b64 = ke_b64url_encode(pf->part, KE_PART_LEN);
  json_t *body = b64 ? json_pack("{s:s}", "part", b64) : NULL, *ans = NULL;
  int rc;

  free(b64);
  if (!body)
    return ctl_oom();
  snprintf(path, sizeof path, "/v1/retrievals/%s/parts", pf->request_id);
  rc = ctl_http_call(h, "POST", path, body, &ans);
  json_decref(body);
  if (!rc)
    printf("part of custodian %lld uploaded for %s: %lld/%lld parts%s\n",
           ctl_jint(ans, "custodian_index"), pf->request_id, ctl_jint(ans, "parts"),
           ctl_jint(ans, "needed"),
           strcmp(ctl_jstr(ans, "state") ?: "", "completed") == 0 ? " (complete)" : "");
  json_decref(ans);
  return rc;
}

/* POST the decline of request `id`. */
static int decline(const ctl_http_target *t, const char *id, const char *rule, const char *reason)
{
  char path[200], esc[128];
  json_t *body = json_pack("{s:s,s:s}", "rule", rule, "reason", reason), *ans = NULL;
  int rc = body ? ctl_http_escape(esc, sizeof esc, id) : CTL_USAGE;

  if (!body)
    ctl_errf("--decline and --reason must be UTF-8 text");
  if (!rc) {
    snprintf(path, sizeof path, "/v1/retrievals/%s/declines", esc);
    rc = ctl_http_do(t, "POST", path, body, &ans);
  }
  if (!rc)
    printf("custodian %lld declined %s: rule %s\n", ctl_jint(ans, "custodian_index"), id, rule);
  json_decref(body);
  json_decref(ans);
  return rc;
}

/* Print the declines of a request view from the `from`-th on (retrieve
 * prints each once as it arrives; approve all of them). */
void ctl_print_declines(FILE *f, const json_t *view, size_t from)
{
  const json_t *d = json_object_get(view, "declines");

  for (size_t i = from; i < json_array_size(d); i++) {
    const json_t *x = json_array_get(d, i);
    fprintf(f, "  declined by custodian %lld (%s): rule %s: %s\n", ctl_jint(x, "custodian_index"),
            ctl_jstr(x, "custodian") ?: "?", ctl_jstr(x, "rule") ?: "?",
            ctl_jstr(x, "reason") ?: "?");
  }
}

static void show(const ke_request *r, const json_t *v)
{
  char dg[80];
  ctl_hex_groups(dg, r->envelope_sha256);
  ctl_notef("Retrieval request %s\n"
            "  device             %s (%s)\n"
            "  volume             %s  (%s, Key ID %s)\n"
            "  requester          %s\n"
            "  reason             %s\n"
            "  ticket             %s\n"
            "  age                %lld s (created %s)\n"
            "  parts              %lld/%lld\n"
            "  envelope SHA-256   %s\n"
            "  confirmation code  %s",
            r->request_id, r->device, ctl_jstr(v, "hostname"), r->volume, ctl_jstr(v, "key_type"),
            ctl_jstr(v, "key_id"), ctl_jstr(v, "requester"), ctl_jstr(v, "reason"),
            ctl_jstr(v, "ticket"), ctl_jint(v, "age_seconds"), r->created, ctl_jint(v, "parts"),
            ctl_jint(v, "needed"), dg, r->code);
  ctl_approve_say_older(v);
  ctl_print_declines(stderr, v, 0);
}

/* Who asked (ctl_requester.h), and for what. */
static int check_requester(const ap_opts *o, const ke_request *r, const json_t *view)
{
  const json_t *kv = json_object_get(view, "requester_key");
  int rc;

  if (!r->has_requester)
    return ctl_requester_check(r, NULL, NULL); /* refuses */
  ctl_requester_show(r, kv);
  if ((rc = ctl_approve_same_request(r, view)))
    return rc;
  return ctl_requester_check(r, o->pin_requester, kv);
}

static int approve_one(ctl_http *h, const ap_opts *o, const char *id)
{
  ke_request *r = calloc(1, sizeof *r);
  ke_sharefile sf;
  ke_partfile pf;
  json_t *view = NULL;
  char *text = NULL;
  size_t len = 0;
  int rc;

  if (!r)
    return CTL_FAIL;
  if ((rc = ctl_approve_fetch(h, id, r, &view, NULL)))
    goto out;
  show(r, view);
  if (strcmp(ctl_jstr(view, "state") ?: "", "expired") == 0) {
    rc = ctl_err(CTL_FAIL, "the request has expired");
    goto out;
  }
  if ((rc = check_requester(o, r, view)) || (rc = ctl_approve_in_log(h, o->log_key, r, view)))
    goto out;
  if (o->export_to) {
    if (ke_request_write(&text, &len, r) != KE_OK) {
      rc = CTL_FAIL;
      goto out;
    }
    rc = ctl_write_text(o->export_to, text, len, 0644, 0);
    if (!rc)
      ctl_notef("request file written to %s: make the part with `escrowctl part`, then "
                "`escrowctl approve --import PART`",
                o->export_to);
    goto out;
  }
  if ((rc = ctl_load_share(&sf, o->share)) ||
      (rc = ctl_check_share(&sf, &r->pub, NULL, "the request's escrow key")))
    goto out;
  if (!o->yes) {
    if (!ctl_interactive()) {
      rc = ctl_err(CTL_USAGE, "not a terminal: check the confirmation code with the requester, "
                              "then pass --yes");
      goto out;
    }
    if (!ctl_confirm("Does the requester read you the same confirmation code? [y/N] ")) {
      rc = ctl_err(CTL_FAIL, "not confirmed; no part made");
      goto out;
    }
  }
  if (!(rc = ctl_part_make(&pf, r, &sf, o->passfile)))
    rc = upload(h, &pf);
  ke_wipe(&pf, sizeof pf);
out:
  json_decref(view);
  free(r);
  return rc;
}

int ctl_cmd_approve(const ctl_cmd *cmd, int argc, char **argv)
{
  static const struct option opts[] = {
    CTL_HTTP_OPTIONS,
    {"share", required_argument, 0, CTL_OPT_ARG(ap_opts, share)},
    {"passphrase-file", required_argument, 0, CTL_OPT_ARG(ap_opts, passfile)},
    {"yes", no_argument, 0, CTL_OPT_SET(ap_opts, yes)},
    {"export", required_argument, 0, CTL_OPT_ARG(ap_opts, export_to)},
    {"import", required_argument, 0, CTL_OPT_ARG(ap_opts, import)},
    {"log-key", required_argument, 0, CTL_OPT_ARG(ap_opts, log_key)},
    {"pin-requester", required_argument, 0, CTL_OPT_ARG(ap_opts, pin_requester)},
    {"decline", required_argument, 0, CTL_OPT_ARG(ap_opts, decline)},
    {"reason", required_argument, 0, CTL_OPT_ARG(ap_opts, reason)},
    CTL_OPT_END,
  };
  ap_opts o = {0};
  ctl_http *h = NULL;
  int first = 0, rc;
  const char *id;

  if ((rc = ctl_getopt(cmd, argc, argv, opts, ctl_http_on_opt, &o, &first)))
    return rc;
  id = argc > first ? argv[first] : NULL;
  /* Options may also follow REQUEST: parse the rest with REQUEST in the
   * place of the command word. */
  if (id && argc - first > 1) {
    int more = 0;
    if ((rc = ctl_getopt(cmd, argc - first, argv + first, opts, ctl_http_on_opt, &o, &more)))
      return rc;
    if (more < argc - first)
      return ctl_err(CTL_USAGE, "one request at a time");
  }
  if (o.decline || o.reason) {
    if (!id || !o.decline || !o.reason || o.share || o.export_to || o.import)
      return ctl_err(CTL_USAGE, "--decline RULE --reason TEXT need REQUEST, and no --share, "
                                "--export or --import");
    return decline(&o.t, id, o.decline, o.reason);
  }
  if (o.import && (id || o.share || o.export_to))
    return ctl_err(CTL_USAGE, "--import takes no REQUEST, --share or --export");
  if (id && !o.share == !o.export_to)
    return ctl_err(CTL_USAGE, "with REQUEST, give --share (approve online) or --export (offline)");
  if (!id && (o.share || o.export_to))
    return ctl_err(CTL_USAGE, "--share and --export need REQUEST");
  if ((rc = ctl_new_file(o.export_to)))
    return rc;
  if (o.import) {
    ke_partfile pf;
    if ((rc = ctl_load_part(&pf, o.import)))
      return rc;
    if ((rc = ctl_http_open(&h, &o.t, 1)) == CTL_OK)
      rc = upload(h, &pf);
  } else if ((rc = ctl_http_open(&h, &o.t, 1)) == CTL_OK) {
    rc = id ? approve_one(h, &o, id) : list(h);
  }
  ctl_http_free(h);
  return rc;
}
