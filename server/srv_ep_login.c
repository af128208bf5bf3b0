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
#include <string.h>

#include "ke_log.h"
#include "ke_util.h"
#include "srv_account.h"
#include "srv_audit.h"
#include "srv_auth.h"
#include "srv_ep.h"
#include "srv_login_limits.h"
#include "srv_oidc_map.h"
#include "srv_routes.h"
#include "srv_rows.h"

struct srv_login_body {
  const char *user, *password, *new_password;
};
static const struct ke_jfield srv_login_fields[] = {
  KE_JF_STR(struct srv_login_body, user, 1, SRV_NAME_MAX, srv_account_name_ok,
            "user: a user name is required"),
  KE_JF_STR(struct srv_login_body, password, 1, SRV_PASSWORD_MAX, NULL,
            "password: a string of 1 to 1024 bytes is required"),
  /* Its rules are checked by the handler (srv_account_password_problem). */
  KE_JF_STR_OPT(struct srv_login_body, new_password, 0, INT64_MAX, NULL,
                "new_password must be a string"),
  KE_JF_END};
const struct ke_jspec srv_ep_login_body = KE_JSPEC(struct srv_login_body, srv_login_fields, 0);

/* The account as step 1 reads it (LOGIN_USER). */
struct srv_login_user {
  const char *id;
  uint8_t pw_salt[16], pw_hash[32];
  int64_t pw_n, pw_r, pw_p;
  int pw_must_change, disabled;
};
static const struct srv_col srv_login_user_cols[] = {
  SRV_COL_TEXT(struct srv_login_user, id),
  SRV_COL_BYTEA(struct srv_login_user, pw_salt),
  SRV_COL_BYTEA(struct srv_login_user, pw_hash),
  SRV_COL_INT64(struct srv_login_user, pw_n),
  SRV_COL_INT64(struct srv_login_user, pw_r),
  SRV_COL_INT64(struct srv_login_user, pw_p),
  SRV_COL_BOOL(struct srv_login_user, pw_must_change),
  SRV_COL_BOOL(struct srv_login_user, disabled),
  SRV_COL_END};

/* The account as step 3 finds it, locked (LOGIN_USER_LOCK). */
struct srv_login_now {
  const char *id, *role;
  int64_t custodian_index;
  int disabled, sso;
  uint8_t pw_hash[32];
};
static const struct srv_col srv_login_now_cols[] = {
  SRV_COL_TEXT(struct srv_login_now, id),
  SRV_COL_TEXT(struct srv_login_now, role),
  SRV_COL_INT64_NULL(struct srv_login_now, custodian_index),
  SRV_COL_BOOL(struct srv_login_now, disabled),
  SRV_COL_BYTEA(struct srv_login_now, pw_hash),
  SRV_COL_BOOL(struct srv_login_now, sso),
  SRV_COL_END};

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
  int change_required; /* right one-time password, no new_password */
  const char *reason;  /* failure reason (audit only) */
  int pw_change;       /* the password changes to new_pw */
  struct srv_pwhash new_pw;
  int rehashed;  /* ... only to the configured scrypt cost */
  int local_off; /* a right password, but password login is off for it */
  char token_hash[2 * 32 + 3], lifetime[16], token_id[24], expires[40], role[16];
  int custodian_index;
};

static enum srv_db_status srv_login_read_txn(struct srv_db *db, void *cls)
{
  struct srv_login *l = cls;
  const char *p1[1] = {l->name};
  enum srv_db_status st;
  PGresult *r;
  struct srv_login_user u;

  l->exists = 0;
  if ((st = srv_login_limit_reserve(db, &l->lim)) || l->lim.retry_after > 0)
    return st;
  r = srv_db_exec(db, SRV_STMT_LOGIN_USER, p1, &st);
  if (!r)
    return st;
  /* A row that cannot be read is an account that cannot log in. */
  if (PQntuples(r) == 1 && srv_row_read(r, 0, srv_login_user_cols, &u) == 0) {
    l->exists = 1;
    snprintf(l->user_id, sizeof l->user_id, "%s", u.id);
    l->pw =
      (struct srv_pwhash){.n = (unsigned)u.pw_n, .r = (unsigned)u.pw_r, .p = (unsigned)u.pw_p};
    memcpy(l->pw.salt, u.pw_salt, sizeof l->pw.salt);
    memcpy(l->pw.hash, u.pw_hash, sizeof l->pw.hash);
    l->must_change = u.pw_must_change;
    l->disabled = u.disabled;
  }
  PQclear(r);
  ke_wipe(&u, sizeof u); /* the stored hash: l->pw holds it until it is wiped */
  return SRV_DB_OK;
}

