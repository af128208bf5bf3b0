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

#include "ke_json.h"
#include "ke_util.h"
#include "srv_account.h"
#include "srv_audit.h"
#include "srv_auth.h"
#include "srv_routes.h"

enum srv_tok_outcome { SRV_TOK_OK, SRV_TOK_NO_USER, SRV_TOK_DISABLED, SRV_TOK_NOT_FOUND,
                       SRV_TOK_HUMAN };

struct srv_tok_new {
  struct srv_request *req;
  const char *name, *user;
  char lifetime[16];
  char hash[2 * 32 + 3];
  char id[24], expires[40];
  enum srv_tok_outcome out;
};

static enum srv_db_status srv_tok_new_txn(struct srv_db *db, void *cls)
{
  struct srv_tok_new *t = cls;
  const struct srv_principal *me = srv_request_principal(t->req);
  const char *p1[1] = {t->user};
  char uid[24], object[48];
  enum srv_db_status st;
  PGresult *r;
  json_t *d;
  struct srv_audit_event ev;

  t->out = SRV_TOK_OK;
  if (!(r = srv_db_exec(db, SRV_STMT_USER_GET, p1, &st)))
    return st;
  if (PQntuples(r) != 1 || strcmp(PQgetvalue(r, 0, 3), "t") == 0) {
    t->out = PQntuples(r) != 1 ? SRV_TOK_NO_USER : SRV_TOK_DISABLED;
    PQclear(r);
    return SRV_DB_ABORT;
  }
  /* An admin acts as nobody else: API tokens are for service accounts
   * (schema 013) and for the admin's own account only.  A token for a
   * person would let the admin sign in as them - approve as a custodian,
   * request as a helpdesk user - which the role split forbids. */
  if (strcmp(PQgetvalue(r, 0, 4), "t") != 0 && strcmp(t->user, me->name) != 0) {
    PQclear(r);
    t->out = SRV_TOK_HUMAN;
    return SRV_DB_ABORT;
  }
  snprintf(uid, sizeof uid, "%s", PQgetvalue(r, 0, 0));
  PQclear(r);
  {
    const char *p6[6] = {uid, "api", t->hash, t->name, t->lifetime, me->id};
    if (!(r = srv_db_exec(db, SRV_STMT_TOKEN_INSERT, p6, &st)))
      return st;
  }
  snprintf(t->id, sizeof t->id, "%s", PQgetvalue(r, 0, 0));
  snprintf(t->expires, sizeof t->expires, "%s", PQgetvalue(r, 0, 1));
  PQclear(r);
  d = json_pack("{s:s,s:s,s:s}", "user", t->user, "name", t->name, "expires", t->expires);
  if (!d)
    return SRV_DB_ERROR;
  snprintf(object, sizeof object, "token:%s", t->id);
  ev = (struct srv_audit_event){"token.create", object, "success", d, NULL};
  st = srv_audit_append(db, t->req, &ev);
  json_decref(d);
  return st;
}

enum MHD_Result srv_ep_tokens_create(struct srv_request *req)
{
  static const char *const allowed[] = {"name", "expires_in", "user", NULL};
  const json_t *body = srv_request_json(req);
  struct srv_tok_new t;
  char token[SRV_TOKEN_TEXT_MAX + 1];
  uint8_t hash[32];
  int64_t expires_in;
  enum srv_db_status st;
  enum MHD_Result ret;
  ke_json_rc rc;
  json_t *out;

  if (srv_account_unknown_member(req, body, allowed, &ret))
    return ret;
  memset(&t, 0, sizeof t);
  t.req = req;
  if (ke_json_get_str(body, "name", &t.name) != KE_JSON_OK ||
      !srv_account_token_name_ok(t.name))
    return srv_reply_error(req, SRV_ERR_BAD_REQUEST,
                           "name: 1 to 64 characters A-Z a-z 0-9 space . _ : @ -, starting "
                           "with a letter or digit");
  if (ke_json_get_int(body, "expires_in", 60, srv_auth_cfg.api_token_max_lifetime,
                      &expires_in) != KE_JSON_OK) {
    char msg[128];
    snprintf(msg, sizeof msg, "expires_in: seconds from 60 to %u (api_token_max_lifetime)",
             srv_auth_cfg.api_token_max_lifetime);
    return srv_reply_error(req, SRV_ERR_BAD_REQUEST, msg);
  }
  rc = ke_json_get_str(body, "user", &t.user);
  if (rc == KE_JSON_MISSING)
    t.user = srv_request_principal(req)->name;
  else if (rc != KE_JSON_OK || !srv_account_name_ok(t.user))
    return srv_reply_error(req, SRV_ERR_BAD_REQUEST, "user must be a user name");
  snprintf(t.lifetime, sizeof t.lifetime, "%lld", (long long)expires_in);
  if (srv_account_new_token('a', token, hash) != 0)
    return srv_reply_error(req, SRV_ERR_INTERNAL, NULL);
  srv_account_bytea_param(t.hash, hash, sizeof hash);
  st = srv_db_txn(SRV_DB_SERIALIZABLE, srv_tok_new_txn, &t);
  if (st != SRV_DB_OK) {
    ke_wipe(token, sizeof token);
    if (st == SRV_DB_ABORT && t.out == SRV_TOK_NO_USER)
      return srv_reply_error(req, SRV_ERR_NOT_FOUND, "No such user");
    if (st == SRV_DB_ABORT && t.out == SRV_TOK_HUMAN)
      return srv_reply_error(req, SRV_ERR_FORBIDDEN,
                             "API tokens are made only for service accounts and for yourself: "
                             "this account is a person's (escrowctl user add --service makes "
                             "a service account)");
    if (st == SRV_DB_ABORT && t.out == SRV_TOK_DISABLED)
      return srv_reply_error(req, SRV_ERR_CONFLICT, "The user is disabled");
    return srv_account_db_error(req, st);
  }
  out = json_pack("{s:I,s:s,s:s,s:s,s:s}", "id", (json_int_t)strtoll(t.id, NULL, 10),
                  "name", t.name, "user", t.user, "token", token, "expires", t.expires);
  ke_wipe(token, sizeof token);
  return srv_reply_json(req, MHD_HTTP_CREATED, out);
}

