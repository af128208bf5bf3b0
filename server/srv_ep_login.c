/*
 * srv_ep_login.c - POST /v1/login and POST /v1/logout.
 *
 * Login: {user, password[, new_password]} -> {token, expires, role, ...}.
 *  1. One READ COMMITTED transaction reads the account and reserves a
 *     failure in the login limits (srv_login_limits.h) under their row
 *     locks, BEFORE any scrypt: concurrent guesses queue there and cannot
 *     exceed a limit.  A source that must wait gets 429 with Retry-After
 *     and costs nothing more, whatever the password.
 *  2. scrypt, outside any transaction, and ALWAYS (a dummy hash for unknown
 *     or disabled accounts), so that timing does not say which names exist.
 *  3. One transaction records the outcome: on success the session token
 *     (its SHA-256 only) and the release of the reservation; on failure the
 *     reservation simply stays counted.  The audit event is in that same
 *     transaction.
 * Every failure gets the same 401 invalid_credentials, whatever the cause.
 * A generated (one-time) password must be replaced: without new_password
 * such a login gets 403 password_change_required and no token.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ke_json.h"
#include "ke_log.h"
#include "ke_util.h"
#include "srv_account.h"
#include "srv_audit.h"
#include "srv_auth.h"
#include "srv_ep.h"
#include "srv_login_limits.h"
#include "srv_routes.h"
#include "srv_rows.h"

struct srv_login {
  struct srv_request *req;
  const char *name;
  struct srv_login_limit lim;
  /* step 1 */
  int exists, disabled, must_change;
  char user_id[24];
  struct srv_pwhash pw;
  /* step 3 */
  int success;
  int change_required;     /* right one-time password, no new_password */
  const char *reason;      /* failure reason (audit only) */
  const struct srv_pwhash *new_pw; /* set when the password changes */
  int rehashed;            /* ... only to the configured scrypt cost */
  char token_hash[2 * 32 + 3];
  char lifetime[16];
  char token_id[24];
  char expires[40];
  char role[16];
  int custodian_index;
};

static enum srv_db_status srv_login_read_txn(struct srv_db *db, void *cls)
{
  struct srv_login *l = cls;
  const char *p1[1] = {l->name};
  enum srv_db_status st;
  PGresult *r;

  l->exists = 0;
  if ((st = srv_login_limit_reserve(db, &l->lim)) || l->lim.retry_after > 0)
    return st;
  r = srv_db_exec(db, SRV_STMT_LOGIN_USER, p1, &st);
  if (!r)
    return st;
  if (PQntuples(r) == 1 && srv_bytea_get(l->pw.salt, 16, r, 0, 2) == 0 &&
      srv_bytea_get(l->pw.hash, 32, r, 0, 3) == 0) {
    l->exists = 1;
    snprintf(l->user_id, sizeof l->user_id, "%s", PQgetvalue(r, 0, 0));
    l->pw.n = (unsigned)strtoul(PQgetvalue(r, 0, 4), NULL, 10);
    l->pw.r = (unsigned)strtoul(PQgetvalue(r, 0, 5), NULL, 10);
    l->pw.p = (unsigned)strtoul(PQgetvalue(r, 0, 6), NULL, 10);
    l->must_change = strcmp(PQgetvalue(r, 0, 7), "t") == 0;
    l->disabled = strcmp(PQgetvalue(r, 0, 8), "t") == 0;
  }
  PQclear(r);
  return SRV_DB_OK;
}

