/*
 * escrowctl login / logout - get a bearer token from escrowd and keep it in
 * the stored login (ctl_config.h), or revoke it and forget it.
 *
 * The password is read from a file or from the terminal with echo off, sent
 * once over the (verified) connection, and wiped; it is never printed, and
 * neither is the token.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl_cmd.h"
#include "ctl_config.h"
#include "ctl_http.h"
#include "ke_util.h"

const char ctl_usage_login[] =
  "usage: escrowctl login --server URL --user NAME [--password-file F]\n"
  "                       [--new-password-file F] [--cacert PEM]\n"
  "                       [--pin-sha256 B64]\n"
  "       escrowctl login --server URL --sso [--cacert PEM] [--pin-sha256 B64]\n"
  "\n"
  "Logs in to escrowd and stores the session token, its expiry, the server and\n"
  "the pinned CA in $XDG_CONFIG_HOME/escrowctl/login.json (default\n"
  "~/.config/escrowctl/; directory 0700, file 0600).  Later online commands use\n"
  "it.  A one-time password (from `user add` or `escrowd bootstrap-admin`) must\n"
  "be replaced: login then asks for a new one (or reads --new-password-file).\n"
  "\n"
  "With --sso, logs in through the organisation's identity provider (OAuth 2.0\n"
  "device authorization): it prints a web address and a code; open the address\n"
  "in any browser, log in there (with your second factor), enter the code, and\n"
  "login finishes here by itself.  The account and its role come from the\n"
  "identity provider; the session lasts no longer than its login does.\n"
  "\n"
  "  --server URL            https://host[:port] (http:// only for loopback)\n"
  "  --user NAME             the account\n"
  "  --sso                   single sign-on instead of a password (no --user)\n"
  "  --password-file F       read the password from F (first line); default: ask\n"
  "  --new-password-file F   the new password, when the server requires a change\n"
  "  --cacert PEM            trust only this CA for the server (pinned for later)\n"
  "  --pin-sha256 B64[;B64]  also require one of these server public keys (SHA-256\n"
  "                          of the SPKI, base64; pinned for later)\n"
  "\n"
  "Exit status: 0 logged in, 1 refused (wrong password, rate limited), 2 usage,\n"
  "4 server unreachable or TLS failure, 5 not allowed.\n";

const char ctl_usage_logout[] =
  "usage: escrowctl logout\n"
  "\n"
  "Revokes the stored session token on the server and deletes the stored login.\n";

typedef struct login_opts {
  ctl_http_target t;
  const char *user, *password_file, *new_password_file;
  int sso;
} login_opts;

static int read_password(ke_buf *b, const char *file, const char *prompt, int is_new)
{
  if (!file && !ctl_interactive())
    return ctl_err(CTL_USAGE, "no password: stdin is not a terminal, use --%spassword-file",
                   is_new ? "new-" : "");
  return ctl_passphrase(b, file, prompt, is_new);
}

static int save_login(const login_opts *o, ctl_http *h, const json_t *ans)
{
  const char *token = ctl_jstr(ans, "token");
  const char *role = ctl_jstr(ans, "role");
  const char *expires = ctl_jstr(ans, "expires");
  json_int_t in = ctl_jint(ans, "expires_in");
  char cacert[PATH_MAX], dir[PATH_MAX];
  ctl_login l = {0};
  int rc;

  if (!token || !role || !expires || in <= 0)
    return ctl_err(CTL_NET, "%s answered the login without a token", ctl_http_server(h));
  /* The CA is pinned by absolute path, so later commands find it from any
   * directory. */
  if (ctl_http_cacert(h) && !realpath(ctl_http_cacert(h), cacert))
    return ctl_err(CTL_FAIL, "cannot resolve %s", ctl_http_cacert(h));
  l.server = (char *)ctl_http_server(h);
  l.user = (char *)o->user;
  l.token = (char *)token;
  l.expires = (int64_t)time(NULL) + (int64_t)in;
  l.cacert = ctl_http_cacert(h) ? cacert : NULL;
  l.pin = (char *)ctl_http_pin(h);
  if ((rc = ctl_login_save(&l)) || (rc = ctl_config_dir(dir, sizeof dir)))
    return rc;
  printf("Logged in to %s as %s (role %s) until %s.\nToken stored in %s/login.json.\n", l.server,
         o->user, role, expires, dir);
  return CTL_OK;
}