/* Step 3 of a right password: the session, and the password change. */
static enum srv_db_status srv_login_success(struct srv_db *db, struct srv_login *l, json_t **d)
{
  const char *p1[1] = {l->name};
  const char *p6[6] = {l->user_id, "login", l->token_hash, "login", l->lifetime, NULL};
  enum srv_db_status st;
  PGresult *r;
  struct srv_login_now u;

  /* The account may have changed since step 1: disabled, replaced, or its
   * password reset or changed (the hash differs).  Locked until commit. */
  r = srv_db_exec(db, SRV_STMT_LOGIN_USER_LOCK, p1, &st);
  if (!r)
    return st;
  if (PQntuples(r) != 1 || srv_row_read(r, 0, srv_login_now_cols, &u) != 0 ||
      strcmp(u.id, l->user_id) != 0 || u.disabled ||
      !ke_ct_eq(u.pw_hash, l->pw.hash, sizeof u.pw_hash)) {
    PQclear(r);
    ke_wipe(u.pw_hash, sizeof u.pw_hash);
    return SRV_DB_ABORT; /* caller retries as a failure */
  }
  ke_wipe(u.pw_hash, sizeof u.pw_hash);
  /* An SSO account has no password; break-glass rules (local_login_*)
   * may turn password login off for the others. */
  if (u.sso || !srv_local_login_allowed(l->name, u.role)) {
    PQclear(r);
    l->local_off = 1;
    return SRV_DB_ABORT;
  }
  snprintf(l->role, sizeof l->role, "%s", u.role);
  l->custodian_index = (int)u.custodian_index;
  PQclear(r);
  if ((st = srv_login_limit_release(db, &l->lim)))
    return st;
  if (l->pw_change) {
    struct srv_pwhash_params h;
    const char *pp6[6] = {l->user_id, h.salt, h.hash, h.n, h.r, h.p};
    srv_pwhash_params(&h, &l->new_pw);
    r = srv_db_exec(db, SRV_STMT_USER_SET_PASSWORD, pp6, &st);
    ke_wipe(&h, sizeof h);
    if (!r)
      return st;
    PQclear(r);
  }
  if (!(r = srv_db_exec(db, SRV_STMT_TOKEN_INSERT, p6, &st)))
    return st;
  snprintf(l->token_id, sizeof l->token_id, "%s", srv_row_text(r, "id"));
  snprintf(l->expires, sizeof l->expires, "%s", srv_row_text(r, "expires"));
  PQclear(r);
  *d = json_pack("{s:s,s:b,s:b}", "token_id", l->token_id, "password_changed",
                 l->pw_change && !l->rehashed, "rehashed", l->rehashed);
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

static enum MHD_Result srv_login_429(struct srv_request *req, const char *name, long long secs)
{
  char ra[24], msg[96];

  snprintf(ra, sizeof ra, "%lld", secs > 0 ? secs : 1);
  srv_reply_header(req, MHD_HTTP_HEADER_RETRY_AFTER, ra);
  ke_log(KE_LOG_WARN, "login refused: too many failures",
         json_pack("{s:s,s:s,s:s,s:I}", "request_id", srv_request_id(req), "user", name, "remote",
                   srv_request_remote(req), "retry_after", (json_int_t)secs));
  /* The wait in the message too: escrowctl shows the message. */
  snprintf(msg, sizeof msg, "Too many failed logins; this address may retry in %s seconds", ra);
  return srv_reply_error(req, SRV_ERR_TOO_MANY_ATTEMPTS, msg);
}

/* Step 2: scrypt, and what a right password leads to (a new hash, a
 * session token).  0, or -1 when something failed on our side. */
static int srv_login_check(struct srv_login *l, const struct srv_login_body *b,
                           char token[SRV_TOKEN_TEXT_MAX + 1])
{
  uint8_t hash[32] = {0};
  int ok = srv_account_check_password(l->exists && !l->disabled ? &l->pw : NULL, b->password);

  l->change_required = ok && l->must_change && !b->new_password;
  l->success = ok && !l->change_required;
  l->reason = !l->exists ? "unknown_user" : l->disabled ? "disabled" : "bad_password";
  /* Without a new password, one stored under another scrypt cost than the
   * configured one (raised since, or lowered) is rehashed now, the only
   * moment the password is at hand, so that raising scrypt_log2n reaches
   * every active account. */
  if (l->success && (b->new_password || !srv_account_pw_current(&l->pw))) {
    l->rehashed = !b->new_password;
    l->pw_change = 1;
    if (srv_account_hash_password(&l->new_pw, l->rehashed ? b->password : b->new_password))
      return -1;
  }
  if (l->success && srv_account_new_token('s', token, hash) != 0)
    return -1;
  srv_bytea_param(l->token_hash, hash, sizeof hash);
  snprintf(l->lifetime, sizeof l->lifetime, "%u", srv_auth_cfg.session_lifetime);
  return 0;
}

enum MHD_Result srv_ep_login(struct srv_request *req)
{
  struct srv_login_body b;
  struct srv_login l;
  char token[SRV_TOKEN_TEXT_MAX + 1];
  const char *problem;
  enum srv_db_status st;
  enum MHD_Result ret;
  json_t *out;
  int bad;

