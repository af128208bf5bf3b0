/*
 * srv_ep_client_keys.c - PUT /v1/client-key (helpdesk, auditor): register
 * (or replace) the caller's Ed25519 client key, {"public_key": "<base64url
 * of 32 bytes>"[, "password": "..."]}, which signs their retrieval requests
 * and drills.  The fingerprint is SHA-256 of the raw key (hex).
 *
 *  - First registration: stored, client_key.register audited.
 *  - The same key again: nothing changes (200, "replaced": false).
 *  - Another key while one is registered: a bearer token alone is not
 *    enough (it proves a session, not the person), so the body must carry
 *    the account's password.  It is checked like a login's (scrypt, outside
 *    any transaction) and under the login limits, its failure reserved
 *    before scrypt (srv_login_limits.h): a waiting source gets 429, a wrong
 *    password counts as a failed login.  Missing
 *    or wrong: 403 reauthentication_required, client_key.replace failure
 *    audited.  Right: the key is replaced, the history (schema 013) keeps
 *    the old one with its dates, and client_key.replace is audited with the
 *    old and the new fingerprint.  Service accounts have no password: their
 *    key is registered once (a new key means a new service account).  An
 *    SSO account has none either: a session of an SSO login less than five
 *    minutes old is its re-authentication (the IdP just checked the person,
 *    with MFA where the role needs it); older, 403 reauthentication_required
 *    says to log in again.
 * Custodians see every key change (GET /v1/retrievals/{id} requester_key),
 * and their pins refuse a changed key anyway (docs/threat-model.md).
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ke_util.h"
#include "srv_account.h"
#include "srv_audit.h"
#include "srv_auth.h"
#include "srv_ep.h"
#include "srv_login_limits.h"
#include "srv_routes.h"
#include "srv_rows.h"

struct srv_ck_body {
  uint8_t public_key[32];
  const char *password;
};
static const struct ke_jfield srv_ck_fields[] = {
  KE_JF_B64_FIXED(struct srv_ck_body, public_key,
                  "public_key: base64url of a 32-byte Ed25519 public key"),
  KE_JF_STR_OPT(struct srv_ck_body, password, 1, SRV_PASSWORD_MAX, NULL,
                "password: a string of 1 to 1024 bytes"),
  KE_JF_END};
const struct ke_jspec srv_ep_client_key_put_body = KE_JSPEC(struct srv_ck_body, srv_ck_fields, 0);

/* The account's password (CK_USER_PW). */
struct srv_ck_user {
  uint8_t pw_salt[16], pw_hash[32];
  int64_t pw_n, pw_r, pw_p;
  int service, disabled, pw_must_change, sso, fresh_sso;
};
static const struct srv_col srv_ck_user_cols[] = {SRV_COL_BYTEA(struct srv_ck_user, pw_salt),
                                                  SRV_COL_BYTEA(struct srv_ck_user, pw_hash),
                                                  SRV_COL_INT64(struct srv_ck_user, pw_n),
                                                  SRV_COL_INT64(struct srv_ck_user, pw_r),
                                                  SRV_COL_INT64(struct srv_ck_user, pw_p),
                                                  SRV_COL_BOOL(struct srv_ck_user, service),
                                                  SRV_COL_BOOL(struct srv_ck_user, disabled),
                                                  SRV_COL_BOOL(struct srv_ck_user, pw_must_change),
                                                  SRV_COL_BOOL(struct srv_ck_user, sso),
                                                  SRV_COL_BOOL(struct srv_ck_user, fresh_sso),
                                                  SRV_COL_END};

struct srv_ck {
  struct srv_request *req;
  const char *password;
  char pub_hex[65], fpr[65];
  /* step 1 */
  int has_key, service, have_pw, sso, fresh_sso;
  char old_fpr[65];
  struct srv_pwhash pw;
  struct srv_login_limit lim; /* the failure reserved before scrypt */
  /* step 3 */
  int bad_password;
  struct srv_ep_fail fail;
};

static enum srv_db_status srv_ck_read_txn(struct srv_db *db, void *cls)
{
  struct srv_ck *s = cls;
  const struct srv_principal *p = srv_request_principal(s->req);
  const char *p1[1] = {p->id};
  enum srv_db_status st;
  PGresult *r;
  struct srv_ck_user u;

