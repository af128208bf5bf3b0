/*
 * ctl_config.c - the stored login of escrowctl (see ctl_config.h).
 */
#include "ctl_config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "ctl_util.h"
#include "ke_json.h"
#include "ke_json_spec.h"
#include "ke_util.h"

#define CTL_LOGIN_FILE "login.json"
#define CTL_LOGIN_MAX (64 * 1024)

int ctl_config_dir(char *out, size_t outlen)
{
  const char *xdg = getenv("XDG_CONFIG_HOME");
  const char *home = getenv("HOME");
  int n;

  /* XDG base directory spec: a relative $XDG_CONFIG_HOME is invalid and
   * must be ignored. */
  if (xdg && xdg[0] == '/')
    n = snprintf(out, outlen, "%s/escrowctl", xdg);
  else if (home && home[0] == '/')
    n = snprintf(out, outlen, "%s/.config/escrowctl", home);
  else {
    return ctl_err(CTL_FAIL, "cannot find the configuration directory: set HOME or "
                             "XDG_CONFIG_HOME");
  }
  if (n < 0 || (size_t)n >= outlen)
    return ctl_err(CTL_FAIL, "configuration directory path too long");
  return CTL_OK;
}

void ctl_login_free(ctl_login *l)
{
  if (!l)
    return;
  if (l->token) {
    ke_wipe(l->token, strlen(l->token));
    free(l->token);
  }
  free(l->server);
  free(l->user);
  free(l->cacert);
  free(l->pin);
  memset(l, 0, sizeof *l);
}

/* The login file; members an older or newer escrowctl wrote are ignored. */
typedef struct login_file {
  const char *server, *token, *user, *cacert, *pin_sha256;
  int64_t expires;
} login_file;
static const struct ke_jfield login_fields[] = {
  KE_JF_STR(login_file, server, 1, INT64_MAX, NULL, NULL),
  KE_JF_STR(login_file, token, 1, INT64_MAX, NULL, NULL),
  KE_JF_STR_OPT(login_file, user, 1, INT64_MAX, NULL, NULL),
  KE_JF_STR_OPT(login_file, cacert, 1, INT64_MAX, NULL, NULL),
  KE_JF_STR_OPT(login_file, pin_sha256, 1, INT64_MAX, NULL, NULL),
  KE_JF_INT_OPT(login_file, expires, 0, INT64_MAX, 0, NULL),
  KE_JF_END,
};
static const struct ke_jspec login_spec = KE_JSPEC(login_file, login_fields, KE_JS_OPEN);

static int dup_opt(char **dst, const char *s) { return s && !(*dst = strdup(s)); }

int ctl_login_load(ctl_login *l, int *found)
{
  char dir[PATH_MAX], path[PATH_MAX + 32], err[160];
  struct stat st;
  ke_buf b = {0};
  json_t *o = NULL;
  int rc;

  memset(l, 0, sizeof *l);
  *found = 0;
  if ((rc = ctl_config_dir(dir, sizeof dir)))
    return rc;
  snprintf(path, sizeof path, "%s/%s", dir, CTL_LOGIN_FILE);
  ke_priv priv = ke_check_private(path, 0, 0, &st);
  if (priv == KE_PRIV_STAT) {
    if (errno == ENOENT)
      return CTL_OK;
    return ctl_err(CTL_FAIL, "cannot read %s: %s", path, strerror(errno));
  }
  /* Like ssh with its keys: a credential that others could read is
   * treated as leaked, not silently used. */
  if (priv != KE_PRIV_OK)
    return ctl_err(CTL_FAIL,
                   "%s must be a regular file of yours with mode 0600; refusing to use "
                   "it (fix it or log in again)",
                   path);
  if ((rc = ctl_read(&b, path, CTL_LOGIN_MAX, 1, "the stored login")))
    return rc;
  if (ke_json_parse_object(&o, b.p, b.len, err, sizeof err) != KE_JSON_OK) {
    ctl_errf("%s is not valid JSON (%s); log in again", path, err);
    ke_buf_free(&b);
    return CTL_FAIL;
  }
  ke_buf_free(&b);
  login_file f;
  struct ke_jerr je;
  if (ke_json_spec_parse(o, &login_spec, &f, &je) != 0) {
    if (je.field->type == KE_JT_INT)
      ctl_errf("%s: \"expires\" is not a number (log in again)", path);
    else
      ctl_errf("%s: \"%s\" is missing or not a string (log in again)", path, je.field->name);
    rc = CTL_FAIL;
  } else if (dup_opt(&l->server, f.server) || dup_opt(&l->token, f.token) ||
             dup_opt(&l->user, f.user) || dup_opt(&l->cacert, f.cacert) ||
             dup_opt(&l->pin, f.pin_sha256)) {
    rc = ctl_oom();
  }
  l->expires = f.expires;
  json_decref(o);
  if (rc) {
    ctl_login_free(l);
    return rc;
  }
  *found = 1;
  return CTL_OK;
}

static int mkdir_p(const char *dir)
{
  char tmp[PATH_MAX];
  size_t n = strlen(dir);

  if (n >= sizeof tmp)
    return -1;
  memcpy(tmp, dir, n + 1);
  for (char *p = tmp + 1; *p; p++) {
    if (*p != '/')
      continue;
    *p = '\0';
    if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
      return -1;
    *p = '/';
  }
  if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
    return -1;
  return 0;
}

int ctl_login_save(const ctl_login *l)
{
  char dir[PATH_MAX], path[PATH_MAX + 32];
  struct stat st;
  json_t *o;
  char *text = NULL;
  int rc;

  if ((rc = ctl_config_dir(dir, sizeof dir)))
    return rc;
  if (mkdir_p(dir) != 0 || stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
    return ctl_err(CTL_FAIL, "cannot create %s: %s", dir, strerror(errno));
  /* The directory is ours: keep it private even if it existed already with
   * a wider mode (a umask of 022 at its creation, say). */
  if ((st.st_mode & 077) && chmod(dir, 0700) != 0)
    return ctl_err(CTL_FAIL, "cannot make %s private: %s", dir, strerror(errno));
  o = json_object();
  if (!o || json_object_set_new(o, "server", json_string(l->server)) ||
      json_object_set_new(o, "token", json_string(l->token)) ||
      json_object_set_new(o, "expires", json_integer(l->expires)) ||
      (l->user && json_object_set_new(o, "user", json_string(l->user))) ||
      (l->cacert && json_object_set_new(o, "cacert", json_string(l->cacert))) ||
      (l->pin && json_object_set_new(o, "pin_sha256", json_string(l->pin))) ||
      !(text = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS))) {
    json_decref(o);
    return ctl_oom();
  }
  json_decref(o);
  snprintf(path, sizeof path, "%s/%s", dir, CTL_LOGIN_FILE);
  /* Rename replaces the old login atomically; the file is 0600 from the
   * start. */
  ke_buf buf = {.secure = 1}; /* the token */
  ke_io_err e = {.err = ENOMEM};
  int ok = ke_buf_append(&buf, text, strlen(text)) == KE_OK &&
           ke_buf_append(&buf, "\n", 1) == KE_OK &&
           ke_write_file(path, buf.p, buf.len, 0600, KE_WRITE_REPLACE, &e) == KE_OK;
  ke_buf_free(&buf);
  ke_wipe(text, strlen(text));
  free(text);
  if (!ok)
    return ctl_err(CTL_FAIL, "cannot write %s: %s", path, strerror(e.err));
  return CTL_OK;
}