/* --sso: the device authorization grant, through escrowd
 * (docs/api.yaml, /v1/login/oidc/device).  Polling at the IdP's interval
 * is the protocol's (RFC 8628 3.5), not a guess. */
static int sso_poll(ctl_http *h, login_opts *o, const char *handle, json_int_t interval,
                    time_t until)
{
  json_t *body = json_pack("{s:s}", "handle", handle), *ans = NULL;
  long status = 0;
  int rc = CTL_FAIL;

  while (body && time(NULL) < until) {
    sleep((unsigned)interval);
    json_decref(ans);
    ans = NULL;
    if ((rc = ctl_http_call_status(h, "POST", "/v1/login/oidc/device/poll", body, &status, &ans)))
      break;
    if (status == 202) {
      json_int_t next = ctl_jint(ans, "interval");
      interval = next >= 1 && next <= 60 ? next : interval;
      continue;
    }
    if (status == 200 && (o->user = ctl_jstr(ans, "user"))) {
      rc = save_login(o, h, ans);
      break;
    }
    const json_t *e = json_object_get(ans, "error");
    rc = status == 401 || status == 403
           ? ctl_err(CTL_FAIL, "%s (HTTP %ld %s)", ctl_jstr(e, "message") ?: "refused", status,
                     ctl_jstr(e, "code") ?: "?")
           : ctl_http_report(h, status, ans);
    break;
  }
  if (body && time(NULL) >= until && rc == CTL_FAIL && !ans)
    rc = ctl_err(CTL_FAIL, "the login was not finished in time: start again");
  json_decref(ans);
  json_decref(body);
  return rc;
}

static int login_sso(login_opts *o)
{
  ctl_http *h = NULL;
  json_t *ans = NULL;
  long status = 0;
  int rc;

  if (o->user || o->password_file || o->new_password_file)
    return ctl_err(CTL_USAGE, "--sso takes no --user or password: the identity provider says who");
  if ((rc = CTL_REQUIRED({"--server", o->t.server})) ||
      (rc = ctl_http_open_explicit(&h, o->t.server, o->t.cacert, NULL)) ||
      (rc = ctl_http_set_pin(h, o->t.pin)) ||
      (rc = ctl_http_call_status(h, "POST", "/v1/login/oidc/device", NULL, &status, &ans)))
    goto out;
  if (status != 200) {
    rc = ctl_http_report(h, status, ans);
    goto out;
  }
  const char *handle = ctl_jstr(ans, "handle"), *code = ctl_jstr(ans, "user_code");
  const char *uri = ctl_jstr(ans, "verification_uri");
  const char *full = ctl_jstr(ans, "verification_uri_complete");
  json_int_t interval = ctl_jint(ans, "interval"), life = ctl_jint(ans, "expires_in");
  if (!handle || !code || !uri || interval < 1 || interval > 60 || life < 1) {
    rc =
      ctl_err(CTL_NET, "%s answered the single sign-on request without a code", ctl_http_server(h));
    goto out;
  }
  /* On stderr: stdout stays for the result.  The code is no secret: it is
   * worthless without the person's own login at the IdP. */
  fprintf(stderr,
          "To log in, open %s in a browser and enter the code\n\n    %s\n\n%s%s%s"
          "Waiting for the login (%lld minutes)...\n",
          uri, code, full ? "(or open " : "", full ? full : "", full ? ")\n" : "",
          (long long)(life + 59) / 60);
  rc = sso_poll(h, o, handle, interval, time(NULL) + (time_t)life);
out:
  json_decref(ans);
  ctl_http_free(h);
  return rc;
}

/* One POST /v1/login with the password (and a new one, if chosen). */
static int login_post(ctl_http *h, const login_opts *o, const ke_buf *pw, const ke_buf *npw,
                      long *status, json_t **ans)
{
  json_t *req = json_pack("{s:s,s:s%}", "user", o->user, "password", pw->p, pw->len);
  if (req && npw->p)
    json_object_set_new(req, "new_password", json_stringn(npw->p, npw->len));
  if (!req)
    return ctl_err(CTL_FAIL, "the password is not valid UTF-8");
  int rc = ctl_http_call_status(h, "POST", "/v1/login", req, status, ans);
  json_decref(req);
  return rc;
}

