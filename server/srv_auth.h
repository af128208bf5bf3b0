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
  SRV_PRINCIPAL_USER,     /* a human, by login session or API token */
  SRV_PRINCIPAL_DEVICE,   /* an enrolled agent (signed requests) */
};

struct srv_principal {
  enum srv_principal_kind kind;
  unsigned role;          /* exactly one SRV_ROLE_* bit; 0 when anonymous */
  char id[64];            /* user id / device id, "" when anonymous */
  char name[128];         /* user name / hostname, for logs and audit */
  char actor[200];        /* "user:alice", "device:<id>", "anonymous" */
};

/* The authenticated caller of the current request (never NULL). */
const struct srv_principal *srv_request_principal(const struct srv_request *req);

#endif
