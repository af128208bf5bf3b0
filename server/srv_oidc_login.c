/*
 * srv_oidc_login.c - a verified ID token's way to a session
 * (srv_oidc_login.h).
 */
#include "srv_oidc_login.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ke_mail.h"
#include "ke_util.h"
#include "srv_audit.h"
#include "srv_auth.h"
#include "srv_oidc.h"
#include "srv_rows.h"

struct srv_oidc_user {
  int64_t id, custodian_index;
  const char *name, *role, *scope;
  int disabled;
};
static const struct srv_col srv_oidc_user_cols[] = {
  SRV_COL_INT64(struct srv_oidc_user, id),
  SRV_COL_TEXT(struct srv_oidc_user, name),
  SRV_COL_TEXT(struct srv_oidc_user, role),
  SRV_COL_INT64_NULL(struct srv_oidc_user, custodian_index),
  SRV_COL_BOOL(struct srv_oidc_user, disabled),
  SRV_COL_TEXT(struct srv_oidc_user, scope),
  SRV_COL_END};

int srv_oidc_judge(struct srv_oidc_identity *id, const json_t *claims, const char **why)
{
  /* The verifier took exp (integer or real, bounded) and found it in the
   * future, give or take the skew: the session ends no later than the ID
   * token, and a token at its very end (within the skew) makes none. */
  double exp = json_number_value(json_object_get(claims, "exp"));
  long long left = (long long)exp - (long long)time(NULL);
  const json_t *amr = json_object_get(claims, "amr");

  memset(id, 0, sizeof *id);
  id->claims = claims;
  id->issuer = srv_oidc_issuer();
  id->subject = json_string_value(json_object_get(claims, "sub"));
  srv_oidc_person(id->person, id->issuer, id->subject);
  id->mapped = srv_oidc_map_role(claims, &id->grant) == 0;
  /* No longer than the IdP vouches for the login, nor than ours. */
  id->lifetime = srv_auth_cfg.session_lifetime;
  if (left > 0 && (unsigned long long)left < id->lifetime)
    id->lifetime = (unsigned)left;
  if (id->lifetime < 1)
    id->lifetime = 1;
  id->details = json_pack("{s:s,s:s,s:s,s:O,s:O}", "method", "oidc", "issuer", id->issuer,
                          "subject", id->subject, "amr", json_is_array(amr) ? amr : json_null(),
                          "acr", json_object_get(claims, "acr") ?: json_null());
  if (!id->details)
    return *why = "internal", SRV_ERR_INTERNAL;
  if (left < 1)
    return *why = "expired", SRV_ERR_SSO_REFUSED;
  if (!id->mapped)
    return *why = "no_role", SRV_ERR_SSO_REFUSED;
  json_object_set_new(id->details, "role_from", json_string(id->grant.matched));
  if (!srv_oidc_map_mfa_ok(claims, id->grant.role))
    return *why = "mfa_required", SRV_ERR_MFA_REQUIRED;
  return 0;
}

void srv_oidc_identity_free(struct srv_oidc_identity *id)
{
  json_decref(id->details);
  id->details = NULL;
}

static enum srv_db_status srv_oidc_revoke_all(struct srv_db *db, long long user_id, int *n)
{
  char uid[24];
  const char *p1[1] = {uid};
  enum srv_db_status st;
  PGresult *r;

  snprintf(uid, sizeof uid, "%lld", user_id);
  if (!(r = srv_db_exec(db, SRV_STMT_USER_TOKENS_REVOKE_ALL, p1, &st)))
    return st;
  *n = PQntuples(r);
  PQclear(r);
  return SRV_DB_OK;
}

/* The account a first login makes: a name that is free, the person of the
 * identity, no password anybody knows, the e-mail when it is a plain one. */
static enum srv_db_status srv_oidc_make(struct srv_db *db, struct srv_request *req,
                                        struct srv_oidc_identity *id)
{
  const char *email = json_string_value(json_object_get(id->claims, "email"));
  char idx[8] = "", name[64];
  struct srv_pwhash pw = {.n = 2, .r = 1, .p = 1};
  struct srv_pwhash_params h;
  enum srv_db_status st;
  PGresult *r;
  int attempt = 0;

