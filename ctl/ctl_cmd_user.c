/*
 * escrowctl user add|list|disable|enable|set-role|set-person|set-email|set-scope|
 *                reset-password
 * (admin role) over the stored login.  A password given with
 * --password-file is never printed; a generated one-time password is the
 * only way the new user gets in, so `add` prints it, once.
 */
#include <stdlib.h>
#include <string.h>

#include "ctl_cmd.h"
#include "ctl_http.h"
#include "ctl_list.h"

#define CTL_ONLINE_OPTS                                                          \
  "  --server URL   another server than the stored login's (ESCROWCTL_SERVER)\n" \
  "  --cacert PEM   CA to trust for it (ESCROWCTL_CACERT)\n"                     \
  "  --pin-sha256 B64  its public key pin(s) (ESCROWCTL_PIN_SHA256)\n"

const char ctl_usage_user_add[] =
  "usage: escrowctl user add NAME --role ROLE [--custodian-index N]\n"
  "                          [--password-file F] [--person ID] [--service]\n"
  "\n"
  "Creates an account (admin only).  ROLE is admin, helpdesk, custodian or\n"
  "auditor; a custodian needs the index (1..255) of the share they hold.  Without\n"
  "--password-file the server generates a one-time password, printed here once;\n"
  "the user must replace it at the first `escrowctl login`.  --person names the\n"
  "human behind the account (the same ID on a helpdesk and a custodian account\n"
  "keeps that person from approving their own retrieval requests).\n"
  "--service makes an account for automation: no password (it cannot log in),\n"
  "API tokens only (`escrowctl token create --user NAME`, which is refused for\n"
  "any account of a person but your own); never a custodian.\n"
  "\n" CTL_ONLINE_OPTS;

const char ctl_usage_user_list[] =
  "usage: escrowctl user list [--json]\n\nLists the accounts (admin only).\n\n"
  "  --json         the server's JSON answer\n" CTL_ONLINE_OPTS;

const char ctl_usage_user_disable[] =
  "usage: escrowctl user disable NAME\n\n"
  "Disables an account (admin only): its sessions and the API tokens it made\n"
  "are revoked at once (enabling it again brings none of them back).  The last\n"
  "active admin cannot be disabled.\n\n" CTL_ONLINE_OPTS;

const char ctl_usage_user_enable[] = "usage: escrowctl user enable NAME\n\nEnables a disabled "
                                     "account (admin only).\n\n" CTL_ONLINE_OPTS;

const char ctl_usage_user_set_role[] =
  "usage: escrowctl user set-role NAME --role ROLE [--custodian-index N]\n\n"
  "Changes an account's role (admin only); custodians need --custodian-index.\n\n" CTL_ONLINE_OPTS;

const char ctl_usage_user_set_person[] =
  "usage: escrowctl user set-person NAME --person ID\n\n"
  "Records the human behind an account (admin only).  The same ID on a helpdesk\n"
  "and a custodian account keeps that person from approving their own\n"
  "retrieval requests.\n\n" CTL_ONLINE_OPTS;

const char ctl_usage_user_set_email[] =
  "usage: escrowctl user set-email NAME --email ADDRESS\n\n"
  "Sets where an account is mailed about retrieval requests (admin only):\n"
  "custodians get a mail when a request is made, a reminder while it waits\n"
  "for their part, and one when it completes or expires (escrowd's smtp_url).\n"
  "--email '' removes the address.\n\n" CTL_ONLINE_OPTS;

const char ctl_usage_user_set_scope[] =
  "usage: escrowctl user set-scope NAME --scope GROUPS\n\n"
  "Limits an account to the devices of some enrolment groups (admin only):\n"
  "GROUPS is a comma-separated list of patterns, '*' matching any run of\n"
  "characters (\"emea-*,lab\").  A scoped helpdesk account sees, searches and\n"
  "retrieves only those devices; a scoped auditor's reports cover only them.\n"
  "--scope '' lifts the limit.  (An SSO account's scope comes from the identity\n"
  "provider at each login: escrowd's oidc_role_map.)\n\n" CTL_ONLINE_OPTS;

