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
  return EVP_Digest(token, SRV_ENROLL_TOKEN_LEN, hash, &hl, EVP_sha256(), NULL) == 1 && hl == 32
           ? 0
           : -1;
}

struct srv_et_body {
  const char *group;
  int64_t uses, expires_in;
};

static const struct ke_jfield srv_et_fields[] = {
  KE_JF_STR(struct srv_et_body, group, 1, SRV_DEV_GROUP_MAX, srv_device_group_ok,
            "group: 1 to 64 characters A-Z a-z 0-9 . _ : -, starting with a letter or digit"),
  KE_JF_INT(struct srv_et_body, uses, 1, SRV_ET_MAX_USES, "uses: an integer from 1 to 1000000"),
  KE_JF_INT(struct srv_et_body, expires_in, 60, SRV_ET_MAX_LIFETIME,
            "expires_in: seconds from 60 to 31622400 (366 days)"),
  KE_JF_END};
const struct ke_jspec srv_ep_enroll_tokens_create_body =
  KE_JSPEC(struct srv_et_body, srv_et_fields, 0);

struct srv_et_list_query {
  int all;
};
static const struct srv_qfield srv_et_list_fields[] = {
  SRV_QF_BOOL(struct srv_et_list_query, all, 0, "all must be true or false"), SRV_QF_END};
const struct srv_qspec srv_ep_enroll_tokens_list_query =
  SRV_QSPEC(struct srv_et_list_query, srv_et_list_fields);

struct srv_et_new {
  struct srv_request *req;
  const struct srv_et_body *b;
  char hash[2 * 32 + 3];
  char id[24], expires[40], created[40];
};

static enum srv_db_status srv_et_new_txn(struct srv_db *db, void *cls)
{
  struct srv_et_new *t = cls;
  char uses[24], lifetime[24];
  const char *params[5] = {t->hash, t->b->group, uses, lifetime,
                           srv_request_principal(t->req)->actor};
  enum srv_db_status st;
  PGresult *r;
  json_t *d;

  snprintf(uses, sizeof uses, "%lld", (long long)t->b->uses);
  snprintf(lifetime, sizeof lifetime, "%lld", (long long)t->b->expires_in);
  if (!(r = srv_db_exec(db, SRV_STMT_ENROLL_TOKEN_INSERT, params, &st)))
    return st;
  snprintf(t->id, sizeof t->id, "%s", srv_row_text(r, "id"));
  snprintf(t->created, sizeof t->created, "%s", srv_row_text(r, "created"));
  snprintf(t->expires, sizeof t->expires, "%s", srv_row_text(r, "expires"));
  PQclear(r);
  d = json_pack("{s:s,s:I,s:s}", "group", t->b->group, "uses", (json_int_t)t->b->uses, "expires",
                t->expires);
  return srv_audit_success(db, t->req, "enroll_token.create", "enroll_token", t->id, d);
}

/* "ket_" + base64url(32 random bytes) into token, its hash as a bytea
 * parameter into hash_param.  0, or -1 with nothing left behind. */
static int srv_et_mint(char token[SRV_ENROLL_TOKEN_LEN + 1], char hash_param[2 * 32 + 3])
{
  uint8_t rnd[32], hash[32];
  char *b64 = NULL;
  int rc = -1;

  if (ke_random(rnd, sizeof rnd) == KE_OK && (b64 = ke_b64url_encode(rnd, sizeof rnd))) {
    snprintf(token, SRV_ENROLL_TOKEN_LEN + 1, "ket_%s", b64);
    rc = srv_enroll_token_hash(token, hash);
    ke_wipe(b64, strlen(b64));
    free(b64);
  }
  ke_wipe(rnd, sizeof rnd);
  if (rc != 0)
    ke_wipe(token, SRV_ENROLL_TOKEN_LEN + 1);
  else
    srv_bytea_param(hash_param, hash, sizeof hash);
  return rc;
}

