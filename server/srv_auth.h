/*
 * srv_auth.h - who is asking.
 *
 * The dispatcher authenticates every request before its handler runs and
 * refuses it (401 without valid credentials, 403 with the wrong role)
 * according to the `roles` column of the route table: authorization lives
 * in that one place.  Handlers read the caller from srv_request_principal().
 */
#ifndef SRV_AUTH_H
#define SRV_AUTH_H

#include "srv_http.h"

enum srv_principal_kind {
  SRV_PRINCIPAL_ANONYMOUS = 0,
  SRV_PRINCIPAL_USER,   /* a human, by login session or API token */
  SRV_PRINCIPAL_DEVICE, /* an enrolled agent (signed requests) */
};

struct srv_principal {
  enum srv_principal_kind kind;
  unsigned role;   /* exactly one SRV_ROLE_* bit; 0 when anonymous */
  char id[64];     /* user id / device id, "" when anonymous */
  char name[128];  /* user name / hostname, for logs and audit */
  char actor[200]; /* "user:alice", "device:<id>", "anonymous" */
  /* Added with the accounts work (users only; 0 otherwise): */
  long long token_id;  /* the session/API token used (for logout) */
  int custodian_index; /* 1..255 for custodians, 0 otherwise */
  /* Scoped roles (schema 021): the device-group patterns as a PostgreSQL
   * array literal ("{emea-*,lab}"), "" for every group. */
  char scope[2200];
};

/* The caller's scope as the parameter of the statements that apply it
 * ($N::text[] passed to ke_group_in): NULL for every group. */
const char *srv_principal_scope(const struct srv_principal *p);
/* The same as people read it ("emea-*,lab"), into out; NULL for every
 * group. */
const char *srv_principal_scope_text(const struct srv_principal *p, char *out, size_t n);

/* The authenticated caller of the current request (never NULL). */
const struct srv_principal *srv_request_principal(const struct srv_request *req);

/* ---- used by srv_http and escrowd, implemented in srv_auth.c ----------- */

/* Read the auth settings of `cfg` (session lifetime, login rate limits,
 * scrypt cost).  Called once before serving; safe defaults without it. */
void srv_auth_init(const struct srv_config *cfg);

/* Run by the dispatcher for every matched route before its handler.  Fills
 * *p (anonymous for SRV_ROLE_PUBLIC routes, which need nothing).  Returns 1
 * when the handler may run; 0 when a response (401 unauthorized with
 * WWW-Authenticate: Bearer, 403 forbidden, 503) was queued, its result in
 * *ret. */
int srv_auth_authenticate(struct srv_request *req, struct srv_principal *p, enum MHD_Result *ret);

/* Refuse the matched route with 403 `message`, audited as auth.denied with
 * `details` (stolen) by `actor` (NULL: the request's principal).  Returns 0,
 * the reply in *ret, for `return srv_auth_deny(...)` in an authenticator. */
int srv_auth_deny(struct srv_request *req, json_t *details, const char *actor, const char *message,
                  enum MHD_Result *ret);

/* "admin", "helpdesk", ... for one SRV_ROLE_* bit; NULL for other values. */
const char *srv_auth_role_name(unsigned role_bit);
/* The SRV_ROLE_* bit of a role name, or 0. */
unsigned srv_auth_role_parse(const char *name);

#endif
