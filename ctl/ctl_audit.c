/*
 * ctl_audit.c - helpers of the audit commands (see ctl_audit.h).
 */
#include "ctl_audit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "ctl_config.h"
#include "ke_canon.h"

/* The server caps a page at 1000 entries. */
#define CTL_AUDIT_PAGE 1000

static int ctl_audit_bad_answer(const char *what)
{
  return ctl_err(CTL_NET, "the server's answer is malformed (%s)", what);
}

int ctl_audit_fetch(ctl_http *h, int64_t start, int64_t end, ctl_audit_leaf_fn fn, void *ctx,
                    int64_t *size)
{
  int64_t tree = -1;
  uint8_t *leaf = malloc(KE_CANON_MAX_LEN);
  int rc = CTL_OK;

  if (!leaf)
    return ctl_oom();
  for (;;) {
    char path[128];
    json_t *ans = NULL, *entries, *e;
    json_int_t page_end, ts;
    size_t i;

    if (tree >= 0 && (start >= end || start >= tree))
      break;
    if (end >= 0)
      snprintf(path, sizeof path, "/v1/audit/entries?start=%lld&end=%lld", (long long)start,
               (long long)(end - start > CTL_AUDIT_PAGE ? start + CTL_AUDIT_PAGE : end));
    else
      snprintf(path, sizeof path, "/v1/audit/entries?start=%lld", (long long)start);
    if ((rc = ctl_http_call(h, "GET", path, NULL, &ans)) != CTL_OK)
      break;
    entries = json_object_get(ans, "entries");
    page_end = ctl_jint(ans, "end");
    ts = ctl_jint(ans, "tree_size");
    if (!json_is_array(entries) || !json_is_integer(json_object_get(ans, "end")) ||
        !json_is_integer(json_object_get(ans, "tree_size")) || page_end < start || ts < 0 ||
        page_end > ts) {
      json_decref(ans);
      rc = ctl_audit_bad_answer("entries");
      break;
    }
    if (tree < 0) {
      tree = ts;
      if (end < 0 || end > tree)
        end = tree;
      if (size)
        *size = tree;
    }
    json_array_foreach (entries, i, e) {
      const char *b64 = ctl_jstr(e, "leaf");
      json_t *ji = json_object_get(e, "index");
      size_t len;

      if (!b64 || !json_is_integer(ji) ||
          ke_note_b64_decode(leaf, KE_CANON_MAX_LEN, &len, b64, strlen(b64)) != KE_OK) {
        rc = ctl_audit_bad_answer("an entry");
        break;
      }
      if (json_integer_value(ji) >= end)
        break;
      if ((rc = fn(ctx, json_integer_value(ji), leaf, len)) != CTL_OK)
        break;
    }
    json_decref(ans);
    if (rc != CTL_OK)
      break;
    /* An empty page before the end: the server has nothing there (rows
     * missing); let the caller see the gap by going on past it. */
    start = page_end > start ? page_end : start + CTL_AUDIT_PAGE;
  }
  free(leaf);
  return rc;
}

int ctl_audit_default_path(char *out, size_t outlen, const char *file)
{
  char dir[4096];
  int rc = ctl_config_dir(dir, sizeof dir);

  if (rc)
    return rc;
  if ((size_t)snprintf(out, outlen, "%s/%s", dir, file) >= outlen)
    return ctl_err(CTL_FAIL, "configuration path too long");
  return CTL_OK;
}

int ctl_audit_config_dir(void)
{
  char dir[4096];
  int rc = ctl_config_dir(dir, sizeof dir);

  if (rc)
    return rc;
  for (char *p = dir + 1;; p++) {
    char c = *p;
    if (c != '/' && c != '\0')
      continue;
    *p = '\0';
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
      return ctl_err(CTL_FAIL, "cannot create %s: %s", dir, strerror(errno));
    *p = c;
    if (c == '\0')
      break;
  }
  return CTL_OK;
}

int ctl_audit_lock(const char *file, int how)
{
  char path[4200];
  int fd;

  if (ctl_audit_config_dir() || ctl_audit_default_path(path, sizeof path, file))
    return -1;
  fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0 || flock(fd, how) != 0) {
    ctl_errf("cannot lock %s: %s", path, strerror(errno));
    if (fd >= 0)
      close(fd);
    return -1;
  }
  return fd;
}

int ctl_audit_log_key(ke_note_verifier *v, char **vkey_text, const char *arg, int *from_file)
{
  const char *env = getenv("ESCROWCTL_LOG_KEY");
  char path[4200];
  ke_buf b = {0};
  const char *src = arg ? "--log-key" : "ESCROWCTL_LOG_KEY";
  const char *text = arg ? arg : (env && *env ? env : NULL);
  int rc;

  *from_file = 0;
  *vkey_text = NULL;
  if (!text) {
    if ((rc = ctl_audit_default_path(path, sizeof path, "audit-log-key")))
      return rc;
    if (!ctl_exists(path))
      return ctl_err(CTL_USAGE,
                     "no pinned log key: pass --log-key VKEY (the verifier key, "
                     "obtained from a trusted channel; GET /v1/audit/key shows the server's), and "
                     "--save to pin it");
    if ((rc = ctl_read(&b, path, 1024, 0, "pinned log key")))
      return rc;
    while (b.len && (b.p[b.len - 1] == '\n' || b.p[b.len - 1] == '\r'))
      b.p[--b.len] = '\0';
    text = b.p;
    src = path;
    *from_file = 1;
  }
  if (ke_note_vkey_parse(v, text) != KE_OK) {
    ctl_errf("%s is not a valid verifier key (name+hexid+base64)", src);
    ke_buf_free(&b);
    return CTL_USAGE;
  }
  *vkey_text = strdup(text);
  ke_buf_free(&b);
  if (!*vkey_text)
    return ctl_oom();
  return CTL_OK;
}

int ctl_audit_replace(const char *path, const char *data, size_t len)
{
  ke_io_err e;
  if (ke_write_file(path, data, len, 0600, KE_WRITE_REPLACE, &e) == KE_OK)
    return CTL_OK;
  if (e.step == KE_IO_CREATE)
    ctl_errf("cannot create a file next to %s: %s", path, strerror(e.err));
  else if (e.step == KE_IO_WRITE)
    ctl_errf("cannot write %s: %s", e.where, strerror(e.err));
  else if (e.step == KE_IO_PUBLISH)
    ctl_errf("cannot replace %s: %s", path, strerror(e.err));
  else
    return ctl_write_error(&e, path);
  return CTL_FAIL;
}