  s->has_key = s->have_pw = s->service = 0;
  if (!(r = srv_db_exec(db, SRV_STMT_RET_CLIENT_KEY_GET, p1, &st)))
    return st;
  if ((s->has_key = PQntuples(r) == 1))
    snprintf(s->old_fpr, sizeof s->old_fpr, "%s", srv_row_text(r, "fingerprint"));
  PQclear(r);
  if (!s->has_key || strcmp(s->old_fpr, s->fpr) == 0)
    return SRV_DB_OK;
  char tok[24];
  const char *p2[2] = {p->id, tok};
  snprintf(tok, sizeof tok, "%lld", p->token_id);
  if (!(r = srv_db_exec(db, SRV_STMT_CK_USER_PW, p2, &st)))
    return st;
  st =
    PQntuples(r) == 1 && srv_row_read(r, 0, srv_ck_user_cols, &u) != 0 ? SRV_DB_ERROR : SRV_DB_OK;
  if (PQntuples(r) == 1 && st == SRV_DB_OK) {
    s->service = u.service;
    s->sso = u.sso;
    s->fresh_sso = u.sso && u.fresh_sso && !u.disabled;
    /* a one-time password (set by an admin) re-authenticates nobody: the
     * admin knows it */
    s->have_pw = !u.disabled && !u.pw_must_change;
    s->pw =
      (struct srv_pwhash){.n = (unsigned)u.pw_n, .r = (unsigned)u.pw_r, .p = (unsigned)u.pw_p};
    memcpy(s->pw.salt, u.pw_salt, sizeof u.pw_salt);
    memcpy(s->pw.hash, u.pw_hash, sizeof u.pw_hash);
  }
  PQclear(r);
  ke_wipe(&u, sizeof u);
  return st;
}

static enum srv_db_status srv_ck_audit(struct srv_db *db, struct srv_ck *s, const char *action,
                                       const char *outcome, json_t *d)
{
  const struct srv_principal *p = srv_request_principal(s->req);
  char obj[160];
  struct srv_audit_event ev = {action, obj, outcome, d, NULL};
  enum srv_db_status st;

  if (!d)
    return SRV_DB_ERROR;
  snprintf(obj, sizeof obj, "user:%s", p->name);
  st = srv_audit_append(db, s->req, &ev);
  json_decref(d);
  return st;
}

static enum srv_db_status srv_ck_write_txn(struct srv_db *db, void *cls)
{
  struct srv_ck *s = cls;
  const struct srv_principal *p = srv_request_principal(s->req);
  const char *p1[1] = {p->id}, *p3[3] = {p->id, s->pub_hex, s->fpr};
  enum srv_db_status st;
  PGresult *r;
  int had, raced;

  if (s->bad_password) /* the failure reserved before scrypt stays counted */
    return srv_ck_audit(db, s, "client_key.replace", "failure",
                        json_pack("{s:s,s:s,s:s}", "reason", "bad_password", "old_fingerprint",
                                  s->old_fpr, "fingerprint", s->fpr));
  /* The key the decision was made on must still be the current one. */
  if (!(r = srv_db_exec(db, SRV_STMT_CK_CURRENT, p1, &st)))
    return st;
  had = PQntuples(r) == 1;
  raced = had != s->has_key || (had && strcmp(srv_row_text(r, "fingerprint"), s->old_fpr) != 0);
  PQclear(r);
  if (raced)
    return srv_ep_fail(&s->fail, SRV_ERR_CONFLICT,
                       "Your client key changed meanwhile: look at it and retry");
  if (!(r = srv_db_exec(db, SRV_STMT_RET_CLIENT_KEY_PUT, p3, &st)))
    return st;
  PQclear(r);
  if (!(r = srv_db_exec(db, SRV_STMT_CK_HISTORY_CLOSE, p1, &st)))
    return st;
  PQclear(r);
  if (!(r = srv_db_exec(db, SRV_STMT_CK_HISTORY_ADD, p3, &st)))
    return st;
  PQclear(r);
  if (!s->has_key)
    return srv_ck_audit(db, s, "client_key.register", "success",
                        json_pack("{s:s}", "fingerprint", s->fpr));
  return srv_ck_audit(db, s, "client_key.replace", "success",
                      json_pack("{s:s,s:s,s:s}", "old_fingerprint", s->old_fpr, "fingerprint",
                                s->fpr, "reauthenticated", s->fresh_sso ? "sso" : "password"));
}

static enum srv_db_status srv_ck_reserve_txn(struct srv_db *db, void *cls)
{
  return srv_login_limit_reserve(db, &((struct srv_ck *)cls)->lim);
}

static enum srv_db_status srv_ck_release_txn(struct srv_db *db, void *cls)
{
  return srv_login_limit_release(db, &((struct srv_ck *)cls)->lim);
}

/* Step 2 of a replacement: may the caller replace the key?  0, or 1 when
 * answered (*ret). */
