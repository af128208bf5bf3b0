/*
 * srv_ep_tokens.c - bearer tokens (admin role only, by the route table):
 *   POST   /v1/tokens        {name, expires_in, user?} -> the token, shown once
 *                             (user: the admin themself, or a service account;
 *                             any other account is a person's: 403)
 *   GET    /v1/tokens        [?all=true: also expired and revoked ones]
 *   DELETE /v1/tokens/{id}   revoke (API tokens and login sessions alike)
 * Only SHA-256(token) is stored; a lost token is revoked and replaced.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ke_util.h"
#include "srv_account.h"
#include "srv_audit.h"
#include "srv_auth.h"
#include "srv_ep.h"
#include "srv_routes.h"
#include "srv_rows.h"

struct srv_tok_body {
  const char *name;
  int64_t expires_in;
  const char *user;
};

static const struct ke_jfield srv_tok_fields[] = {
  KE_JF_STR(struct srv_tok_body, name, 1, SRV_TOKEN_NAME_MAX, srv_account_token_name_ok,
            "name: 1 to 64 characters A-Z a-z 0-9 space . _ : @ -, starting with a letter "
            "or digit"),
  /* The upper bound is the configuration's: checked by the handler. */
  KE_JF_INT(struct srv_tok_body, expires_in, 60, INT64_MAX, NULL),
  KE_JF_STR_OPT(struct srv_tok_body, user, 1, SRV_NAME_MAX, srv_account_name_ok,
                "user must be a user name"),
  KE_JF_END};
const struct ke_jspec srv_ep_tokens_create_body = KE_JSPEC(struct srv_tok_body, srv_tok_fields, 0);

struct srv_tok_list_query {
  int all;
};
static const struct srv_qfield srv_tok_list_fields[] = {
  SRV_QF_BOOL(struct srv_tok_list_query, all, 0, "all must be true or false"), SRV_QF_END};
const struct srv_qspec srv_ep_tokens_list_query =
  SRV_QSPEC(struct srv_tok_list_query, srv_tok_list_fields);

/* The account a token is for (USER_GET). */
struct srv_tok_user {
  const char *id;
  int disabled, service;
};
static const struct srv_col srv_tok_user_cols[] = {
  SRV_COL_TEXT(struct srv_tok_user, id), SRV_COL_BOOL(struct srv_tok_user, disabled),
  SRV_COL_BOOL(struct srv_tok_user, service), SRV_COL_END};

struct srv_tok_new {
  struct srv_request *req;
  const char *name, *user;
  char lifetime[16];
  char hash[2 * 32 + 3];
  char id[24], expires[40];
  struct srv_ep_fail fail;
};

static enum srv_db_status srv_tok_new_txn(struct srv_db *db, void *cls)
{
  struct srv_tok_new *t = cls;
  const struct srv_principal *me = srv_request_principal(t->req);
  const char *p1[1] = {t->user};
  char uid[24];
  enum srv_db_status st;
  PGresult *r;
  json_t *d;
  struct srv_tok_user u;

  if (!(r = srv_db_exec(db, SRV_STMT_USER_GET, p1, &st)))
    return st;
  if (PQntuples(r) != 1) {
    PQclear(r);
    return srv_ep_fail(&t->fail, SRV_ERR_NOT_FOUND, "No such user");
  }
  if (srv_row_read(r, 0, srv_tok_user_cols, &u) != 0) {
    PQclear(r);
    return SRV_DB_ERROR;
  }
  snprintf(uid, sizeof uid, "%s", u.id);
  PQclear(r);
  if (u.disabled)
    return srv_ep_fail(&t->fail, SRV_ERR_CONFLICT, "The user is disabled");
  /* An admin acts as nobody else: API tokens are for service accounts
   * (schema 013) and for the admin's own account only.  A token for a
   * person would let the admin sign in as them - approve as a custodian,
   * request as a helpdesk user - which the role split forbids. */
  if (!u.service && strcmp(t->user, me->name) != 0)
    return srv_ep_fail(&t->fail, SRV_ERR_FORBIDDEN,
                       "API tokens are made only for service accounts and for yourself: "
                       "this account is a person's (escrowctl user add --service makes "
                       "a service account)");
  {
    const char *p6[6] = {uid, "api", t->hash, t->name, t->lifetime, me->id};
    if (!(r = srv_db_exec(db, SRV_STMT_TOKEN_INSERT, p6, &st)))
      return st;
  }
  snprintf(t->id, sizeof t->id, "%s", srv_row_text(r, "id"));
  snprintf(t->expires, sizeof t->expires, "%s", srv_row_text(r, "expires"));
  PQclear(r);
  d = json_pack("{s:s,s:s,s:s}", "user", t->user, "name", t->name, "expires", t->expires);
  return srv_audit_success(db, t->req, "token.create", "token", t->id, d);
}

enum MHD_Result srv_ep_tokens_create(struct srv_request *req)
{
  struct srv_tok_body b;
  struct srv_tok_new t;
  char token[SRV_TOKEN_TEXT_MAX + 1];
  uint8_t hash[32];
  struct ke_jerr err;
  enum MHD_Result ret;
  json_t *out;

