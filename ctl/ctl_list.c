/*
 * ctl_list.c - shared plumbing of the token-like admin commands (see
 * ctl_list.h).
 */
#include "ctl_list.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ctl_list_duration(long long *out, const char *s, const char *units, long long min,
                      long long max)
{
  char *end;
  long long v, mult = 1;

  if (!isdigit((unsigned char)s[0]))
    return -1;
  v = strtoll(s, &end, 10);
  if (*end && end[1] == '\0') {
    if (!strchr(units, *end))
      return -1;
    switch (*end) {
      case 's': mult = 1; break;
      case 'm': mult = 60; break;
      case 'h': mult = 3600; break;
      case 'd': mult = 86400; break;
      case 'w': mult = 7 * 86400; break;
      default: return -1;
    }
  } else if (*end) {
    return -1;
  }
  /* v <= max / mult first: v * mult must not overflow. */
  if (v < 1 || v > max / mult || v * mult < min)
    return -1;
  *out = v * mult;
  return 0;
}

int ctl_list_create(const ctl_http_target *t, const char *path, const json_t *req, json_t **ans,
                    const char **token)
{
  ctl_http *h = NULL;
  int rc;

  *ans = NULL;
  *token = NULL;
  if ((rc = ctl_http_open(&h, t, 1)) || (rc = ctl_http_call(h, "POST", path, req, ans)))
    goto out;
  *token = json_string_value(json_object_get(*ans, "token"));
  if (!*token)
    rc = ctl_err(CTL_NET, "%s answered without a token", ctl_http_server(h));
out:
  if (rc) {
    json_decref(*ans);
    *ans = NULL;
  }
  ctl_http_free(h);
  return rc;
}

int ctl_list_fetch(const ctl_http_target *t, const char *path, int all, int json, json_t **ans)
{
  char full[128];
  int rc;

  *ans = NULL;
  if ((size_t)snprintf(full, sizeof full, "%s%s", path, all ? "?all=true" : "") >= sizeof full)
    return ctl_err(CTL_FAIL, "internal error: collection path too long");
  if (!(rc = ctl_http_do(t, "GET", full, NULL, ans)) && json) {
    ctl_print_json(*ans);
    json_decref(*ans);
    *ans = NULL;
  }
  return rc;
}

int ctl_list_revoke(const ctl_http_target *t, const ctl_list_kind *k, int argc, char **argv,
                    int first)
{
  json_t *ans = NULL;
  char path[128];
  const char *id;
  int rc;

  if (argc - first != 1)
    return ctl_err(CTL_USAGE, "expects one %s ID (see --help)", k->noun);
  id = argv[first];
  if (!id[0] || strlen(id) > 18 || strspn(id, "0123456789") != strlen(id))
    return ctl_err(CTL_USAGE, "%s %s ID is a number (see %s)", k->article, k->noun, k->list_cmd);
  if ((size_t)snprintf(path, sizeof path, "%s/%s", k->path, id) >= sizeof path)
    return ctl_err(CTL_FAIL, "internal error: collection path too long");
  if (!(rc = ctl_http_do(t, "DELETE", path, NULL, &ans)))
    printf("%c%s %s %s.\n", toupper((unsigned char)k->noun[0]), k->noun + 1, id,
           json_is_true(json_object_get(ans, "already_revoked")) ? "was already revoked"
                                                                 : "revoked");
  json_decref(ans);
  return rc;
}
