/*
 * srv_auth.c - authentication and authorization of every request, in one
 * place: the dispatcher (srv_http.c) calls srv_auth_authenticate() with the
 * route the request matched, before the body is parsed or the handler runs.
 *
 *   SRV_ROLE_PUBLIC route      -> anonymous, nothing checked
 *   no / malformed / unknown / expired / revoked token, disabled user
 *                              -> 401 unauthorized, WWW-Authenticate: Bearer
 *   valid token, role not in the route's mask
 *                              -> 403 forbidden (audited)
 *
 * 401s are logged but not audited: anyone can send them at any rate, and the
 * audit log must not be something an anonymous client can flood.  A 403
 * comes from an authenticated user, so it is audited.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ke_log.h"
#include "ke_util.h"
#include "srv_account.h"
#include "srv_audit.h"
#include "srv_auth.h"
#include "srv_db.h"
#include "srv_device.h"
#include "srv_ep.h"
#include "srv_rows.h"

static const struct {
  unsigned bit;
  const char *name;
} srv_role_names[] = {
  {SRV_ROLE_AGENT, "agent"},         {SRV_ROLE_ADMIN, "admin"},     {SRV_ROLE_HELPDESK, "helpdesk"},
  {SRV_ROLE_CUSTODIAN, "custodian"}, {SRV_ROLE_AUDITOR, "auditor"},
};
#define SRV_NROLES (sizeof srv_role_names / sizeof srv_role_names[0])

const char *srv_auth_role_name(unsigned role_bit)
{
  for (size_t i = 0; i < SRV_NROLES; i++)
    if (srv_role_names[i].bit == role_bit)
      return srv_role_names[i].name;
  return NULL;
}

unsigned srv_auth_role_parse(const char *name)
{
  for (size_t i = 0; i < SRV_NROLES; i++)
    if (strcmp(srv_role_names[i].name, name) == 0)
      return srv_role_names[i].bit;
  return 0;
}

void srv_auth_init(const struct srv_config *cfg)
{
  srv_auth_cfg.session_lifetime = cfg->session_lifetime;
  srv_auth_cfg.api_token_max_lifetime = cfg->api_token_max_lifetime;
  srv_auth_cfg.max_failures = cfg->login_max_failures;
  srv_auth_cfg.max_address_failures = cfg->login_max_address_failures;
  srv_auth_cfg.failure_window = cfg->login_failure_window;
  srv_auth_cfg.lockout = cfg->login_lockout;
  srv_auth_cfg.scrypt_log2n = cfg->password_scrypt_log2n;
  srv_auth_cfg.max_delay = cfg->login_max_delay;
  srv_auth_cfg.account_max_failures = cfg->login_account_max_failures;
  srv_auth_cfg.account_delay = cfg->login_account_delay;
  srv_auth_cfg.known_source_lifetime = cfg->login_known_source_lifetime;
}

/* The token and its user (AUTH_LOOKUP). */
struct srv_auth_row {
  const char *token_id, *user_id, *name, *role, *why, *scope;
  uint8_t token_hash[32];
  int64_t custodian_index;
  int valid;
};
static const struct srv_col srv_auth_row_cols[] = {
  SRV_COL_TEXT(struct srv_auth_row, token_id),
  SRV_COL_BYTEA(struct srv_auth_row, token_hash),
  SRV_COL_TEXT(struct srv_auth_row, user_id),
  SRV_COL_TEXT(struct srv_auth_row, name),
  SRV_COL_TEXT(struct srv_auth_row, role),
  SRV_COL_INT64(struct srv_auth_row, custodian_index),
  SRV_COL_TEXT_NULL(struct srv_auth_row, scope),
  SRV_COL_BOOL(struct srv_auth_row, valid),
  SRV_COL_TEXT(struct srv_auth_row, why),
  SRV_COL_END};

struct srv_auth_lookup {
  char hash_param[2 * 32 + 3];
  const uint8_t *hash;
  struct srv_principal p;
  int found, valid;
  char why[16];
};

static enum srv_db_status srv_auth_lookup_txn(struct srv_db *db, void *cls)
{
  struct srv_auth_lookup *l = cls;
  const char *params[1] = {l->hash_param};
  enum srv_db_status st;
  PGresult *r;
  struct srv_auth_row t;
  unsigned role;

  l->found = l->valid = 0;
  r = srv_db_exec(db, SRV_STMT_AUTH_LOOKUP, params, &st);
  if (!r)
    return st;
  /* The index already matched on the hash; comparing again in constant
   * time costs nothing and does not rest on how the index compares. */
  if (PQntuples(r) != 1 || srv_row_read(r, 0, srv_auth_row_cols, &t) != 0 ||
      !ke_ct_eq(t.token_hash, l->hash, sizeof t.token_hash) ||
      (role = srv_auth_role_parse(t.role)) == 0 || role == SRV_ROLE_AGENT) {
    PQclear(r);
    return SRV_DB_OK;
  }
  l->found = 1;
  l->valid = t.valid;
  snprintf(l->why, sizeof l->why, "%s", t.why);
  l->p.kind = SRV_PRINCIPAL_USER;
  l->p.role = role;
  l->p.token_id = strtoll(t.token_id, NULL, 10);
  l->p.custodian_index = (int)t.custodian_index;
  snprintf(l->p.scope, sizeof l->p.scope, "%s", t.scope ? t.scope : "");
  snprintf(l->p.id, sizeof l->p.id, "%s", t.user_id);
  snprintf(l->p.name, sizeof l->p.name, "%s", t.name);
  snprintf(l->p.actor, sizeof l->p.actor, "user:%s", l->p.name);
  PQclear(r);
  return SRV_DB_OK;
}