  if (srv_ep_body(req, &srv_ep_login_body, &b, &ret))
    return ret;
  if (b.new_password && (problem = srv_account_password_problem(b.new_password)))
    return srv_reply_error(req, SRV_ERR_BAD_REQUEST, problem);
  if (b.new_password && strcmp(b.new_password, b.password) == 0)
    return srv_reply_error(req, SRV_ERR_BAD_REQUEST, "new_password must differ from password");
  memset(&l, 0, sizeof l);
  l.req = req;
  l.name = l.lim.account = b.user;
  /* The same source the audit log names (behind trusted proxies, the
   * client's address from X-Forwarded-For). */
  l.lim.source = srv_request_remote(req);
  /* Read committed: the limit rows' locks serialise concurrent logins. */
  st = srv_db_txn(SRV_DB_READ_COMMITTED, srv_login_read_txn, &l);
  if (st != SRV_DB_OK)
    return srv_ep_db_error(req, st);
  if (l.lim.retry_after > 0)
    return srv_login_429(req, l.name, l.lim.retry_after);
  bad = srv_login_check(&l, &b, token) != 0;
  st = bad ? SRV_DB_ERROR : srv_db_txn(SRV_DB_SERIALIZABLE, srv_login_write_txn, &l);
  if (st == SRV_DB_ABORT && l.success) {
    /* Disabled, replaced or its password reset between the two steps: a
     * failure after all. */
    l.success = 0;
    l.pw_change = 0;
    l.rehashed = 0;
    l.reason = l.local_off ? "local_login_disabled" : "account_changed";
    st = srv_db_txn(SRV_DB_SERIALIZABLE, srv_login_write_txn, &l);
  }
  ke_wipe(&l.new_pw, sizeof l.new_pw);
  ke_wipe(&l.pw, sizeof l.pw);
  if (st != SRV_DB_OK) {
    ke_wipe(token, sizeof token);
    return bad ? srv_reply_error(req, SRV_ERR_INTERNAL, NULL) : srv_ep_db_error(req, st);
  }
  if (l.change_required)
    return srv_reply_error(req, SRV_ERR_PASSWORD_CHANGE_REQUIRED, NULL);
  if (l.local_off)
    return srv_reply_error(req, SRV_ERR_LOCAL_LOGIN_DISABLED, NULL);
  if (!l.success) {
    srv_reply_header(req, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"keyescrow\"");
    return srv_reply_error(req, SRV_ERR_INVALID_CREDENTIALS, NULL);
  }
  out = json_pack("{s:s,s:s,s:s,s:I,s:s,s:s}", "token", token, "token_type", "Bearer", "expires",
                  l.expires, "expires_in", (json_int_t)srv_auth_cfg.session_lifetime, "role",
                  l.role, "user", l.name);
  ke_wipe(token, sizeof token);
  if (out && l.custodian_index)
    json_object_set_new(out, "custodian_index", json_integer(l.custodian_index));
  return srv_reply_json(req, MHD_HTTP_OK, out);
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

  if (!r)
    return st;
  lo->revoked = PQntuples(r) == 1;
  PQclear(r);
  d = json_pack("{s:s}", "token_id", lo->id);
  return srv_audit_success(db, lo->req, "auth.logout", "token", lo->id, d);
}

enum MHD_Result srv_ep_logout(struct srv_request *req)
{
  struct srv_logout lo = {req, "", 0};
  enum MHD_Result ret;

  snprintf(lo.id, sizeof lo.id, "%lld", srv_request_principal(req)->token_id);
  if (srv_ep_txn(req, SRV_DB_SERIALIZABLE, srv_logout_txn, &lo, NULL, &ret))
    return ret;
  return srv_reply_json(req, MHD_HTTP_OK, json_pack("{s:b}", "revoked", lo.revoked));
}
