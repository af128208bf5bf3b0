/*
 * escrowctl enroll-token create|list|revoke - the tokens that let agents
 * enrol (admin role).  `create` prints the token on stdout, alone on its
 * line, and only there: the server keeps just its hash.
 */
#include "ctl_cmd.h"
#include "ctl_http.h"
#include "ctl_list.h"

const char ctl_usage_enroll_token_create[] =
  "usage: escrowctl enroll-token create --group GROUP --uses N --expires DURATION\n"
  "\n"
  "Creates an enrolment token (admin only): `escrow-agent enroll --token T`\n"
  "registers a device into GROUP with it, at most N devices, until it expires.\n"
  "The token is printed on stdout once; hand it to configuration management as\n"
  "a secret, and revoke it when the rollout is done.\n"
  "\n"
  "  --group GROUP         devices' group (1..64 of A-Z a-z 0-9 . _ : -)\n"
  "  --uses N              how many devices may enrol with it (1..1000000)\n"
  "  --expires DURATION    seconds, or with a unit: 30m, 12h, 7d, 2w (max 366d)\n"
  "  --server URL, --cacert PEM   as for every online command\n";

const char ctl_usage_enroll_token_list[] =
  "usage: escrowctl enroll-token list [--all] [--json]\n\n"
  "Lists enrolment tokens that can still be used (admin only).\n\n"
  "  --all    also used up, expired and revoked ones\n"
  "  --json   the server's JSON answer\n"
  "  --server URL, --cacert PEM   as for every online command\n";

const char ctl_usage_enroll_token_revoke[] =
  "usage: escrowctl enroll-token revoke ID\n\n"
  "Revokes an enrolment token by its id (from `enroll-token list`): no device\n"
  "can enrol with it any more.  Devices already enrolled are not affected.\n\n"
  "  --server URL, --cacert PEM   as for every online command\n";

typedef struct et_opts {
  ctl_http_target t;
  const char *group;
  unsigned uses;
  int have_uses;
  long long expires;
  int all, json;
} et_opts;

enum { O_USES = 256, O_EXPIRES };

#define ET_MAX_LIFETIME (366LL * 86400)

static int et_duration(long long *out, const char *s)
{
  if (ctl_list_duration(out, s, "smhdw", 60, ET_MAX_LIFETIME) == 0)
    return CTL_OK;
  return ctl_err(CTL_USAGE, "--expires: from 60 seconds to 366 days, in seconds or with s, m, h, d "
                            "or w (e.g. 7d)");
}

static int on_opt(void *ctx, int opt, const char *arg)
{
  et_opts *o = ctx;
  if (ctl_http_opt(&o->t, opt, arg))
    return CTL_OK;
  switch (opt) {
    case O_USES: o->have_uses = 1; return ctl_parse_uint(&o->uses, arg, "--uses", 1, 1000000);
    case O_EXPIRES: return et_duration(&o->expires, arg);
  }
  return CTL_USAGE;
}

static const struct option et_options[] = {
  CTL_HTTP_OPTIONS,
  {"group", required_argument, 0, CTL_OPT_ARG(et_opts, group)},
  {"uses", required_argument, 0, O_USES},
  {"expires", required_argument, 0, O_EXPIRES},
  {"all", no_argument, 0, CTL_OPT_SET(et_opts, all)},
  {"json", no_argument, 0, CTL_OPT_SET(et_opts, json)},
  CTL_OPT_END};

int ctl_cmd_enroll_token_create(const ctl_cmd *cmd, int argc, char **argv)
{
  et_opts o = {0};
  json_t *req = NULL, *ans = NULL;
  const char *token;
  int rc;

  if ((rc = ctl_getopt(cmd, argc, argv, et_options, on_opt, &o, NULL)))
    return rc;
  if ((rc = CTL_REQUIRED({"--group", o.group}, {"--uses", o.have_uses}, {"--expires", o.expires})))
    return rc;
  req = json_pack("{s:s,s:I,s:I}", "group", o.group, "uses", (json_int_t)o.uses, "expires_in",
                  (json_int_t)o.expires);
  if (!req)
    return ctl_err(CTL_USAGE, "--group is not valid UTF-8");
  if ((rc = ctl_list_create(&o.t, "/v1/enroll-tokens", req, &ans, &token)))
    goto out;
  ctl_notef("Enrolment token %lld for group \"%s\": %u device(s), expires %s. It is shown "
            "only this once:",
            ctl_jint(ans, "id"), o.group, o.uses, ctl_jstr(ans, "expires"));
  printf("%s\n", token);
out:
  json_decref(req);
  json_decref(ans);
  return rc;
}

int ctl_cmd_enroll_token_list(const ctl_cmd *cmd, int argc, char **argv)
{
  et_opts o = {0};
  json_t *ans = NULL;
  const json_t *toks;
  int rc;

  if ((rc = ctl_getopt(cmd, argc, argv, et_options, on_opt, &o, NULL)))
    return rc;
  if ((rc = ctl_list_fetch(&o.t, "/v1/enroll-tokens", o.all, o.json, &ans)) || !ans)
    return rc;
  printf("%-6s %-20s %-11s %-8s %-20s %-9s %s\n", "ID", "GROUP", "USES LEFT", "DEVICES", "EXPIRES",
         "STATUS", "CREATED BY");
  toks = json_object_get(ans, "enroll_tokens");
  for (size_t i = 0; i < json_array_size(toks); i++) {
    const json_t *t = json_array_get(toks, i);
    char uses[32];
    snprintf(uses, sizeof uses, "%lld/%lld", ctl_jint(t, "uses_left"), ctl_jint(t, "uses_max"));
    printf("%-6lld %-20s %-11s %-8lld %-20s %-9s %s\n", ctl_jint(t, "id"), ctl_jstr(t, "group"),
           uses, ctl_jint(t, "devices"), ctl_jstr(t, "expires"), ctl_jstr(t, "status"),
           ctl_jstr(t, "created_by"));
  }
  json_decref(ans);
  return CTL_OK;
}

int ctl_cmd_enroll_token_revoke(const ctl_cmd *cmd, int argc, char **argv)
{
  static const ctl_list_kind kind = {"/v1/enroll-tokens", "enrolment token", "an",
                                     "escrowctl enroll-token list"};
  et_opts o = {0};
  int first = 0, rc;

  if ((rc = ctl_getopt(cmd, argc, argv, et_options, on_opt, &o, &first)))
    return rc;
  return ctl_list_revoke(&o.t, &kind, argc, argv, first);
}