  for (;; attempt++) {
    const char *p1[1] = {name};
    srv_oidc_account_name(name, id->claims, id->person, attempt);
    if (!(r = srv_db_exec(db, SRV_STMT_OIDC_NAME_TAKEN, p1, &st)))
      return st;
    int taken = strcmp(srv_row_text(r, "taken") ?: "t", "f") != 0;
    PQclear(r);
    if (!taken)
      break;
    if (attempt > 10)
      return SRV_DB_ERROR;
  }
  if (ke_random(pw.salt, sizeof pw.salt) != KE_OK || ke_random(pw.hash, sizeof pw.hash) != KE_OK)
    return SRV_DB_ERROR;
  srv_pwhash_params(&h, &pw);
  ke_wipe(&pw, sizeof pw);
  if (id->grant.custodian_index)
    snprintf(idx, sizeof idx, "%d", id->grant.custodian_index);
  /* Mail about requests goes to an address the IdP vouches for: one it
   * says it has not verified is not taken. */
  if (email &&
      (!ke_mail_addr_ok(email) || json_is_false(json_object_get(id->claims, "email_verified"))))
    email = NULL;
  {
    const char *p13[13] = {
      name,       id->grant.role, idx[0] ? idx : NULL, h.salt, h.hash,         h.n, h.r, h.p,
      id->person, id->issuer,     id->subject,         email,  id->grant.scope};
    r = srv_db_exec(db, SRV_STMT_OIDC_USER_INSERT, p13, &st);
  }
  ke_wipe(&h, sizeof h);
  if (!r)
    return st;
  id->user_id = atoll(srv_row_text(r, "id") ?: "0");
  PQclear(r);
  snprintf(id->name, sizeof id->name, "%s", name);
  snprintf(id->role, sizeof id->role, "%s", id->grant.role);
  id->custodian_index = id->grant.custodian_index;
  json_t *d = json_pack("{s:s,s:s,s:s,s:s,s:s}", "role", id->role, "password", "none", "source",
                        "oidc", "subject", id->subject, "person", id->person);
  if (d && id->grant.scope[0])
    json_object_set_new(d, "scope", json_string(id->grant.scope));
  if (d && idx[0])
    json_object_set_new(d, "custodian_index", json_integer(id->custodian_index));
  return srv_audit_success(db, req, "user.create", "user", name, d);
}

enum srv_db_status srv_oidc_account(struct srv_db *db, struct srv_request *req,
                                    struct srv_oidc_identity *id, struct srv_ep_fail *fail)
{
  const char *p2[2] = {id->issuer, id->subject};
  struct srv_oidc_user u;
  enum srv_db_status st;
  PGresult *r;

  if (!(r = srv_db_exec(db, SRV_STMT_OIDC_USER_FIND, p2, &st)))
    return st;
  if (PQntuples(r) == 0) {
    PQclear(r);
    fail->constraint_code = SRV_ERR_CONFLICT;
    fail->constraint_message = "another account holds the custodian index this login maps to";
    return srv_oidc_make(db, req, id);
  }
  if (srv_row_read(r, 0, srv_oidc_user_cols, &u) != 0) {
    PQclear(r);
    return SRV_DB_ERROR;
  }
  id->user_id = u.id;
  snprintf(id->name, sizeof id->name, "%s", u.name);
  snprintf(id->role, sizeof id->role, "%s", u.role);
  id->custodian_index = (int)u.custodian_index;
  char was_scope[sizeof id->grant.scope];
  snprintf(was_scope, sizeof was_scope, "%s", u.scope);
  PQclear(r);
  if (u.disabled)
    return srv_ep_fail(fail, SRV_ERR_SSO_REFUSED, "This account is disabled here");
  if (strcmp(id->role, id->grant.role) == 0 && id->custodian_index == id->grant.custodian_index &&
      strcmp(was_scope, id->grant.scope) == 0)
    return SRV_DB_OK;
  /* The IdP's groups changed: the role follows them at this login. */
  char uid[24], idx[8] = "";
  snprintf(uid, sizeof uid, "%lld", id->user_id);
  if (id->grant.custodian_index)
    snprintf(idx, sizeof idx, "%d", id->grant.custodian_index);
  {
    const char *p4[4] = {uid, id->grant.role, idx[0] ? idx : NULL, id->grant.scope};
    fail->constraint_code = SRV_ERR_CONFLICT;
    fail->constraint_message = "another account holds the custodian index this login maps to";
    if (!(r = srv_db_exec(db, SRV_STMT_OIDC_USER_ROLE, p4, &st)))
      return st;
    PQclear(r);
    /* Sessions made under the old role (perhaps without the MFA the new
     * one needs) do not carry over: this login's session is the one. */
    const char *p1[1] = {uid};
    if (!(r = srv_db_exec(db, SRV_STMT_TOKEN_REVOKE_LOGINS, p1, &st)))
      return st;
    PQclear(r);
  }
  json_t *d = json_pack("{s:s,s:s,s:s,s:s,s:s}", "from", id->role, "to", id->grant.role, "source",
                        "oidc", "scope_from", was_scope, "scope_to", id->grant.scope);
  if (d && idx[0])
    json_object_set_new(d, "custodian_index", json_integer(id->grant.custodian_index));
  snprintf(id->role, sizeof id->role, "%s", id->grant.role);
  id->custodian_index = id->grant.custodian_index;
  return srv_audit_success(db, req, "user.role", "user", id->name, d);
}