static int srv_ck_reauth(struct srv_request *req, struct srv_ck *s, enum MHD_Result *ret)
{
  if (s->service) {
    *ret = srv_reply_error(req, SRV_ERR_FORBIDDEN,
                           "A service account has no password, so its client key cannot be "
                           "replaced: make a new service account");
    return 1;
  }
  enum srv_db_status st;

  if (s->sso) {
    if (s->fresh_sso)
      return 0;
    *ret = srv_reply_error(req, SRV_ERR_REAUTHENTICATION_REQUIRED,
                           "Replacing your client key needs a fresh single sign-on: log in "
                           "again, then replace it within five minutes");
    return 1;
  }
  if (!s->password) {
    *ret = srv_reply_error(req, SRV_ERR_REAUTHENTICATION_REQUIRED, NULL);
    return 1;
  }
  /* A password guess here is a login attempt: the same limits, and the
   * failure is reserved before scrypt runs (srv_login_limits.h), so that
   * parallel guesses through this route cannot exceed them either. */
  s->lim.account = srv_request_principal(req)->name;
  s->lim.source = srv_request_remote(req);
  if ((st = srv_db_txn(SRV_DB_READ_COMMITTED, srv_ck_reserve_txn, s)) != SRV_DB_OK) {
    *ret = srv_ep_db_error(req, st);
    return 1;
  }
  if (s->lim.retry_after > 0) {
    char ra[24];
    snprintf(ra, sizeof ra, "%lld", s->lim.retry_after);
    srv_reply_header(req, MHD_HTTP_HEADER_RETRY_AFTER, ra);
    *ret = srv_reply_error(req, SRV_ERR_TOO_MANY_ATTEMPTS, NULL);
    return 1;
  }
  /* Always scrypt, as a login does (a dummy hash for an unusable account). */
  s->bad_password = !srv_account_check_password(s->have_pw ? &s->pw : NULL, s->password);
  if (!s->bad_password &&
      (st = srv_db_txn(SRV_DB_READ_COMMITTED, srv_ck_release_txn, s)) != SRV_DB_OK) {
    *ret = srv_ep_db_error(req, st);
    return 1;
  }
  return 0;
}

enum MHD_Result srv_ep_client_key_put(struct srv_request *req)
{
  struct srv_ck_body b;
  struct srv_ck s;
  uint8_t h[32];
  unsigned hl = 0;
  enum srv_db_status st;
  enum MHD_Result ret;
  EVP_PKEY *k;

  if (srv_ep_body(req, &srv_ep_client_key_put_body, &b, &ret))
    return ret;
  memset(&s, 0, sizeof s);
  s.req = req;
  s.password = b.password;
  /* A key OpenSSL cannot load is refused now, not at the first request. */
  if (!(k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, b.public_key, 32)))
    return srv_ep_bad(req, "public_key: not an Ed25519 public key");
  EVP_PKEY_free(k);
  if (EVP_Digest(b.public_key, 32, h, &hl, EVP_sha256(), NULL) != 1 || hl != 32)
    return srv_reply_error(req, SRV_ERR_INTERNAL, NULL);
  ke_hex_encode(s.pub_hex, b.public_key, 32);
  ke_hex_encode(s.fpr, h, sizeof h);
  if ((st = srv_db_txn(SRV_DB_READ_ONLY, srv_ck_read_txn, &s)) != SRV_DB_OK) {
    ke_wipe(&s.pw, sizeof s.pw);
    return srv_ep_db_error(req, st);
  }
  if (s.has_key && strcmp(s.old_fpr, s.fpr) == 0)
    return srv_reply_json(req, MHD_HTTP_OK,
                          json_pack("{s:s,s:b}", "fingerprint", s.fpr, "replaced", 0));
  if (s.has_key && srv_ck_reauth(req, &s, &ret)) {
    ke_wipe(&s.pw, sizeof s.pw);
    return ret;
  }
  ke_wipe(&s.pw, sizeof s.pw);
  if (srv_ep_txn(req, SRV_DB_SERIALIZABLE, srv_ck_write_txn, &s, &s.fail, &ret))
    return ret;
  if (s.bad_password)
    return srv_reply_error(req, SRV_ERR_REAUTHENTICATION_REQUIRED,
                           "The password is wrong (it counts as a failed login)");
  if (!s.has_key)
    return srv_reply_json(req, MHD_HTTP_OK,
                          json_pack("{s:s,s:b}", "fingerprint", s.fpr, "replaced", 0));
  return srv_reply_json(
    req, MHD_HTTP_OK,
    json_pack("{s:s,s:b,s:s}", "fingerprint", s.fpr, "replaced", 1, "old_fingerprint", s.old_fpr));
}
