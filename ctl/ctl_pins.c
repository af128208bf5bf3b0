/*
 * ctl_pins.c - pinned client keys (see ctl_pins.h).
 */
#include "ctl_pins.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "ctl_audit.h"
#include "ctl_util.h"

#define PIN_FILE "pinned-keys.json"
#define PIN_MAX (1024 * 1024)

int ctl_pin_fpr_valid(const char *s)
{
  size_t i;

  for (i = 0; s[i]; i++)
    if (!isxdigit((unsigned char)s[i]))
      return 0;
  return i == CTL_PIN_FPR_LEN;
}

/* The pins as JSON: {"version":1,"keys":{...}}; an absent file is empty. */
static int pin_load(json_t **out)
{
  char path[4200];
  ke_buf b = {0};
  json_error_t je;
  json_t *root, *keys, *v;
  const char *user;
  int rc;

  *out = NULL;
  if ((rc = ctl_audit_default_path(path, sizeof path, PIN_FILE)))
    return rc;
  if (!ctl_exists(path)) {
    *out = json_pack("{s:i,s:{}}", "version", 1, "keys");
    return *out ? CTL_OK : CTL_FAIL;
  }
  if ((rc = ctl_read(&b, path, PIN_MAX, 0, "pinned keys")))
    return rc;
  root = json_loadb(b.p, b.len, JSON_REJECT_DUPLICATES, &je);
  ke_buf_free(&b);
  keys = json_object_get(root, "keys");
  if (!root || ctl_jint(root, "version") != 1 || !json_is_object(keys))
    goto bad;
  json_object_foreach (keys, user, v) {
    const char *f = ctl_jstr(v, "fingerprint");
    if (!f || !ctl_pin_fpr_valid(f))
      goto bad;
  }
  *out = root;
  return CTL_OK;
bad:
  json_decref(root);
  return ctl_err(CTL_FAIL,
                 "%s is not a valid pinned-keys file: refusing to trust any key until it "
                 "is repaired or removed",
                 path);
}

/* The pins, read under a shared lock. */
static int pin_read(json_t **root)
{
  int fd = ctl_audit_lock(PIN_FILE ".lock", LOCK_SH), rc;

  if (fd < 0)
    return CTL_FAIL;
  rc = pin_load(root);
  close(fd);
  return rc;
}

int ctl_pin_lookup(const char *user, const char *fpr_hex, ctl_pin_state *state, char *pinned,
                   char *since)
{
  json_t *root = NULL, *e;
  const char *f;
  int rc = pin_read(&root);

  if (rc)
    return rc;
  e = json_object_get(json_object_get(root, "keys"), user);
  f = ctl_jstr(e, "fingerprint");
  if (!f) {
    *state = CTL_PIN_UNKNOWN;
  } else {
    /* The fingerprint is public; case-insensitive hex, all 64 digits. */
    *state = strlen(fpr_hex) == CTL_PIN_FPR_LEN && strcasecmp(f, fpr_hex) == 0 ? CTL_PIN_MATCH
                                                                               : CTL_PIN_CHANGED;
    if (pinned)
      snprintf(pinned, CTL_PIN_FPR_LEN + 1, "%s", f);
    if (since)
      snprintf(since, 32, "%s", ctl_jstr(e, "pinned") ?: "?");
  }
  json_decref(root);
  return CTL_OK;
}

static int pin_save(json_t *root)
{
  char path[4200], *text;
  int rc;

  if ((rc = ctl_audit_default_path(path, sizeof path, PIN_FILE)))
    return rc;
  if (!(text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS)))
    return ctl_oom();
  rc = ctl_audit_replace(path, text, strlen(text));
  free(text);
  return rc;
}

int ctl_pin_store(const char *user, const char *fpr_hex)
{
  json_t *root = NULL, *e;
  char now[32], lower[CTL_PIN_FPR_LEN + 1];
  time_t t = time(NULL);
  struct tm tm;
  int fd, rc;

  if (!ctl_pin_fpr_valid(fpr_hex))
    return ctl_err(CTL_USAGE, "a key fingerprint is 64 hex digits");
  for (size_t i = 0; i <= CTL_PIN_FPR_LEN; i++)
    lower[i] = (char)tolower((unsigned char)fpr_hex[i]);
  strftime(now, sizeof now, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
  if ((fd = ctl_audit_lock(PIN_FILE ".lock", LOCK_EX)) < 0)
    return CTL_FAIL;
  if (!(rc = pin_load(&root))) {
    e = json_pack("{s:s,s:s}", "fingerprint", lower, "pinned", now);
    if (!e || json_object_set_new(json_object_get(root, "keys"), user, e) != 0) {
      rc = ctl_oom();
    } else {
      rc = pin_save(root);
    }
  }
  close(fd);
  json_decref(root);
  return rc;
}

int ctl_pin_remove(const char *user, int *removed)
{
  json_t *root = NULL;
  int fd, rc;

  *removed = 0;
  if ((fd = ctl_audit_lock(PIN_FILE ".lock", LOCK_EX)) < 0)
    return CTL_FAIL;
  if (!(rc = pin_load(&root)) && json_object_del(json_object_get(root, "keys"), user) == 0) {
    *removed = 1;
    rc = pin_save(root);
  }
  close(fd);
  json_decref(root);
  return rc;
}

int ctl_pin_print(FILE *f)
{
  json_t *root = NULL, *v;
  const char *user;
  int rc = pin_read(&root);

  if (rc)
    return rc;
  if (json_object_size(json_object_get(root, "keys")) == 0)
    fprintf(f, "no pinned keys\n");
  json_object_foreach (json_object_get(root, "keys"), user, v)
    fprintf(f, "%s  %s  pinned %s\n", user, ctl_jstr(v, "fingerprint"),
            ctl_jstr(v, "pinned") ?: "?");
  json_decref(root);
  return CTL_OK;
}
