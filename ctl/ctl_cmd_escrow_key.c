/*
 * escrowctl escrow-key publish|show|set-state - the escrow public keys the
 * server hands to agents.
 *
 * Both directions are checked here and not only on the server: `publish`
 * parses the manifest (recomputing every public value and the fingerprint)
 * before it is sent, and `show` recomputes the fingerprint of what the
 * server answered, so a server that serves a key other than the one it
 * names is caught by the person looking at it.
 */
#include <stdlib.h>
#include <string.h>

#include "ctl_cmd.h"
#include "ctl_http.h"

const char ctl_usage_escrow_key_publish[] =
  "usage: escrowctl escrow-key publish --manifest FILE [--fingerprint HEX]\n"
  "                                    [--state current|accepted]\n"
  "\n"
  "Publishes the public manifest of a ceremony (escrow-key.json) on the server\n"
  "(admin only).  As `current` (the default) it is what enrolling agents get and\n"
  "what check-ins announce; the previous current key becomes `accepted`: uploads\n"
  "sealed to it are still taken, so agents can move over once they have pinned\n"
  "the new fingerprint (escrow-agent pin).  `accepted` stages a key without\n"
  "announcing it.  Publishing the same key again changes nothing.\n"
  "\n"
  "  --manifest FILE       the ceremony's escrow-key.json\n"
  "  --fingerprint HEX     refuse unless the manifest has this fingerprint\n"
  "  --state STATE         current (default) or accepted\n"
  "  --server URL, --cacert PEM   as for every online command\n";

const char ctl_usage_escrow_key_show[] =
  "usage: escrowctl escrow-key show [--fingerprint HEX] [--out FILE] [--json]\n"
  "       escrowctl escrow-key show --all [--json]\n"
  "\n"
  "Shows the server's current escrow key (or the one with --fingerprint), after\n"
  "checking that the manifest it serves has the fingerprint it claims.\n"
  "\n"
  "  --fingerprint HEX     that key instead of the current one (and require it)\n"
  "  --out FILE            also write the verified manifest to FILE (never replaced)\n"
  "  --all                 list every published key and its state\n"
  "  --json                the server's JSON answer\n"
  "  --server URL, --cacert PEM   as for every online command\n";

const char ctl_usage_escrow_key_set_state[] =
  "usage: escrowctl escrow-key set-state --fingerprint HEX --state STATE\n"
  "\n"
  "Changes a published key's state (admin only): `current` (the old current\n"
  "key becomes accepted), `accepted` (uploads still taken, not announced) or\n"
  "`retired` (no new uploads; its records stay and open with its shares).  The\n"
  "current key can only be replaced, never retired directly.\n"
  "\n"
  "  --fingerprint HEX     the key\n"
  "  --state STATE         current, accepted or retired\n"
  "  --server URL, --cacert PEM   as for every online command\n";

typedef struct ek_opts {
  ctl_http_target t;
  const char *manifest, *state, *out;
  ctl_hex32 fpr;
  int all, json;
} ek_opts;

enum { O_STATE = 256 };

static int on_opt(void *ctx, int opt, const char *arg)
{
  ek_opts *o = ctx;
  if (ctl_http_opt(&o->t, opt, arg))
    return CTL_OK;
  switch (opt) {
    case O_STATE:
      if (strcmp(arg, "current") && strcmp(arg, "accepted") && strcmp(arg, "retired"))
        return ctl_err(CTL_USAGE, "--state: current, accepted or retired");
      o->state = arg;
      return CTL_OK;
  }
  return CTL_USAGE;
}

static const struct option ek_options[] = {
  CTL_HTTP_OPTIONS,
  {"manifest", required_argument, 0, CTL_OPT_ARG(ek_opts, manifest)},
  {"fingerprint", required_argument, 0, CTL_OPT_HEX32(ek_opts, fpr)},
  {"state", required_argument, 0, O_STATE},
  {"out", required_argument, 0, CTL_OPT_ARG(ek_opts, out)},
  {"all", no_argument, 0, CTL_OPT_SET(ek_opts, all)},
  {"json", no_argument, 0, CTL_OPT_SET(ek_opts, json)},
  CTL_OPT_END};