/* Step 3 of a right password: the session, and the password change. */
static enum srv_db_status srv_login_success(struct srv_db *db, struct srv_login *l,
                                            json_t **d)
{
  const char *p1[1] = {l->name};
  uint8_t now_hash[32];
  enum srv_db_status st;
  PGresult *r;

  /* The account may have changed since step 1: disabled, replaced, or its
   * password reset or changed (the hash differs).  Locked until commit. */
  r = srv_db_exec(db, SRV_STMT_LOGIN_USER_LOCK, p1, &st);
  if (!r)
    return st;
  if (PQntuples(r) != 1 || strcmp(PQgetvalue(r, 0, 0), l->user_id) != 0 ||
      strcmp(PQgetvalue(r, 0, 3), "t") == 0 ||
      srv_bytea_get(now_hash, sizeof now_hash, r, 0, 4) != 0 ||
      !ke_ct_eq(now_hash, l->pw.hash, sizeof now_hash)) {
    PQclear(r);
    return SRV_DB_ABORT; /* caller retries as a failure */
  }
  snprintf(l->role, sizeof l->role, "%s", PQgetvalue(r, 0, 1));
  l->custodian_index = PQgetisnull(r, 0, 2) ? 0 : atoi(PQgetvalue(r, 0, 2));
  PQclear(r);
  if ((st = srv_login_limit_release(db, &l->lim)))
    return st;
  if (l->new_pw) {
    char salt[35], hash[67], n[16], rr[16], pp[16];
    const char *pp6[6] = {l->user_id, salt, hash, n, rr, pp};
    srv_bytea_param(salt, l->new_pw->salt, 16);
    srv_bytea_param(hash, l->new_pw->hash, 32);
    snprintf(n, sizeof n, "%u", l->new_pw->n);
    snprintf(rr, sizeof rr, "%u", l->new_pw->r);
    snprintf(pp, sizeof pp, "%u", l->new_pw->p);
    if (!(r = srv_db_exec(db, SRV_STMT_USER_SET_PASSWORD, pp6, &st)))
      return st;
    PQclear(r);
  }
  {
    const char *p6[6] = {l->user_id, "login", l->token_hash, "login", l->lifetime, NULL};
    if (!(r = srv_db_exec(db, SRV_STMT_TOKEN_INSERT, p6, &st)))
      return st;
    snprintf(l->token_id, sizeof l->token_id, "%s", PQgetvalue(r, 0, 0));
    snprintf(l->expires, sizeof l->expires, "%s", PQgetvalue(r, 0, 1));
    PQclear(r);
  }
  *d = json_pack("{s:s,s:b,s:b}", "token_id", l->token_id, "password_changed",
                 l->new_pw != NULL && !l->rehashed, "rehashed", l->rehashed);
  return SRV_DB_OK;
}

static enum srv_db_status srv_login_write_txn(struct srv_db *db, void *cls)
{
  struct srv_login *l = cls;
  enum srv_db_status st;
  char object[SRV_NAME_MAX + 8];
  json_t *d = NULL;
  struct srv_audit_event ev;
  char actor[SRV_NAME_MAX + 8];

  snprintf(object, sizeof object, "user:%s", l->name);
  if (l->success) {
    if ((st = srv_login_success(db, l, &d)))
      return st;
    snprintf(actor, sizeof actor, "user:%s", l->name);
    ev = (struct srv_audit_event){"auth.login", object, "success", d, actor};
  } else if (l->change_required) {
    /* The password was right: its reservation is given back. */
    if ((st = srv_login_limit_release(db, &l->lim)))
      return st;
    d = json_pack("{s:s}", "reason", "password_change_required");
    ev = (struct srv_audit_event){"auth.login", object, "failure", d, NULL};
  } else {
    /* The failure was counted in step 1; here it is only audited, with
     * the wait it started (the lockout of that source). */
    uint8_t b;
    d = json_pack("{s:s}", "reason", l->reason);
    if (d && l->lim.started) {
      json_object_set_new(d, "locked_for", json_integer(l->lim.started));
      json_object_set_new(d, "limit", json_string(l->lim.limit));
    }
    ev = (struct srv_audit_event){"auth.login", object, "failure", d, NULL};
    /* Old counters go away now and then (1 failure in 16). */
    if (ke_random(&b, 1) == KE_OK && (b & 15) == 0 && (st = srv_login_limit_gc(db))) {
      json_decref(d);
      return st;
    }
  }
  if (!d)
    return SRV_DB_ERROR;
  st = srv_audit_append(db, l->req, &ev);
  json_decref(d);
  return st;
}

