/*
 * escrowctl token create|list|revoke - API tokens for automation (admin
 * role).  `create` prints the token on stdout, alone on its line, and only
 * there: the server keeps just its hash, so it cannot be shown again.
 */
#include "ctl_cmd.h"
#include "ctl_http.h"
#include "ctl_list.h"

const char ctl_usage_token_create[] =
  "usage: escrowctl token create --name NAME [--expires-in DURATION] [--user NAME]\n"
  "\n"
  "Creates an API token (admin only) for NAME's automation, acting as --user\n"
  "(default: yourself) with that user's role.  The token is printed on stdout\n"
  "once; store it as a secret (e.g. ESCROWCTL_TOKEN for escrowctl itself).\n"
  "\n"
  "  --name NAME           what it is for (1..64 of A-Z a-z 0-9 space . _ : @ -)\n"
  "  --expires-in DURATION seconds, or with a unit: 90d, 12h, 30m (default 30d)\n"
  "  --user NAME           the account it acts as\n"
  "  --server URL, --cacert PEM   as for every online command\n";

const char ctl_usage_token_list[] =
  "usage: escrowctl token list [--all] [--json]\n\n"
  "Lists active tokens, API tokens and login sessions alike (admin only).\n\n"
  "  --all    also expired and revoked ones\n"
  "  --json   the server's JSON answer\n"
  "  --server URL, --cacert PEM   as for every online command\n";

const char ctl_usage_token_revoke[] =
  "usage: escrowctl token revoke ID\n\n"
  "Revokes a token or login session by its id (from `token list`); it stops\n"
  "working at once.\n\n"
  "  --server URL, --cacert PEM   as for every online command\n";

typedef struct token_opts {
  ctl_http_target t;
  const char *name, *user;
  long long expires_in;
  int all, json;
} token_opts;

enum { O_EXPIRES = 256 };

static int parse_duration(long long *out, const char *s)
{
  if (ctl_list_duration(out, s, "smhd", 1, 100LL * 365 * 86400) == 0)
    return CTL_OK;
  return ctl_err(CTL_USAGE, "--expires-in: a positive number of seconds, or with s, m, h or d "
                            "(e.g. 90d)");
}

static int on_opt(void *ctx, int opt, const char *arg)
{
  token_opts *o = ctx;
  if (ctl_http_opt(&o->t, opt, arg))
    return CTL_OK;
  return opt == O_EXPIRES ? parse_duration(&o->expires_in, arg) : CTL_USAGE;
}

static const struct option token_options[] = {
  CTL_HTTP_OPTIONS,
  {"name", required_argument, 0, CTL_OPT_ARG(token_opts, name)},
  {"expires-in", required_argument, 0, O_EXPIRES},
  {"user", required_argument, 0, CTL_OPT_ARG(token_opts, user)},
  {"all", no_argument, 0, CTL_OPT_SET(token_opts, all)},
  {"json", no_argument, 0, CTL_OPT_SET(token_opts, json)},
  CTL_OPT_END};

int ctl_cmd_token_create(const ctl_cmd *cmd, int argc, char **argv)
{
  token_opts o = {.expires_in = 30LL * 86400};
  json_t *req = NULL, *ans = NULL;
  const char *token;
  int rc;

  if ((rc = ctl_getopt(cmd, argc, argv, token_options, on_opt, &o, NULL)))
    return rc;
  if (!o.name)
    return ctl_missing_opt("--name");
  req = json_pack("{s:s,s:I}", "name", o.name, "expires_in", (json_int_t)o.expires_in);
  if (req && o.user)
    json_object_set_new(req, "user", json_string(o.user));
  if (!req)
    return ctl_err(CTL_USAGE, "--name is not valid UTF-8");
  if ((rc = ctl_list_create(&o.t, "/v1/tokens", req, &ans, &token)))
    goto out;
  ctl_notef("Token %lld \"%s\" for %s, expires %s. It is shown only this once:",
            ctl_jint(ans, "id"), o.name, ctl_jstr(ans, "user"), ctl_jstr(ans, "expires"));
  printf("%s\n", token);
out:
  json_decref(req);
  json_decref(ans);
  return rc;
}

int ctl_cmd_token_list(const ctl_cmd *cmd, int argc, char **argv)
{
  token_opts o = {0};
  json_t *ans = NULL;
  int rc;

  if ((rc = ctl_getopt(cmd, argc, argv, token_options, on_opt, &o, NULL)))
    return rc;
  if ((rc = ctl_list_fetch(&o.t, "/v1/tokens", o.all, o.json, &ans)) || !ans)
    return rc;
  printf("%-6s %-5s %-16s %-24s %-20s %s\n", "ID", "KIND", "USER", "NAME", "EXPIRES", "STATE");
  const json_t *toks = json_object_get(ans, "tokens");
  for (size_t i = 0; i < json_array_size(toks); i++) {
    const json_t *t = json_array_get(toks, i);
    printf("%-6lld %-5s %-16s %-24s %-20s %s\n", ctl_jint(t, "id"), ctl_jstr(t, "kind"),
           ctl_jstr(t, "user"), ctl_jstr(t, "name"), ctl_jstr(t, "expires"),
           json_is_string(json_object_get(t, "revoked")) ? "revoked"
           : json_is_true(json_object_get(t, "active"))  ? "active"
                                                         : "expired");
  }
  json_decref(ans);
  return CTL_OK;
}

int ctl_cmd_token_revoke(const ctl_cmd *cmd, int argc, char **argv)
{
  static const ctl_list_kind kind = {"/v1/tokens", "token", "a", "escrowctl token list"};
  token_opts o = {0};
  int first = 0, rc;

  if ((rc = ctl_getopt(cmd, argc, argv, token_options, on_opt, &o, &first)))
    return rc;
  return ctl_list_revoke(&o.t, &kind, argc, argv, first);
}