/* "state (previous current key X is now accepted)" lines after a change. */
static void ek_report(const json_t *ans)
{
  const char *fpr = ctl_jstr(ans, "fingerprint");
  const char *state = ctl_jstr(ans, "state");
  const char *demoted = ctl_jstr(ans, "demoted");

  if (!json_is_true(json_object_get(ans, "changed")))
    printf("Escrow key %s was already %s: nothing changed.\n", fpr, state);
  else
    printf("Escrow key %s is now %s.\n", fpr, state);
  if (demoted)
    printf("The previous current key %s is now accepted.\n", demoted);
}

int ctl_cmd_escrow_key_publish(const ctl_cmd *cmd, int argc, char **argv)
{
  ek_opts o = {0};
  ke_manifest *m = NULL;
  ctl_http *h = NULL;
  json_t *file = NULL, *req = NULL, *ans = NULL;
  json_error_t jerr;
  char fpr[2 * KE_FPR_LEN + 1];
  const char *got;
  int rc;

  if ((rc = ctl_getopt(cmd, argc, argv, ek_options, on_opt, &o, NULL)))
    return rc;
  if (!o.manifest)
    return ctl_missing_opt("--manifest");
  if (o.state && strcmp(o.state, "retired") == 0)
    return ctl_err(CTL_USAGE, "--state: a key is published as current or accepted (retire it with "
                              "set-state)");
  if (!(m = malloc(sizeof *m)))
    return ctl_oom();
  if ((rc = ctl_load_manifest(m, o.manifest, CTL_HEX32(o.fpr))))
    goto out;
  ke_hex_encode(fpr, m->pub.fingerprint, KE_FPR_LEN);
  /* The file parsed strictly above; send it as the object it is. */
  file = json_load_file(o.manifest, JSON_REJECT_DUPLICATES, &jerr);
  req =
    file ? json_pack("{s:O,s:s}", "manifest", file, "state", o.state ? o.state : "current") : NULL;
  if (!req) {
    rc = ctl_err(CTL_FAIL, "%s: cannot read the manifest again", o.manifest);
    goto out;
  }
  if ((rc = ctl_http_open(&h, &o.t, 1)) ||
      (rc = ctl_http_call(h, "POST", "/v1/escrow-key", req, &ans)))
    goto out;
  got = ctl_jstr(ans, "fingerprint");
  if (!got || strcmp(got, fpr) != 0) {
    rc = ctl_err(CTL_NET, "%s answered with another fingerprint than the manifest's %s",
                 ctl_http_server(h), fpr);
    goto out;
  }
  ek_report(ans);
out:
  free(m);
  json_decref(file);
  json_decref(req);
  json_decref(ans);
  ctl_http_free(h);
  return rc;
}

static int ek_list(ctl_http *h, const ek_opts *o)
{
  json_t *ans = NULL;
  const json_t *keys;
  int rc;

  if ((rc = ctl_http_call(h, "GET", "/v1/escrow-keys", NULL, &ans)))
    return rc;
  if (o->json) {
    ctl_print_json(ans);
  } else {
    printf("%-64s %-9s %-6s %s\n", "FINGERPRINT", "STATE", "T/N", "PUBLISHED");
    keys = json_object_get(ans, "escrow_keys");
    for (size_t i = 0; i < json_array_size(keys); i++) {
      const json_t *k = json_array_get(keys, i);
      char tn[16];
      snprintf(tn, sizeof tn, "%lld/%lld", ctl_jint(k, "threshold"), ctl_jint(k, "shares"));
      printf("%-64s %-9s %-6s %s\n", ctl_jstr(k, "fingerprint"), ctl_jstr(k, "state"), tn,
             ctl_jstr(k, "created"));
    }
  }
  json_decref(ans);
  return CTL_OK;
}

