/*
 * srv_ep_users_password.c - an administrator resets a user's password:
 *   POST /v1/users/{name}/password   {password?}            admin (route table)
 *
 * For a forgotten password or a suspected compromise.  In one transaction:
 * the new hash replaces the old one and must be changed at the next login
 * (pw_must_change, as for a new account), every login session of the user
 * is revoked (API tokens are separate credentials, revoked on their own),
 * the user's failed-login counters are cleared, the per-source ones too (a
 * source made to wait can log in with the new one at once, and no source
 * stays known from before the reset), and user.password_reset is audited.  Without
 * a password in the body the server generates one and returns it once,
 * like POST /v1/users.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ke_util.h"
#include "srv_account.h"
#include "srv_audit.h"
#include "srv_ep.h"
#include "srv_login_limits.h"
#include "srv_routes.h"
#include "srv_rows.h"

struct srv_pwreset {
  struct srv_request *req;
  const char *name;
  struct srv_pwhash pw;
  long long revoked;
  struct srv_ep_fail fail;
};

static enum srv_db_status srv_pwreset_txn(struct srv_db *db, void *cls)
{
  struct srv_pwreset *p = cls;
  char id[24];
  struct srv_pwhash_params h;
  const char *p6[6] = {p->name, h.salt, h.hash, h.n, h.r, h.p};
  const char *pid[1] = {id}, *pfail[2] = {"user", p->name};
  enum srv_db_status st;
  PGresult *r;

  srv_pwhash_params(&h, &p->pw);
  r = srv_db_exec(db, SRV_STMT_USER_RESET_PASSWORD, p6, &st);
  ke_wipe(&h, sizeof h);
  if (!r)
    return st;
  snprintf(id, sizeof id, "%s", PQntuples(r) == 1 ? srv_row_text(r, "id") : "");
  PQclear(r);
  if (!id[0])
    return srv_ep_fail(&p->fail, SRV_ERR_NOT_FOUND,
                       "No such user (or a service account: those have no password)");
  if (!(r = srv_db_exec(db, SRV_STMT_TOKEN_REVOKE_LOGINS, pid, &st)))
    return st;
  p->revoked = strtoll(PQcmdTuples(r), NULL, 10);
  PQclear(r);
  /* Per-source rows before the account's: the order a login locks them
   * in, so the two never deadlock. */
  if ((st = srv_login_limit_clear_account(db, p->name)))
    return st;
  if (!(r = srv_db_exec(db, SRV_STMT_LOGIN_FAIL_CLEAR, pfail, &st)))
    return st;
  PQclear(r);
  return srv_audit_success(db, p->req, "user.password_reset", "user", p->name,
                           json_pack("{s:I}", "sessions_revoked", (json_int_t)p->revoked));
}

struct srv_pwreset_body {
  const char *password;
};
static const struct ke_jfield srv_pwreset_fields[] = {
  /* Its rules are checked by srv_account_body_password. */
  KE_JF_STR_OPT(struct srv_pwreset_body, password, 0, INT64_MAX, NULL, "password must be a string"),
  KE_JF_END};
const struct ke_jspec srv_ep_users_password_body =
  KE_JSPEC(struct srv_pwreset_body, srv_pwreset_fields, 0);

enum MHD_Result srv_ep_users_password(struct srv_request *req)
{
  struct srv_pwreset_body b;
  struct srv_pwreset p;
  char gen[SRV_GEN_PASSWORD_LEN + 1] = "";
  int generated = 0, failed;
  enum MHD_Result ret;
  json_t *out;

  memset(&p, 0, sizeof p);
  p.req = req;
  p.name = srv_request_param(req, "name");
  if (!p.name || !srv_account_name_ok(p.name))
    return srv_reply_error(req, SRV_ERR_NOT_FOUND, "No such user");
  if (srv_ep_body(req, &srv_ep_users_password_body, &b, &ret) ||
      srv_account_body_password(req, b.password, gen, &p.pw, &generated, &ret))
    return ret;
  failed = srv_ep_txn(req, SRV_DB_SERIALIZABLE, srv_pwreset_txn, &p, &p.fail, &ret);
  ke_wipe(&p.pw, sizeof p.pw);
  if (failed) {
    ke_wipe(gen, sizeof gen);
    return ret;
  }
  out = json_pack("{s:s,s:b,s:I}", "name", p.name, "password_must_change", 1, "sessions_revoked",
                  (json_int_t)p.revoked);
  if (out && generated)
    json_object_set_new(out, "one_time_password", json_string(gen));
  ke_wipe(gen, sizeof gen);
  return srv_reply_json(req, MHD_HTTP_OK, out);
}