const char ctl_usage_user_reset_password[] =
  "usage: escrowctl user reset-password NAME [--password-file F]\n\n"
  "Resets an account's password (admin only): for a forgotten password or a\n"
  "suspected compromise.  The user's login sessions are revoked and the failed-\n"
  "login lockout cleared; the new password must be replaced at the next\n"
  "`escrowctl login`.  Without --password-file the server generates a one-time\n"
  "password, printed here once.  API tokens are not touched (`token revoke`).\n\n" CTL_ONLINE_OPTS;

typedef struct user_opts {
  ctl_http_target t;
  const char *role, *password_file, *person, *email, *scope;
  unsigned cidx;
  int json, service;
} user_opts;

enum { O_CIDX = 256 };

static int on_opt(void *ctx, int opt, const char *arg)
{
  user_opts *o = ctx;
  if (ctl_http_opt(&o->t, opt, arg))
    return CTL_OK;
  return opt == O_CIDX ? ctl_parse_uint(&o->cidx, arg, "--custodian-index", 1, 255) : CTL_USAGE;
}

static const struct option user_options[] = {
  CTL_HTTP_OPTIONS,
  {"role", required_argument, 0, CTL_OPT_ARG(user_opts, role)},
  {"custodian-index", required_argument, 0, O_CIDX},
  {"password-file", required_argument, 0, CTL_OPT_ARG(user_opts, password_file)},
  {"json", no_argument, 0, CTL_OPT_SET(user_opts, json)},
  {"person", required_argument, 0, CTL_OPT_ARG(user_opts, person)},
  {"service", no_argument, 0, CTL_OPT_SET(user_opts, service)},
  {"email", required_argument, 0, CTL_OPT_ARG(user_opts, email)},
  {"scope", required_argument, 0, CTL_OPT_ARG(user_opts, scope)},
  CTL_OPT_END};

/* Options, then exactly `npos` positional arguments (the user name). */
static int parse_args(const ctl_cmd *cmd, int argc, char **argv, user_opts *o, int npos,
                      const char **name)
{
  int first = 0, rc;

  memset(o, 0, sizeof *o);
  if ((rc = ctl_getopt(cmd, argc, argv, user_options, on_opt, o, &first)))
    return rc;
  if (npos && argc - first >= 1) {
    /* `user add NAME --role R`: options may also follow the name (ctl_getopt
     * stops at the first positional argument), so parse the rest again. */
    char **rest = argv + first;
    char *saved = rest[0];
    int n = argc - first, first2 = 0;
    *name = saved;
    rest[0] = argv[0];
    rc = ctl_getopt(cmd, n, rest, user_options, on_opt, o, &first2);
    rest[0] = saved;
    if (rc)
      return rc;
    if (first2 == n)
      return CTL_OK;
  } else if (argc - first == npos) {
    return CTL_OK;
  }
  return ctl_err(CTL_USAGE,
                 npos ? "expects one user NAME (see --help)" : "takes no arguments (see --help)");
}

/* parse_args, and --person only where it means something. */
static int parse(const ctl_cmd *cmd, int argc, char **argv, user_opts *o, int npos,
                 const char **name)
{
  int rc = parse_args(cmd, argc, argv, o, npos, name);

  if (!rc && o->person && cmd->sub && strcmp(cmd->sub, "add") != 0 &&
      strcmp(cmd->sub, "set-person") != 0)
    return ctl_err(CTL_USAGE, "--person applies to `user add` and `user set-person` only");
  if (!rc && o->email && (!cmd->sub || strcmp(cmd->sub, "set-email") != 0))
    return ctl_err(CTL_USAGE, "--email applies to `user set-email` only");
  if (!rc && o->scope && (!cmd->sub || strcmp(cmd->sub, "set-scope") != 0))
    return ctl_err(CTL_USAGE, "--scope applies to `user set-scope` only");
  if (!rc && o->service && (!cmd->sub || strcmp(cmd->sub, "add") != 0))
    return ctl_err(CTL_USAGE, "--service applies to `user add` only");
  return rc;
}