  if (srv_ep_body_parse(req, &srv_ep_tokens_create_body, &b, &err) != 0 &&
      (!err.field || strcmp(err.field->name, "expires_in") != 0))
    return srv_ep_body_reply(req, &err);
  if (err.field || b.expires_in > srv_auth_cfg.api_token_max_lifetime) {
    char msg[128];
    snprintf(msg, sizeof msg, "expires_in: seconds from 60 to %u (api_token_max_lifetime)",
             srv_auth_cfg.api_token_max_lifetime);
    return srv_reply_error(req, SRV_ERR_BAD_REQUEST, msg);
  }
  memset(&t, 0, sizeof t);
  t.req = req;
  t.name = b.name;
  t.user = b.user ? b.user : srv_request_principal(req)->name;
  snprintf(t.lifetime, sizeof t.lifetime, "%lld", (long long)b.expires_in);
  if (srv_account_new_token('a', token, hash) != 0)
    return srv_reply_error(req, SRV_ERR_INTERNAL, NULL);
  srv_bytea_param(t.hash, hash, sizeof hash);
  if (srv_ep_txn(req, SRV_DB_SERIALIZABLE, srv_tok_new_txn, &t, &t.fail, &ret)) {
    ke_wipe(token, sizeof token);
    return ret;
  }
  out = json_pack("{s:I,s:s,s:s,s:s,s:s}", "id", (json_int_t)strtoll(t.id, NULL, 10), "name",
                  t.name, "user", t.user, "token", token, "expires", t.expires);
  ke_wipe(token, sizeof token);
  return srv_reply_json(req, MHD_HTTP_CREATED, out);
}

static const struct srv_jcol srv_tok_list_cols[] = {
  SRV_JCOL("id", SRV_CT_INT64),          SRV_JCOL("kind", SRV_CT_TEXT),
  SRV_JCOL("name", SRV_CT_TEXT),         SRV_JCOL("user", SRV_CT_TEXT),
  SRV_JCOL("created", SRV_CT_TIME),      SRV_JCOL("expires", SRV_CT_TIME),
  SRV_JCOL_NULL("revoked", SRV_CT_TIME), SRV_JCOL_NULL("created_by", SRV_CT_TEXT),
  SRV_JCOL("active", SRV_CT_BOOL),       SRV_JCOL_END};

enum MHD_Result srv_ep_tokens_list(struct srv_request *req)
{
  struct srv_tok_list_query q;
  enum MHD_Result ret;

  if (srv_ep_query(req, &srv_ep_tokens_list_query, &q, &ret))
    return ret;
  const char *p1[1] = {q.all ? "true" : "false"};
  return srv_ep_list(req, SRV_STMT_TOKEN_LIST, p1, srv_tok_list_cols, "tokens");
}

/* The token being revoked (TOKEN_GET). */
struct srv_tok_row {
  const char *kind, *name, *user;
  int revoked;
};
static const struct srv_col srv_tok_row_cols[] = {
  SRV_COL_TEXT(struct srv_tok_row, kind), SRV_COL_TEXT(struct srv_tok_row, name),
  SRV_COL_TEXT(struct srv_tok_row, user), SRV_COL_BOOL(struct srv_tok_row, revoked), SRV_COL_END};

struct srv_tok_revoke {
  struct srv_request *req;
  const char *id;
  int was_revoked;
  struct srv_ep_fail fail;
};

static enum srv_db_status srv_tok_revoke_txn(struct srv_db *db, void *cls)
{
  struct srv_tok_revoke *t = cls;
  const char *p1[1] = {t->id};
  enum srv_db_status st;
  PGresult *r;
  json_t *d;
  struct srv_tok_row row;

  if (!(r = srv_db_exec(db, SRV_STMT_TOKEN_GET, p1, &st)))
    return st;
  if (PQntuples(r) != 1) {
    PQclear(r);
    return srv_ep_fail(&t->fail, SRV_ERR_NOT_FOUND, "No such token");
  }
  d = NULL;
  if (srv_row_read(r, 0, srv_tok_row_cols, &row) == 0) {
    t->was_revoked = row.revoked;
    d = json_pack("{s:s,s:s,s:s}", "kind", row.kind, "name", row.name, "user", row.user);
  }
  PQclear(r);
  if (!d)
    return SRV_DB_ERROR;
  if (t->was_revoked) {
    /* Nothing changes, so nothing to audit. */
    json_decref(d);
    return SRV_DB_OK;
  }
  if (!(r = srv_db_exec(db, SRV_STMT_TOKEN_REVOKE, p1, &st))) {
    json_decref(d);
    return st;
  }
  PQclear(r);
  return srv_audit_success(db, t->req, "token.revoke", "token", t->id, d);
}

enum MHD_Result srv_ep_tokens_revoke(struct srv_request *req)
{
  struct srv_tok_revoke t = {.req = req, .id = srv_request_param(req, "id")};
  size_t n = t.id ? strlen(t.id) : 0;
  enum MHD_Result ret;

  /* Ids are positive bigints: anything else names no token. */
  if (n == 0 || n > 18 || strspn(t.id, "0123456789") != n || t.id[0] == '0')
    return srv_reply_error(req, SRV_ERR_NOT_FOUND, "No such token");
  if (srv_ep_txn(req, SRV_DB_SERIALIZABLE, srv_tok_revoke_txn, &t, &t.fail, &ret))
    return ret;
  return srv_reply_json(req, MHD_HTTP_OK,
                        json_pack("{s:I,s:b,s:b}", "id", (json_int_t)strtoll(t.id, NULL, 10),
                                  "revoked", 1, "already_revoked", t.was_revoked));
}