int ctl_cmd_escrow_key_show(const ctl_cmd *cmd, int argc, char **argv)
{
  ek_opts o = {0};
  ke_manifest *m = NULL;
  ke_ferr ferr;
  ctl_http *h = NULL;
  json_t *ans = NULL;
  char path[128], fpr[2 * KE_FPR_LEN + 1], *text = NULL, *out = NULL;
  const char *claimed;
  size_t outlen;
  int rc;

  if ((rc = ctl_getopt(cmd, argc, argv, ek_options, on_opt, &o, NULL)))
    return rc;
  if ((rc = ctl_http_open(&h, &o.t, 0)))
    goto out;
  if (o.all) {
    rc = ek_list(h, &o);
    goto out;
  }
  if (o.fpr.set) {
    ke_hex_encode(fpr, o.fpr.b, KE_FPR_LEN);
    snprintf(path, sizeof path, "/v1/escrow-key?fingerprint=%s", fpr);
  } else {
    snprintf(path, sizeof path, "/v1/escrow-key");
  }
  if ((rc = ctl_http_call(h, "GET", path, NULL, &ans)))
    goto out;
  claimed = ctl_jstr(ans, "fingerprint");
  text = json_dumps(json_object_get(ans, "manifest"), JSON_COMPACT);
  m = malloc(sizeof *m);
  rc = CTL_NET;
  if (!claimed || !text || !m) {
    ctl_errf("%s answered without a manifest", ctl_http_server(h));
    goto out;
  }
  if (ke_manifest_parse(m, text, strlen(text), &ferr) != KE_OK) {
    ctl_errf("%s served an invalid manifest: %s", ctl_http_server(h), ferr.msg);
    goto out;
  }
  ke_hex_encode(fpr, m->pub.fingerprint, KE_FPR_LEN);
  if (strcmp(fpr, claimed) != 0 ||
      (o.fpr.set && memcmp(o.fpr.b, m->pub.fingerprint, KE_FPR_LEN) != 0)) {
    rc = ctl_err(CTL_FAIL,
                 "%s served a manifest whose fingerprint is %s, not the one it names or "
                 "you asked for; refusing",
                 ctl_http_server(h), fpr);
    goto out;
  }
  if (o.out) {
    if (ke_manifest_write(&out, &outlen, m) != KE_OK) {
      rc = ctl_oom();
      goto out;
    }
    rc = ctl_write_text(o.out, out, outlen, 0644, 0);
    out = NULL;
    if (rc)
      goto out;
  }
  rc = CTL_OK;
  if (o.json) {
    ctl_print_json(ans);
    goto out;
  }
  printf("fingerprint  %s\nstate        %s\nthreshold    %u of %u custodians\n"
         "published    %s\ncustodians  ",
         fpr, ctl_jstr(ans, "state"), (unsigned)m->pub.t, (unsigned)m->pub.n,
         ctl_jstr(ans, "created"));
  for (unsigned i = 0; i < m->pub.n; i++)
    printf(" %u:%s", i + 1, m->names[i]);
  printf("\n");
out:
  free(text);
  free(m);
  json_decref(ans);
  ctl_http_free(h);
  return rc;
}

int ctl_cmd_escrow_key_set_state(const ctl_cmd *cmd, int argc, char **argv)
{
  ek_opts o = {0};
  json_t *req = NULL, *ans = NULL;
  char fpr[2 * KE_FPR_LEN + 1];
  int rc;

  if ((rc = ctl_getopt(cmd, argc, argv, ek_options, on_opt, &o, NULL)))
    return rc;
  if ((rc = CTL_REQUIRED({"--fingerprint", o.fpr.set}, {"--state", o.state})))
    return rc;
  ke_hex_encode(fpr, o.fpr.b, KE_FPR_LEN);
  req = json_pack("{s:s,s:s}", "fingerprint", fpr, "state", o.state);
  if (!req)
    return ctl_oom();
  if (!(rc = ctl_http_do(&o.t, "POST", "/v1/escrow-key", req, &ans)))
    ek_report(ans);
  json_decref(req);
  json_decref(ans);
  return rc;
}