/* "/v1/users/<name>/<what>" with the name escaped. */
static int user_path(char *out, size_t outlen, const char *name, const char *what)
{
  char esc[200];
  int rc = ctl_http_escape(esc, sizeof esc, name);
  if (rc)
    return rc;
  snprintf(out, outlen, "/v1/users/%s/%s", esc, what);
  return CTL_OK;
}

/* --password-file F: its first line becomes the body's "password" (the
 * password is never printed).  Without F the server generates one. */
static int user_password_member(json_t *req, const char *file)
{
  ke_buf pw = {0};
  int rc;

  if (!file)
    return CTL_OK;
  if ((rc = ctl_passphrase(&pw, file, "", 0)))
    return rc;
  if (json_object_set_new(req, "password", json_stringn(pw.p, pw.len)))
    rc = ctl_err(CTL_FAIL, "the password is not valid UTF-8");
  ke_buf_free(&pw);
  return rc;
}

/* A generated one-time password, the only way the user gets in: once. */
static void user_print_otp(const json_t *ans, const char *name, const char *when)
{
  const char *otp = ctl_jstr(ans, "one_time_password");

  if (otp)
    printf("One-time password (give it to %s; it must be changed at the %s login):\n%s\n", name,
           when, otp);
}

int ctl_cmd_user_add(const ctl_cmd *cmd, int argc, char **argv)
{
  user_opts o;
  const char *name = NULL;
  json_t *req = NULL, *ans = NULL;
  int rc;

  if ((rc = parse(cmd, argc, argv, &o, 1, &name)))
    return rc;
  if (!o.role)
    return ctl_missing_opt("--role");
  req = json_pack("{s:s,s:s}", "name", name, "role", o.role);
  if (req && o.cidx)
    json_object_set_new(req, "custodian_index", json_integer(o.cidx));
  if (req && o.service) {
    if (o.password_file) {
      rc = ctl_err(CTL_USAGE, "a service account has no password: --service takes no "
                              "--password-file");
      goto out;
    }
    json_object_set_new(req, "service", json_true());
  }
  if (req && o.person && json_object_set_new(req, "person", json_string(o.person))) {
    rc = ctl_err(CTL_USAGE, "--person is not valid UTF-8");
    goto out;
  }
  if (!req) {
    rc = ctl_err(CTL_USAGE, "the user name or role is not valid UTF-8");
    goto out;
  }
  if ((rc = user_password_member(req, o.password_file)) ||
      (rc = ctl_http_do(&o.t, "POST", "/v1/users", req, &ans)))
    goto out;
  printf("Created user %s (role %s", name, o.role);
  if (o.cidx)
    printf(", custodian index %u", o.cidx);
  if (o.service)
    printf(", service account: API tokens only");
  printf(").\n");
  user_print_otp(ans, name, "first");
out:
  json_decref(req);
  json_decref(ans);
  return rc;
}