static enum MHD_Result srv_login_429(struct srv_request *req, const char *name,
                                     long long secs)
{
  char ra[24], msg[96];

  snprintf(ra, sizeof ra, "%lld", secs > 0 ? secs : 1);
  srv_reply_header(req, MHD_HTTP_HEADER_RETRY_AFTER, ra);
  ke_log(KE_LOG_WARN, "login refused: too many failures",
         json_pack("{s:s,s:s,s:s,s:I}", "request_id", srv_request_id(req), "user", name,
                   "remote", srv_request_remote(req), "retry_after", (json_int_t)secs));
  /* The wait in the message too: escrowctl shows the message. */
  snprintf(msg, sizeof msg, "Too many failed logins; this address may retry in %s seconds", ra);
  return srv_reply_error(req, SRV_ERR_TOO_MANY_ATTEMPTS, msg);
}

enum MHD_Result srv_ep_login(struct srv_request *req)
{
  static const char *const allowed[] = {"user", "password", "new_password", NULL};
  const json_t *body = srv_request_json(req);
  const char *password = NULL, *new_password = NULL, *problem;
  struct srv_login l;
  struct srv_pwhash new_pw;
  char token[SRV_TOKEN_TEXT_MAX + 1];
  uint8_t hash[32] = {0};
  enum srv_db_status st;
  enum MHD_Result ret;
  int ok;

  if (srv_account_unknown_member(req, body, allowed, &ret))
    return ret;
  memset(&l, 0, sizeof l);
  l.req = req;
  /* The same source the audit log names (behind trusted proxies, the
   * client's address from X-Forwarded-For). */
  l.lim.source = srv_request_remote(req);
  if (ke_json_get_str(body, "user", &l.name) != KE_JSON_OK || !srv_account_name_ok(l.name))
    return srv_reply_error(req, SRV_ERR_BAD_REQUEST, "user: a user name is required");
  l.lim.account = l.name;
  if (ke_json_get_str(body, "password", &password) != KE_JSON_OK || !password[0] ||
      strlen(password) > SRV_PASSWORD_MAX)
    return srv_reply_error(req, SRV_ERR_BAD_REQUEST,
                           "password: a string of 1 to 1024 bytes is required");
  switch (ke_json_get_str(body, "new_password", &new_password)) {
  case KE_JSON_OK:
    if ((problem = srv_account_password_problem(new_password)))
      return srv_reply_error(req, SRV_ERR_BAD_REQUEST, problem);
    if (strcmp(new_password, password) == 0)
      return srv_reply_error(req, SRV_ERR_BAD_REQUEST,
                             "new_password must differ from password");
    break;
  case KE_JSON_MISSING:
    new_password = NULL;
    break;
  default:
    return srv_reply_error(req, SRV_ERR_BAD_REQUEST, "new_password must be a string");
  }

  /* Read committed: the limit rows' locks serialise concurrent logins. */
  st = srv_db_txn(SRV_DB_READ_COMMITTED, srv_login_read_txn, &l);
  if (st != SRV_DB_OK)
    return srv_ep_db_error(req, st);
  if (l.lim.retry_after > 0)
    return srv_login_429(req, l.name, l.lim.retry_after);