enum MHD_Result srv_ep_enroll_tokens_create(struct srv_request *req)
{
  struct srv_et_body b;
  struct srv_et_new t = {req, &b, "", "", "", ""};
  char token[SRV_ENROLL_TOKEN_LEN + 1];
  struct ke_jerr err;
  enum srv_db_status st;
  json_t *out;

  if (srv_ep_body_parse(req, &srv_ep_enroll_tokens_create_body, &b, &err) != 0)
    return srv_ep_body_reply(req, &err);
  if (srv_et_mint(token, t.hash) != 0)
    return srv_reply_error(req, SRV_ERR_INTERNAL, NULL);
  st = srv_db_txn(SRV_DB_SERIALIZABLE, srv_et_new_txn, &t);
  if (st != SRV_DB_OK) {
    ke_wipe(token, sizeof token);
    return srv_ep_db_error(req, st);
  }
  out = json_pack("{s:I,s:s,s:s,s:I,s:I,s:s,s:s}", "id", (json_int_t)strtoll(t.id, NULL, 10),
                  "token", token, "group", b.group, "uses_max", (json_int_t)b.uses, "uses_left",
                  (json_int_t)b.uses, "created", t.created, "expires", t.expires);
  ke_wipe(token, sizeof token);
  return srv_reply_json(req, MHD_HTTP_CREATED, out);
}

static const struct srv_jcol srv_et_list_cols[] = {SRV_JCOL("id", SRV_CT_INT64),
                                                   SRV_JCOL("group", SRV_CT_TEXT),
                                                   SRV_JCOL("uses_max", SRV_CT_INT64),
                                                   SRV_JCOL("uses_left", SRV_CT_INT64),
                                                   SRV_JCOL("created", SRV_CT_TIME),
                                                   SRV_JCOL("expires", SRV_CT_TIME),
                                                   SRV_JCOL("created_by", SRV_CT_TEXT),
                                                   SRV_JCOL_NULL("revoked", SRV_CT_TIME),
                                                   SRV_JCOL_NULL("revoked_by", SRV_CT_TEXT),
                                                   SRV_JCOL("status", SRV_CT_TEXT),
                                                   SRV_JCOL("devices", SRV_CT_INT64),
                                                   SRV_JCOL_END};

enum MHD_Result srv_ep_enroll_tokens_list(struct srv_request *req)
{
  struct srv_et_list_query q;
  enum MHD_Result ret;

  if (srv_ep_query(req, &srv_ep_enroll_tokens_list_query, &q, &ret))
    return ret;
  const char *p1[1] = {q.all ? "true" : "false"};
  return srv_ep_list(req, SRV_STMT_ENROLL_TOKEN_LIST, p1, srv_et_list_cols, "enroll_tokens");
}

/* The token a revocation names (ENROLL_TOKEN_GET). */
struct srv_et_token {
  const char *group;
  int revoked;
  int64_t uses_left;
};
static const struct srv_col srv_et_token_cols[] = {
  SRV_COL_TEXT(struct srv_et_token, group), SRV_COL_BOOL(struct srv_et_token, revoked),
  SRV_COL_INT64(struct srv_et_token, uses_left), SRV_COL_END};

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
  struct srv_et_token tok;

  t->found = t->was_revoked = 0;
  if (!(r = srv_db_exec(db, SRV_STMT_ENROLL_TOKEN_GET, p2, &st)))
    return st;
  if (PQntuples(r) != 1) {
    PQclear(r);
    return SRV_DB_ABORT;
  }
  t->found = 1;
  if (srv_row_read(r, 0, srv_et_token_cols, &tok) != 0) {
    PQclear(r);
    return SRV_DB_ERROR;
  }
  t->was_revoked = tok.revoked;
  d = json_pack("{s:s,s:I}", "group", tok.group, "uses_left", (json_int_t)tok.uses_left);
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
  return srv_audit_success(db, t->req, "enroll_token.revoke", "enroll_token", t->id, d);
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