int ctl_cmd_user_list(const ctl_cmd *cmd, int argc, char **argv)
{
  user_opts o;
  json_t *ans = NULL;
  int rc;

  if ((rc = parse(cmd, argc, argv, &o, 0, NULL)))
    return rc;
  if ((rc = ctl_list_fetch(&o.t, "/v1/users", 0, o.json, &ans)) || !ans)
    return rc;
  printf("%-24s %-10s %-5s %-8s %-20s %-8s %s\n", "NAME", "ROLE", "INDEX", "STATE", "CREATED",
         "KIND", "SCOPE / PERSON");
  const json_t *users = json_object_get(ans, "users");
  for (size_t i = 0; i < json_array_size(users); i++) {
    const json_t *u = json_array_get(users, i);
    const json_t *ci = json_object_get(u, "custodian_index");
    char idx[8] = "-";
    if (json_is_integer(ci))
      snprintf(idx, sizeof idx, "%d", (int)json_integer_value(ci));
    printf(
      "%-24s %-10s %-5s %-8s %-20s %-8s %s%s%s\n", ctl_jstr(u, "name"), ctl_jstr(u, "role"), idx,
      json_is_true(json_object_get(u, "disabled")) ? "disabled" : "active", ctl_jstr(u, "created"),
      json_is_true(json_object_get(u, "service")) ? "service"
      : json_is_true(json_object_get(u, "sso"))   ? "sso"
                                                  : "person",
      ctl_jstr(u, "scope") ?: "*", ctl_jstr(u, "person") ? "  " : "", ctl_jstr(u, "person") ?: "");
  }
  json_decref(ans);
  return CTL_OK;
}

/* disable, enable, set-role, set-person, set-email and reset-password: POST
 * to /v1/users/{name}/<what>, what being the sub-command after any "set-"
 * or "reset-". */
int ctl_cmd_user_change(const ctl_cmd *cmd, int argc, char **argv)
{
  const char *dash = strchr(cmd->sub, '-'), *what = dash ? dash + 1 : cmd->sub;
  user_opts o;
  const char *name = NULL;
  char path[300];
  json_t *req = NULL, *ans = NULL;
  int rc;

  if ((rc = parse(cmd, argc, argv, &o, 1, &name)))
    return rc;
  if (strcmp(what, "person") == 0 || strcmp(what, "email") == 0 || strcmp(what, "scope") == 0) {
    const char *v = what[0] == 'p'   ? o.person
                    : what[0] == 'e' ? o.email
                                     : o.scope,
               *opt = what[0] == 'p'   ? "--person"
                      : what[0] == 'e' ? "--email"
                                       : "--scope";
    if (!v)
      return ctl_missing_opt(opt);
    if (!(req = json_pack("{s:s}", what, v)))
      return ctl_err(CTL_USAGE, "%s is not valid UTF-8", opt);
  } else if (strcmp(what, "role") == 0) {
    if (!o.role)
      return ctl_missing_opt("--role");
    req = json_pack("{s:s}", "role", o.role);
    if (req && o.cidx)
      json_object_set_new(req, "custodian_index", json_integer(o.cidx));
    if (!req)
      return ctl_err(CTL_USAGE, "the role is not valid UTF-8");
  } else if (strcmp(what, "password") == 0) {
    if (!(req = json_object()))
      return CTL_FAIL;
    if ((rc = user_password_member(req, o.password_file)))
      goto out;
  }
  if ((rc = user_path(path, sizeof path, name, what)) ||
      (rc = ctl_http_do(&o.t, "POST", path, req, &ans)))
    goto out;
  if (strcmp(what, "password") == 0) {
    printf("Password of %s reset; %lld login session(s) revoked.\n", name,
           ctl_jint(ans, "sessions_revoked"));
    user_print_otp(ans, name, "next");
  } else if (o.person)
    printf("User %s is now person %s.\n", name, o.person);
  else if (o.email && o.email[0])
    printf("User %s is mailed at %s.\n", name, o.email);
  else if (o.email)
    printf("User %s has no email address now.\n", name);
  else if (o.scope)
    printf(o.scope[0] ? "User %s is limited to the device groups %s.\n"
                      : "User %s sees every device group now.%s\n",
           name, o.scope);
  else if (req)
    printf("User %s now has role %s (was %s).\n", name, o.role, ctl_jstr(ans, "previous_role"));
  else
    printf("User %s %s.\n", name, strcmp(what, "disable") == 0 ? "disabled" : "enabled");
out:
  json_decref(req);
  json_decref(ans);
  return rc;
}