  ok = srv_account_check_password(l.exists && !l.disabled ? &l.pw : NULL, password);
  l.change_required = ok && l.must_change && !new_password;
  l.success = ok && !l.change_required;
  l.reason = !l.exists ? "unknown_user" : l.disabled ? "disabled" : "bad_password";
  if (l.success && new_password) {
    if (srv_account_hash_password(&new_pw, new_password) != 0)
      return srv_reply_error(req, SRV_ERR_INTERNAL, NULL);
    l.new_pw = &new_pw;
  } else if (l.success && !srv_account_pw_current(&l.pw)) {
    /* Stored under another scrypt cost than the configured one (raised
     * since, or lowered): rehash now, the only moment the password is at
     * hand, so that raising scrypt_log2n reaches every active account. */
    if (srv_account_hash_password(&new_pw, password) != 0)
      return srv_reply_error(req, SRV_ERR_INTERNAL, NULL);
    l.new_pw = &new_pw;
    l.rehashed = 1;
  }
  if (l.success && srv_account_new_token('s', token, hash) != 0)
    return srv_reply_error(req, SRV_ERR_INTERNAL, NULL);
  srv_bytea_param(l.token_hash, hash, sizeof hash);
  snprintf(l.lifetime, sizeof l.lifetime, "%u", srv_auth_cfg.session_lifetime);
  st = srv_db_txn(SRV_DB_SERIALIZABLE, srv_login_write_txn, &l);
  if (st == SRV_DB_ABORT && l.success) {
    /* Disabled, replaced or its password reset between the two steps: a
     * failure after all. */
    l.success = 0;
    l.new_pw = NULL;
    l.rehashed = 0;
    l.reason = "account_changed";
    st = srv_db_txn(SRV_DB_SERIALIZABLE, srv_login_write_txn, &l);
  }
  ke_wipe(&new_pw, sizeof new_pw);
  ke_wipe(&l.pw, sizeof l.pw);
  if (st != SRV_DB_OK) {
    ke_wipe(token, sizeof token);
    return srv_ep_db_error(req, st);
  }
  if (l.change_required)
    return srv_reply_error(req, SRV_ERR_PASSWORD_CHANGE_REQUIRED, NULL);
  if (!l.success) {
    srv_reply_header(req, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"keyescrow\"");
    return srv_reply_error(req, SRV_ERR_INVALID_CREDENTIALS, NULL);
  }
  {
    json_t *out = json_pack("{s:s,s:s,s:s,s:I,s:s,s:s}", "token", token, "token_type",
                            "Bearer", "expires", l.expires, "expires_in",
                            (json_int_t)srv_auth_cfg.session_lifetime, "role", l.role,
                            "user", l.name);
    ke_wipe(token, sizeof token);
    if (out && l.custodian_index)
      json_object_set_new(out, "custodian_index", json_integer(l.custodian_index));
    return srv_reply_json(req, MHD_HTTP_OK, out);
  }
}

struct srv_logout {
  struct srv_request *req;
  char id[24];
  int revoked;
};

static enum srv_db_status srv_logout_txn(struct srv_db *db, void *cls)
{
  struct srv_logout *lo = cls;
  const char *p1[1] = {lo->id};
  enum srv_db_status st;
  PGresult *r = srv_db_exec(db, SRV_STMT_TOKEN_REVOKE, p1, &st);
  json_t *d;
  struct srv_audit_event ev;
  char object[40];

  if (!r)
    return st;
  lo->revoked = PQntuples(r) == 1;
  PQclear(r);
  snprintf(object, sizeof object, "token:%s", lo->id);
  d = json_pack("{s:s}", "token_id", lo->id);
  if (!d)
    return SRV_DB_ERROR;
  ev = (struct srv_audit_event){"auth.logout", object, "success", d, NULL};
  st = srv_audit_append(db, lo->req, &ev);
  json_decref(d);
  return st;
}

enum MHD_Result srv_ep_logout(struct srv_request *req)
{
  struct srv_logout lo = {req, "", 0};
  enum srv_db_status st;

  snprintf(lo.id, sizeof lo.id, "%lld", srv_request_principal(req)->token_id);
  st = srv_db_txn(SRV_DB_SERIALIZABLE, srv_logout_txn, &lo);
  if (st != SRV_DB_OK)
    return srv_ep_db_error(req, st);
  return srv_reply_json(req, MHD_HTTP_OK, json_pack("{s:b}", "revoked", lo.revoked));
}