struct srv_oidc_refusal {
  struct srv_request *req;
  struct srv_oidc_identity *id;
  const char *reason;
};

static enum srv_db_status srv_oidc_refuse_txn(struct srv_db *db, void *cls)
{
  struct srv_oidc_refusal *f = cls;
  const char *p2[2] = {f->id->issuer, f->id->subject};
  char object[96];
  enum srv_db_status st;
  PGresult *r;
  int revoked = 0;

  if (!(r = srv_db_exec(db, SRV_STMT_OIDC_USER_FIND, p2, &st)))
    return st;
  if (PQntuples(r) == 1) {
    long long uid = atoll(srv_row_text(r, "id") ?: "0");
    snprintf(object, sizeof object, "user:%s", srv_row_text(r, "name"));
    PQclear(r);
    /* No role any more: what the account could still do ends now. */
    if (!f->id->mapped && (st = srv_oidc_revoke_all(db, uid, &revoked)))
      return st;
  } else {
    PQclear(r);
    snprintf(object, sizeof object, "oidc:%.80s", f->id->person + 5);
  }
  json_t *d = json_deep_copy(f->id->details);
  if (!d)
    return SRV_DB_ERROR;
  json_object_set_new(d, "reason", json_string(f->reason));
  if (revoked)
    json_object_set_new(d, "tokens_revoked", json_integer(revoked));
  struct srv_audit_event ev = {"auth.login", object, "failure", d, object};
  st = srv_audit_append(db, f->req, &ev);
  json_decref(d);
  return st;
}

void srv_oidc_refuse_token(struct srv_request *req, const char *reason, const char *detail)
{
  json_t *d = json_pack("{s:s,s:s,s:s}", "method", "oidc", "reason", reason, "detail", detail);
  struct srv_audit_event ev = {"auth.login", "oidc", "failure", d, "oidc"};

  if (d)
    srv_audit_record(req, &ev);
  json_decref(d);
}

void srv_oidc_refuse(struct srv_request *req, struct srv_oidc_identity *id, const char *reason)
{
  struct srv_oidc_refusal f = {req, id, reason};
  srv_db_txn(SRV_DB_SERIALIZABLE, srv_oidc_refuse_txn, &f);
}

enum srv_db_status srv_oidc_session(struct srv_db *db, struct srv_request *req, long long user_id,
                                    unsigned lifetime, const json_t *details,
                                    char token[SRV_TOKEN_TEXT_MAX + 1], char expires[40])
{
  uint8_t hash[32];
  char hash_hex[2 * 32 + 3], uid[24], life[16], object[96];
  const char *p6[6] = {uid, "login", hash_hex, "sso", life, NULL};
  enum srv_db_status st;
  PGresult *r;

  if (srv_account_new_token('s', token, hash) != 0)
    return SRV_DB_ERROR;
  srv_bytea_param(hash_hex, hash, sizeof hash);
  snprintf(uid, sizeof uid, "%lld", user_id);
  snprintf(life, sizeof life, "%u", lifetime);
  if (!(r = srv_db_exec(db, SRV_STMT_TOKEN_INSERT, p6, &st)))
    return st;
  snprintf(expires, 40, "%s", srv_row_text(r, "expires") ?: "");
  json_t *d = json_deep_copy(details);
  if (d)
    json_object_set_new(d, "token_id", json_string(srv_row_text(r, "id") ?: ""));
  PQclear(r);
  if (!d)
    return SRV_DB_ERROR;
  const char *p1[1] = {uid};
  if (!(r = srv_db_exec(db, SRV_STMT_OIDC_USER_BY_ID, p1, &st))) {
    json_decref(d);
    return st;
  }
  snprintf(object, sizeof object, "user:%s", srv_row_text(r, "name") ?: "?");
  PQclear(r);
  struct srv_audit_event ev = {"auth.login", object, "success", d, object};
  st = srv_audit_append(db, req, &ev);
  json_decref(d);
  return st;
}

json_t *srv_oidc_login_answer(char token[SRV_TOKEN_TEXT_MAX + 1], const char *expires,
                              unsigned lifetime, const char *role, const char *name,
                              int custodian_index)
{
  json_t *out = json_pack("{s:s,s:s,s:s,s:I,s:s,s:s,s:s}", "token", token, "token_type", "Bearer",
                          "expires", expires, "expires_in", (json_int_t)lifetime, "role", role,
                          "user", name, "method", "oidc");
  ke_wipe(token, SRV_TOKEN_TEXT_MAX + 1);
  if (out && custodian_index)
    json_object_set_new(out, "custodian_index", json_integer(custodian_index));
  return out;
}
