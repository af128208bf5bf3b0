/*
 * ctl_list.h - the plumbing that the admin commands over a server-side
 * collection of issued secrets (`token`, `enroll-token`) share: durations
 * on the command line, the one-time display of a created secret, listing
 * with --all/--json, and revocation by numeric ID.
 */
#ifndef CTL_LIST_H
#define CTL_LIST_H

#include <jansson.h>

#include "ctl_http.h"

/* A duration: seconds, or a number with one unit letter out of `units`
 * (any of "smhdw": seconds, minutes, hours, days, weeks), in [min, max]
 * seconds.  0, or -1 (nothing printed: the caller words the message). */
int ctl_list_duration(long long *out, const char *s, const char *units, long long min,
                      long long max);

/* POST req to path and return the answer (*ans, owned by the caller) and
 * its "token" member (borrowed from *ans).  An answer without a token is
 * CTL_NET (printed). */
int ctl_list_create(const ctl_http_target *t, const char *path, const json_t *req, json_t **ans,
                    const char **token);

/* GET path (with ?all=true when all).  With json the answer is printed as
 * the server sent it (indented) and *ans is NULL; otherwise *ans is the
 * answer for the caller's table. */
int ctl_list_fetch(const ctl_http_target *t, const char *path, int all, int json, json_t **ans);

/* What can be revoked by ID, and how it is named in messages. */
typedef struct ctl_list_kind {
  const char *path;     /* collection, "/v1/tokens" */
  const char *noun;     /* "token", "enrolment token" */
  const char *article;  /* "a", "an" */
  const char *list_cmd; /* "escrowctl token list" */
} ctl_list_kind;

/* The revoke command after its options: exactly one numeric ID among
 * argv[first..argc), DELETE path/ID, and "<Noun> ID revoked." (or "was
 * already revoked"). */
int ctl_list_revoke(const ctl_http_target *t, const ctl_list_kind *k, int argc, char **argv,
                    int first);

#endif