const char *srv_principal_scope(const struct srv_principal *p)
{
  return p->scope[0] ? p->scope : NULL;
}

const char *srv_principal_scope_text(const struct srv_principal *p, char *out, size_t n)
{
  size_t len = strlen(p->scope);

  /* The patterns are [A-Za-z0-9._*-] (schema 021): the literal has no
   * quotes, only its braces. */
  if (len < 2)
    return NULL;
  snprintf(out, n, "%.*s", (int)(len - 2), p->scope + 1);
  return out;
}

/* Refuse the request (*ret) and return 0. */
static int srv_auth_401(struct srv_request *req, enum MHD_Result *ret, const char *why,
                        const char *message)
{
  /* RFC 6750: invalid_token tells a client that logging in again helps. */
  srv_reply_header(req, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                   strcmp(why, "missing") == 0 ? "Bearer realm=\"keyescrow\""
                                               : "Bearer realm=\"keyescrow\", "
                                                 "error=\"invalid_token\"");
  ke_log(KE_LOG_INFO, "request refused: not authenticated",
         json_pack("{s:s,s:s,s:s}", "request_id", srv_request_id(req), "reason", why, "remote",
                   srv_request_remote(req)));
  *ret = srv_reply_error(req, SRV_ERR_UNAUTHORIZED, message);
  return 0;
}

/* "Bearer <token>" (scheme case-insensitive, RFC 7235) or NULL. */
static const char *srv_auth_bearer(struct srv_request *req)
{
  const char *h = srv_request_header(req, MHD_HTTP_HEADER_AUTHORIZATION);

  if (!h || strncasecmp(h, "Bearer ", 7) != 0)
    return NULL;
  h += 7;
  while (*h == ' ')
    h++;
  return h;
}

int srv_auth_authenticate(struct srv_request *req, struct srv_principal *p, enum MHD_Result *ret)
{
  const struct srv_route *route = srv_request_route(req);
  struct srv_auth_lookup l;
  const char *token;
  uint8_t hash[32];

  memset(p, 0, sizeof *p);
  p->kind = SRV_PRINCIPAL_ANONYMOUS;
  snprintf(p->actor, sizeof p->actor, "anonymous");
  if (!route || route->roles == SRV_ROLE_PUBLIC)
    return 1;
  /* Agents sign their requests with their device key instead of sending a
   * bearer token (srv_device_auth.c): same place, same roles column. */
  if (srv_device_signed(req))
    return srv_device_authenticate(req, p, ret);
  if (!(token = srv_auth_bearer(req)))
    return srv_auth_401(req, ret, "missing", NULL);
  if (srv_account_token_hash(token, hash) != 0)
    return srv_auth_401(req, ret, "malformed", "The bearer token is not valid");
  memset(&l, 0, sizeof l);
  l.hash = hash;
  srv_bytea_param(l.hash_param, hash, sizeof hash);
  if (srv_ep_txn(req, SRV_DB_READ_ONLY, srv_auth_lookup_txn, &l, NULL, ret))
    return 0;
  if (!l.found || !l.valid) {
    const char *why = !l.found ? "unknown" : l.why[0] ? l.why : "invalid";
    /* Expired is worth saying (the client should log in again); which
     * other reason applies is for the log, not for the caller. */
    return srv_auth_401(req, ret, why,
                        strcmp(why, "expired") == 0 ? "The bearer token has expired; log in again"
                                                    : "The bearer token is not valid");
  }
  *p = l.p;
  if ((route->roles & p->role) == 0) {
    char msg[160];
    snprintf(msg, sizeof msg, "The %s role may not call %s %s", srv_auth_role_name(p->role),
             route->method, route->pattern);
    return srv_auth_deny(req, json_pack("{s:s}", "role", srv_auth_role_name(p->role)), NULL, msg,
                         ret);
  }
  return 1;
}

int srv_auth_deny(struct srv_request *req, json_t *details, const char *actor, const char *message,
                  enum MHD_Result *ret)
{
  const struct srv_route *route = srv_request_route(req);
  char object[160];
  struct srv_audit_event ev;

  snprintf(object, sizeof object, "route:%s %s", route->method, route->pattern);
  ev = (struct srv_audit_event){"auth.denied", object, "denied", details, actor};
  /* A denial that cannot be audited is still a denial. */
  if (srv_audit_record(req, &ev) != 0)
    ke_log(KE_LOG_WARN, "could not audit a denied request",
           json_pack("{s:s}", "request_id", srv_request_id(req)));
  json_decref(details);
  *ret = srv_reply_error(req, SRV_ERR_FORBIDDEN, message);
  return 0;
}
