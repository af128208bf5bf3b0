/*
 * srv_ep_enroll_tokens.c - enrolment tokens (admin role, by the route table):
 *   POST   /v1/enroll-tokens        {group, uses, expires_in} -> the token,
 *                                   shown once
 *   GET    /v1/enroll-tokens        [?all=true: also used up, expired and
 *                                   revoked ones]
 *   DELETE /v1/enroll-tokens/{id}   revoke (the row stays)
 *
 * A token is "ket_" + base64url(32 random bytes); only SHA-256 of its text
 * is stored, so the database cannot give one back.  Each enrolment takes one
 * use (srv_ep_enroll.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "ke_json.h"
#include "ke_util.h"
#include "srv_account.h"
#include "srv_audit.h"
#include "srv_device.h"
#include "srv_ep.h"
#include "srv_routes.h"
#include "srv_rows.h"

#define SRV_ET_MAX_USES 1000000
#define SRV_ET_MAX_LIFETIME (366LL * 86400)

int srv_enroll_token_hash(const char *token, uint8_t hash[32])
{
  uint8_t raw[32];
  unsigned hl = 0;

  if (!token || strlen(token) != SRV_ENROLL_TOKEN_LEN || strncmp(token, "ket_", 4) != 0 ||
      ke_b64url_decode_fixed(raw, sizeof raw, token + 4) != KE_OK)
    return -1;
  ke_wipe(raw, sizeof raw);
  return EVP_Digest(token, SRV_ENROLL_TOKEN_LEN, hash, &hl, EVP_sha256(), NULL) == 1 &&
                 hl == 32
             ? 0
             : -1;
}

struct srv_et_new {
  struct srv_request *req;
  const char *group;
  char uses[16], lifetime[24];
  char hash[2 * 32 + 3];
  char id[24], expires[32], created[32];
};

static enum srv_db_status srv_et_new_txn(struct srv_db *db, void *cls)
{
  struct srv_et_new *t = cls;
  const char *params[5] = {t->hash, t->group, t->uses, t->lifetime,
                           srv_request_principal(t->req)->actor};
  enum srv_db_status st;
  PGresult *r = srv_db_exec(db, SRV_STMT_ENROLL_TOKEN_INSERT, params, &st);
  char object[48];
  json_t *d;
  struct srv_audit_event ev;

  if (!r)
    return st;
  snprintf(t->id, sizeof t->id, "%s", PQgetvalue(r, 0, 0));
  snprintf(t->created, sizeof t->created, "%s", PQgetvalue(r, 0, 1));
  snprintf(t->expires, sizeof t->expires, "%s", PQgetvalue(r, 0, 2));
  PQclear(r);
  d = json_pack("{s:s,s:I,s:s}", "group", t->group, "uses",
                (json_int_t)strtoll(t->uses, NULL, 10), "expires", t->expires);
  if (!d)
    return SRV_DB_ERROR;
  snprintf(object, sizeof object, "enroll_token:%s", t->id);
  ev = (struct srv_audit_event){"enroll_token.create", object, "success", d, NULL};
  st = srv_audit_append(db, t->req, &ev);
  json_decref(d);
  return st;
}

enum MHD_Result srv_ep_enroll_tokens_create(struct srv_request *req)
{
  static const char *const allowed[] = {"group", "uses", "expires_in", NULL};
  const json_t *body = srv_request_json(req);
  struct srv_et_new t;
  char token[SRV_ENROLL_TOKEN_LEN + 1], *b64;
  uint8_t rnd[32], hash[32];
  int64_t uses, lifetime;
  enum srv_db_status st;
  enum MHD_Result ret;
  json_t *out;

  if (srv_account_unknown_member(req, body, allowed, &ret))
    return ret;
  memset(&t, 0, sizeof t);
  t.req = req;
  t.group = srv_device_str(body, "group");
  if (!srv_device_group_ok(t.group))
    return srv_ep_bad(req, "group: 1 to 64 characters A-Z a-z 0-9 . _ : -, starting "
                               "with a letter or digit");
  if (ke_json_get_int(body, "uses", 1, SRV_ET_MAX_USES, &uses) != KE_JSON_OK)
    return srv_ep_bad(req, "uses: an integer from 1 to 1000000");
  if (ke_json_get_int(body, "expires_in", 60, SRV_ET_MAX_LIFETIME, &lifetime) != KE_JSON_OK)
    return srv_ep_bad(req, "expires_in: seconds from 60 to 31622400 (366 days)");
  snprintf(t.uses, sizeof t.uses, "%lld", (long long)uses);
  snprintf(t.lifetime, sizeof t.lifetime, "%lld", (long long)lifetime);
  if (ke_random(rnd, sizeof rnd) != KE_OK || !(b64 = ke_b64url_encode(rnd, sizeof rnd))) {
    ke_wipe(rnd, sizeof rnd);
    return srv_reply_error(req, SRV_ERR_INTERNAL, NULL);
  }
  ke_wipe(rnd, sizeof rnd);
  snprintf(token, sizeof token, "ket_%s", b64);
  ke_wipe(b64, strlen(b64));
  free(b64);
  if (srv_enroll_token_hash(token, hash) != 0) {
    ke_wipe(token, sizeof token);
    return srv_reply_error(req, SRV_ERR_INTERNAL, NULL);
  }
  srv_bytea_param(t.hash, hash, sizeof hash);
  st = srv_db_txn(SRV_DB_SERIALIZABLE, srv_et_new_txn, &t);
  if (st != SRV_DB_OK) {
    ke_wipe(token, sizeof token);
    return srv_ep_db_error(req, st);
  }
  out = json_pack("{s:I,s:s,s:s,s:I,s:I,s:s,s:s}", "id", (json_int_t)strtoll(t.id, NULL, 10),
                  "token", token, "group", t.group, "uses_max", (json_int_t)uses, "uses_left",
                  (json_int_t)uses, "created", t.created, "expires", t.expires);
  ke_wipe(token, sizeof token);
  return srv_reply_json(req, MHD_HTTP_CREATED, out);
}

struct srv_et_list {
  const char *all;
  json_t *list;
};

static enum srv_db_status srv_et_list_txn(struct srv_db *db, void *cls)
{
  struct srv_et_list *l = cls;
  const char *p1[1] = {l->all};
  enum srv_db_status st;
  PGresult *r = srv_db_exec(db, SRV_STMT_ENROLL_TOKEN_LIST, p1, &st);

  json_decref(l->list);
  l->list = NULL;
  if (!r)
    return st;
  l->list = json_array();
  for (int i = 0; l->list && i < PQntuples(r); i++) {
    /* id, group, uses_max, uses_left, created, expires, created_by,
     * revoked, revoked_by, status, devices enrolled */
    json_t *t = json_pack(
        "{s:I,s:s,s:I,s:I,s:s,s:s,s:s,s:o,s:o,s:s,s:I}", "id",
        (json_int_t)strtoll(PQgetvalue(r, i, 0), NULL, 10), "group", PQgetvalue(r, i, 1),
        "uses_max", (json_int_t)strtoll(PQgetvalue(r, i, 2), NULL, 10), "uses_left",
        (json_int_t)strtoll(PQgetvalue(r, i, 3), NULL, 10), "created", PQgetvalue(r, i, 4),
        "expires", PQgetvalue(r, i, 5), "created_by", PQgetvalue(r, i, 6), "revoked",
        srv_account_col_str(r, i, 7), "revoked_by", srv_account_col_str(r, i, 8), "status",
        PQgetvalue(r, i, 9), "devices", (json_int_t)strtoll(PQgetvalue(r, i, 10), NULL, 10));
    if (!t || json_array_append_new(l->list, t)) {
      json_decref(l->list);
      l->list = NULL;
    }
  }
  PQclear(r);
  return l->list ? SRV_DB_OK : SRV_DB_ERROR;
}