struct srv_tok_list {
  const char *all;
  json_t *list;
};

static enum srv_db_status srv_tok_list_txn(struct srv_db *db, void *cls)
{
  struct srv_tok_list *l = cls;
  const char *p1[1] = {l->all};
  enum srv_db_status st;
  PGresult *r = srv_db_exec(db, SRV_STMT_TOKEN_LIST, p1, &st);

  if (!r)
    return st;
  json_decref(l->list);
  l->list = json_array();
  for (int i = 0; l->list && i < PQntuples(r); i++) {
    json_t *t = json_pack("{s:I,s:s,s:s,s:s,s:s,s:s,s:o,s:o,s:b}", "id",
                          (json_int_t)strtoll(PQgetvalue(r, i, 0), NULL, 10), "kind",
                          PQgetvalue(r, i, 1), "name", PQgetvalue(r, i, 2), "user",
                          PQgetvalue(r, i, 3), "created", PQgetvalue(r, i, 4), "expires",
                          PQgetvalue(r, i, 5), "revoked", srv_account_col_str(r, i, 6),
                          "created_by", srv_account_col_str(r, i, 7), "active",
                          strcmp(PQgetvalue(r, i, 8), "t") == 0);
    if (!t || json_array_append_new(l->list, t)) {
      json_decref(l->list);
      l->list = NULL;
    }
  }
  PQclear(r);
  return l->list ? SRV_DB_OK : SRV_DB_ERROR;
}

enum MHD_Result srv_ep_tokens_list(struct srv_request *req)
{
  const char *all = srv_request_query(req, "all");
  struct srv_tok_list l = {"false", NULL};
  enum srv_db_status st;

  if (all && strcmp(all, "true") == 0)
    l.all = "true";
  else if (all && strcmp(all, "false") != 0)
    return srv_reply_error(req, SRV_ERR_BAD_REQUEST, "all must be true or false");
  st = srv_db_txn(SRV_DB_READ_ONLY, srv_tok_list_txn, &l);
  if (st != SRV_DB_OK) {
    json_decref(l.list);
    return srv_account_db_error(req, st);
  }
  return srv_reply_json(req, MHD_HTTP_OK, json_pack("{s:o}", "tokens", l.list));
}

struct srv_tok_revoke {
  struct srv_request *req;
  const char *id;
  int was_revoked;
  enum srv_tok_outcome out;
};

static enum srv_db_status srv_tok_revoke_txn(struct srv_db *db, void *cls)
{
  struct srv_tok_revoke *t = cls;
  const char *p1[1] = {t->id};
  enum srv_db_status st;
  PGresult *r;
  json_t *d;
  char object[48];
  struct srv_audit_event ev;

  t->out = SRV_TOK_OK;
  if (!(r = srv_db_exec(db, SRV_STMT_TOKEN_GET, p1, &st)))
    return st;
  if (PQntuples(r) != 1) {
    PQclear(r);
    t->out = SRV_TOK_NOT_FOUND;
    return SRV_DB_ABORT;
  }
  t->was_revoked = strcmp(PQgetvalue(r, 0, 4), "t") == 0;
  d = json_pack("{s:s,s:s,s:s}", "kind", PQgetvalue(r, 0, 1), "name", PQgetvalue(r, 0, 2),
                "user", PQgetvalue(r, 0, 3));
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
  snprintf(object, sizeof object, "token:%s", t->id);
  ev = (struct srv_audit_event){"token.revoke", object, "success", d, NULL};
  st = srv_audit_append(db, t->req, &ev);
  json_decref(d);
  return st;
}

enum MHD_Result srv_ep_tokens_revoke(struct srv_request *req)
{
  struct srv_tok_revoke t = {req, srv_request_param(req, "id"), 0, SRV_TOK_OK};
  size_t n = t.id ? strlen(t.id) : 0;
  enum srv_db_status st;

  /* Ids are positive bigints: anything else names no token. */
  if (n == 0 || n > 18 || strspn(t.id, "0123456789") != n || t.id[0] == '0')
    return srv_reply_error(req, SRV_ERR_NOT_FOUND, "No such token");
  st = srv_db_txn(SRV_DB_SERIALIZABLE, srv_tok_revoke_txn, &t);
  if (st == SRV_DB_ABORT && t.out == SRV_TOK_NOT_FOUND)
    return srv_reply_error(req, SRV_ERR_NOT_FOUND, "No such token");
  if (st != SRV_DB_OK)
    return srv_account_db_error(req, st);
  return srv_reply_json(req, MHD_HTTP_OK,
                        json_pack("{s:I,s:b,s:b}", "id", (json_int_t)strtoll(t.id, NULL, 10),
                                  "revoked", 1, "already_revoked", t.was_revoked));
}