int ctl_cmd_login(const ctl_cmd *cmd, int argc, char **argv)
{
  static const struct option opts[] = {
    CTL_HTTP_OPTIONS,
    {"user", required_argument, 0, CTL_OPT_ARG(login_opts, user)},
    {"password-file", required_argument, 0, CTL_OPT_ARG(login_opts, password_file)},
    {"new-password-file", required_argument, 0, CTL_OPT_ARG(login_opts, new_password_file)},
    {"sso", no_argument, 0, CTL_OPT_SET(login_opts, sso)},
    CTL_OPT_END};
  login_opts o = {0};
  ke_buf pw = {0}, npw = {0};
  ctl_http *h = NULL;
  json_t *ans = NULL;
  long status = 0;
  char prompt[160];
  int rc;

  if ((rc = ctl_getopt(cmd, argc, argv, opts, ctl_http_on_opt, &o, NULL)))
    return rc;
  if (o.sso)
    return login_sso(&o);
  if ((rc = CTL_REQUIRED({"--server", o.t.server}, {"--user", o.user})))
    return rc;
  if ((rc = ctl_http_open_explicit(&h, o.t.server, o.t.cacert, NULL)))
    return rc;
  if ((rc = ctl_http_set_pin(h, o.t.pin)))
    goto out;
  snprintf(prompt, sizeof prompt, "Password for %.60s at %.80s", o.user, ctl_http_server(h));
  if ((rc = read_password(&pw, o.password_file, prompt, 0)))
    goto out;
  if (o.new_password_file && (rc = read_password(&npw, o.new_password_file, "New password", 1)))
    goto out;
  for (int attempt = 0; attempt < 2; attempt++) {
    const json_t *e;
    const char *code;
    if ((rc = login_post(h, &o, &pw, &npw, &status, &ans)))
      goto out;
    if (status >= 200 && status < 300) {
      rc = save_login(&o, h, ans);
      goto out;
    }
    e = json_object_get(ans, "error");
    code = ctl_jstr(e, "code");
    if (status == 403 && !npw.p && code && strcmp(code, "password_change_required") == 0) {
      ctl_notef("This password was for one use only: choose a new one (at least 12 "
                "characters).");
      json_decref(ans);
      ans = NULL;
      if ((rc = read_password(&npw, NULL, "New password", 1)))
        goto out;
      continue;
    }
    if ((status == 401 || status == 429) && code) {
      /* A refused login is a wrong password or a lockout: exit 1, and no
       * "log in again" hint. */
      const char *msg = ctl_jstr(e, "message");
      rc = ctl_err(CTL_FAIL, "%s (HTTP %ld %s)", msg ? msg : "refused", status, code);
    } else {
      rc = ctl_http_report(h, status, ans);
    }
    goto out;
  }
  rc = CTL_FAIL;
out:
  json_decref(ans);
  ke_buf_free(&pw);
  ke_buf_free(&npw);
  ctl_http_free(h);
  return rc;
}

int ctl_cmd_logout(const ctl_cmd *cmd, int argc, char **argv)
{
  static const struct option opts[] = {CTL_OPT_END};
  char dir[PATH_MAX], path[PATH_MAX + 16];
  ctl_http *h = NULL;
  ctl_login l;
  int found = 0, rc;

  if ((rc = ctl_getopt(cmd, argc, argv, opts, NULL, NULL, NULL)))
    return rc;
  if ((rc = ctl_login_load(&l, &found)))
    return rc;
  if (!found) {
    ctl_notef("Not logged in.");
    return CTL_OK;
  }
  /* Revoke first; the stored login goes even if the server cannot be
   * reached (the token then simply expires). */
  if (ctl_http_open_explicit(&h, l.server, l.cacert, l.token) == CTL_OK) {
    if (ctl_http_set_pin(h, l.pin) == CTL_OK)
      rc = ctl_http_call(h, "POST", "/v1/logout", NULL, NULL);
    ctl_http_free(h);
  }
  if ((rc = ctl_config_dir(dir, sizeof dir)) == CTL_OK) {
    snprintf(path, sizeof path, "%s/login.json", dir);
    if (unlink(path) != 0) {
      rc = ctl_err(CTL_FAIL, "cannot delete %s", path);
    } else {
      printf("Logged out of %s.\n", l.server);
    }
  }
  ctl_login_free(&l);
  return rc;
}