enum MHD_Result srv_ep_enroll_tokens_list(struct srv_request *req)
{
  const char *all = srv_request_query(req, "all");
  struct srv_et_list l = {"false", NULL};
  enum srv_db_status st;

  if (all && strcmp(all, "true") == 0)
    l.all = "true";
  else if (all && strcmp(all, "false") != 0)
    return srv_ep_bad(req, "all must be true or false");
  st = srv_db_txn(SRV_DB_READ_ONLY, srv_et_list_txn, &l);
  if (st != SRV_DB_OK) {
    json_decref(l.list);
    return srv_ep_db_error(req, st);
  }
  return srv_reply_json(req, MHD_HTTP_OK, json_pack("{s:o}", "enroll_tokens", l.list));
}

struct srv_et_revoke {
  struct srv_request *req;
  const char *id;
  int found, was_revoked;
};

static enum srv_db_status srv_et_revoke_txn(struct srv_db *db, void *cls)
{
  struct srv_et_revoke *t = cls;
  const char *p2[2] = {t->id, srv_request_principal(t->req)->actor};
  enum srv_db_status st;
  PGresult *r;
  json_t *d;
  char object[48];
  struct srv_audit_event ev;

  t->found = t->was_revoked = 0;
  if (!(r = srv_db_exec(db, SRV_STMT_ENROLL_TOKEN_GET, p2, &st)))
    return st;
  if (PQntuples(r) != 1) {
    PQclear(r);
    return SRV_DB_ABORT;
  }
  t->found = 1;
  t->was_revoked = strcmp(PQgetvalue(r, 0, 1), "t") == 0;
  d = json_pack("{s:s,s:I}", "group", PQgetvalue(r, 0, 0), "uses_left",
                (json_int_t)strtoll(PQgetvalue(r, 0, 2), NULL, 10));
  PQclear(r);
  if (!d)
    return SRV_DB_ERROR;
  if (t->was_revoked) {
    json_decref(d); /* nothing changes, nothing to audit */
    return SRV_DB_OK;
  }
  if (!(r = srv_db_exec(db, SRV_STMT_ENROLL_TOKEN_REVOKE, p2, &st))) {
    json_decref(d);
    return st;
  }
  PQclear(r);
  snprintf(object, sizeof object, "enroll_token:%s", t->id);
  ev = (struct srv_audit_event){"enroll_token.revoke", object, "success", d, NULL};
  st = srv_audit_append(db, t->req, &ev);
  json_decref(d);
  return st;
}

enum MHD_Result srv_ep_enroll_tokens_revoke(struct srv_request *req)
{
  struct srv_et_revoke t = {req, srv_request_param(req, "id"), 0, 0};
  size_t n = t.id ? strlen(t.id) : 0;
  enum srv_db_status st;

  /* Ids are positive bigints: anything else names no token. */
  if (n == 0 || n > 18 || strspn(t.id, "0123456789") != n || t.id[0] == '0')
    return srv_reply_error(req, SRV_ERR_NOT_FOUND, "No such enrolment token");
  st = srv_db_txn(SRV_DB_SERIALIZABLE, srv_et_revoke_txn, &t);
  if (st == SRV_DB_ABORT && !t.found)
    return srv_reply_error(req, SRV_ERR_NOT_FOUND, "No such enrolment token");
  if (st != SRV_DB_OK)
    return srv_ep_db_error(req, st);
  return srv_reply_json(req, MHD_HTTP_OK,
                        json_pack("{s:I,s:b,s:b}", "id", (json_int_t)strtoll(t.id, NULL, 10),
                                  "revoked", 1, "already_revoked", t.was_revoked));
}
