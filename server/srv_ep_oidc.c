/*
 * srv_ep_oidc.c - the console's single sign-on (OpenID Connect
 * authorization code flow with PKCE, S256):
 *
 *   GET  /v1/login/methods        password login, and SSO if configured
 *   POST /v1/login/oidc/start     -> {authorization_url, binding}: the
 *        state, nonce and PKCE verifier are stored (schema 021), the
 *        console keeps `binding` (sessionStorage) and goes to the IdP
 *   GET  /v1/login/oidc/callback  the IdP's redirect: the login is taken
 *        once by its state, the code traded for tokens at the token
 *        endpoint (with the verifier), the ID token verified
 *        (srv_oidc_token.h, with the login's nonce), the account found or
 *        made (srv_oidc_login.h); then 303 to "/#sso=HANDOFF", a one-time
 *        code, or "/#sso-error=REASON"
 *   POST /v1/login/oidc/finish    {handoff, binding} -> the session, as
 *        POST /v1/login answers.  The binding ties the handoff to the tab
 *        that started the login: a login someone else started and lured
 *        this browser through (login CSRF) has another binding and fails.
 *
 * No token of ours ever travels in a URL, and none is stored: the session
 * is made at finish.  Every refusal is audited (`auth.login` failure) with
 * the subject and the amr/acr the token carried, when it had one.
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ke_log.h"
#include "ke_util.h"
#include "srv_audit.h"
#include "srv_ep.h"
#include "srv_oidc.h"
#include "srv_oidc_login.h"
#include "srv_routes.h"
#include "srv_rows.h"

#define SRV_OIDC_LOGIN_TTL_S 600
#define SRV_OIDC_RANDOM_LEN 43 /* base64url of 32 random bytes */

/* 32 random bytes as base64url (43 characters) into out, and their
 * SHA-256 as a bytea parameter into hash_param (when not NULL). */
static int srv_oidc_secret(char out[SRV_OIDC_RANDOM_LEN + 1], char hash_param[2 * 32 + 3])
{
  uint8_t b[32];
  char *e;

  if (ke_random(b, sizeof b) != KE_OK || !(e = ke_b64url_encode(b, sizeof b)))
    return -1;
  snprintf(out, SRV_OIDC_RANDOM_LEN + 1, "%s", e);
  ke_wipe(e, strlen(e));
  free(e);
  ke_wipe(b, sizeof b);
  return hash_param ? srv_oidc_hash_param(out, hash_param) : 0;
}

enum MHD_Result srv_ep_login_methods(struct srv_request *req)
{
  struct srv_oidc_endpoints ep;
  json_t *sso = json_null();

  if (srv_oidc_configured()) {
    int ready = srv_oidc_endpoints(&ep) == 0;
    sso = json_pack("{s:s,s:b,s:b}", "issuer", srv_oidc_issuer(), "ready", ready, "device",
                    ready && ep.device[0]);
  }
  return srv_reply_json(req, MHD_HTTP_OK, json_pack("{s:b,s:o}", "password", 1, "sso", sso));
}

/* ---- start -------------------------------------------------------------- */

struct srv_oidc_start {
  char state_hash[67], binding_hash[67], nonce[SRV_OIDC_RANDOM_LEN + 1],
    verifier[SRV_OIDC_RANDOM_LEN + 1];
};

static enum srv_db_status srv_oidc_start_txn(struct srv_db *db, void *cls)
{
  struct srv_oidc_start *s = cls;
  char ttl[16];
  const char *p5[5] = {s->state_hash, s->binding_hash, s->nonce, s->verifier, ttl};
  enum srv_db_status st;
  PGresult *r;
  uint8_t b;

  snprintf(ttl, sizeof ttl, "%d", SRV_OIDC_LOGIN_TTL_S);
  /* Abandoned logins go away now and then (1 start in 16). */
  if (ke_random(&b, 1) == KE_OK && (b & 15) == 0) {
    if (!(r = srv_db_exec(db, SRV_STMT_OIDC_GC, NULL, &st)))
      return st;
    PQclear(r);
  }
  if (!(r = srv_db_exec(db, SRV_STMT_OIDC_LOGIN_INSERT, p5, &st)))
    return st;
  PQclear(r);
  return SRV_DB_OK;
}

/* The authorization request (OpenID Connect Core 3.1.2.1). */
static char *srv_oidc_auth_url(const struct srv_oidc_endpoints *ep, const char *state,
                               const char *nonce, const char *verifier)
{
  uint8_t h[32];
  unsigned n = 0;
  char *challenge = NULL, *q = NULL, *url = NULL;
  size_t len;

  if (EVP_Digest(verifier, strlen(verifier), h, &n, EVP_sha256(), NULL) != 1 ||
      !(challenge = ke_b64url_encode(h, sizeof h)))
    return NULL;
  if (srv_oidc_form_add(&q, "response_type", "code") == 0 &&
      srv_oidc_form_add(&q, "client_id", srv_oidc_client_id()) == 0 &&
      srv_oidc_form_add(&q, "redirect_uri", srv_oidc_redirect_uri()) == 0 &&
      srv_oidc_form_add(&q, "scope", srv_oidc_scopes()) == 0 &&
      srv_oidc_form_add(&q, "state", state) == 0 && srv_oidc_form_add(&q, "nonce", nonce) == 0 &&
      srv_oidc_form_add(&q, "code_challenge", challenge) == 0 &&
      srv_oidc_form_add(&q, "code_challenge_method", "S256") == 0) {
    len = strlen(ep->authorization) + strlen(q) + 2;
    if ((url = malloc(len)))
      snprintf(url, len, "%s%c%s", ep->authorization, strchr(ep->authorization, '?') ? '&' : '?',
               q);
  }
  free(challenge);
  free(q);
  return url;
}

enum MHD_Result srv_ep_login_oidc_start(struct srv_request *req)
{
  struct srv_oidc_endpoints ep;
  struct srv_oidc_start s;
  char state[SRV_OIDC_RANDOM_LEN + 1], binding[SRV_OIDC_RANDOM_LEN + 1], *url;
  enum MHD_Result ret;

  if (!srv_oidc_configured() || srv_oidc_endpoints(&ep) != 0)
    return srv_reply_error(req, SRV_ERR_SSO_UNAVAILABLE, NULL);
  if (!srv_oidc_source_ok(req, 0, &ret))
    return ret;
  if (srv_oidc_secret(state, s.state_hash) || srv_oidc_secret(binding, s.binding_hash) ||
      srv_oidc_secret(s.nonce, NULL) || srv_oidc_secret(s.verifier, NULL))
    return srv_reply_error(req, SRV_ERR_INTERNAL, NULL);
  if (srv_ep_txn(req, SRV_DB_READ_COMMITTED, srv_oidc_start_txn, &s, NULL, &ret))
    return ret;
  url = srv_oidc_auth_url(&ep, state, s.nonce, s.verifier);
  ke_wipe(&s, sizeof s);
  if (!url)
    return srv_reply_error(req, SRV_ERR_INTERNAL, NULL);
  ret = srv_reply_json(req, MHD_HTTP_OK,
                       json_pack("{s:s,s:s,s:i}", "authorization_url", url, "binding", binding,
                                 "expires_in", SRV_OIDC_LOGIN_TTL_S));
  ke_wipe(binding, sizeof binding);
  free(url);
  return ret;
}

/* ---- callback ------------------------------------------------------------ */

static int srv_oidc_code_ok(const char *s) { return srv_ascii_ok(s, 2048); }
static int srv_oidc_state_ok(const char *s) { return ke_b64url_chars(s, SRV_OIDC_RANDOM_LEN); }
static int srv_oidc_error_ok(const char *s)
{
  return strspn(s, "abcdefghijklmnopqrstuvwxyz_") == strlen(s);
}

struct srv_oidc_cb_query {
  const char *code, *state, *error;
};
static const struct srv_qfield srv_oidc_cb_fields[] = {
  SRV_QF_STR(struct srv_oidc_cb_query, code, 1, 2048, srv_oidc_code_ok, "code: the IdP's code"),
  SRV_QF_STR(struct srv_oidc_cb_query, state, SRV_OIDC_RANDOM_LEN, SRV_OIDC_RANDOM_LEN,
             srv_oidc_state_ok, "state: this server's login state"),
  SRV_QF_STR(struct srv_oidc_cb_query, error, 1, 64, srv_oidc_error_ok,
             "error: an OAuth error code"),
  {0}};
const struct srv_qspec srv_ep_login_oidc_callback_query =
  SRV_QSPEC(struct srv_oidc_cb_query, srv_oidc_cb_fields);

/* 303 to the console, with the handoff or the reason in the fragment
 * (never sent to any server, never in a Referer). */
static enum MHD_Result srv_oidc_redirect(struct srv_request *req, const char *key,
                                         const char *value)
{
  char loc[128];

  snprintf(loc, sizeof loc, "/#%s=%s", key, value);
  srv_reply_header(req, MHD_HTTP_HEADER_LOCATION, loc);
  srv_reply_header(req, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
  srv_reply_header(req, "Referrer-Policy", "no-referrer");
  return srv_reply_text(req, MHD_HTTP_SEE_OTHER, "text/plain; charset=utf-8", "", 0);
}

struct srv_oidc_cb {
  struct srv_request *req;
  char state_hash[67];
  /* the login, taken */
  int found;
  char binding[65], nonce[SRV_OIDC_RANDOM_LEN + 1], verifier[SRV_OIDC_RANDOM_LEN + 1];
  /* after the token */
  struct srv_oidc_identity id;
  char handoff[SRV_OIDC_RANDOM_LEN + 1], handoff_hash[67];
  struct srv_ep_fail fail;
};

static enum srv_db_status srv_oidc_take_txn(struct srv_db *db, void *cls)
{
  struct srv_oidc_cb *c = cls;
  const char *p1[1] = {c->state_hash};
  enum srv_db_status st;
  PGresult *r = srv_db_exec(db, SRV_STMT_OIDC_LOGIN_TAKE, p1, &st);

  if (!r)
    return st;
  if ((c->found = PQntuples(r) == 1)) {
    snprintf(c->binding, sizeof c->binding, "%s", srv_row_text(r, "binding") ?: "");
    snprintf(c->nonce, sizeof c->nonce, "%s", srv_row_text(r, "nonce") ?: "");
    snprintf(c->verifier, sizeof c->verifier, "%s", srv_row_text(r, "code_verifier") ?: "");
  }
  PQclear(r);
  return SRV_DB_OK;
}

static enum srv_db_status srv_oidc_handoff_txn(struct srv_db *db, void *cls)
{
  struct srv_oidc_cb *c = cls;
  char uid[24], life[16], *details;
  enum srv_db_status st;
  PGresult *r;

  if ((st = srv_oidc_account(db, c->req, &c->id, &c->fail)))
    return st;
  snprintf(uid, sizeof uid, "%lld", c->id.user_id);
  snprintf(life, sizeof life, "%u", c->id.lifetime);
  if (!(details = json_dumps(c->id.details, JSON_COMPACT)))
    return SRV_DB_ERROR;
  const char *p5[5] = {c->handoff_hash, c->binding, uid, life, details};
  r = srv_db_exec(db, SRV_STMT_OIDC_HANDOFF_INSERT, p5, &st);
  free(details);
  if (!r)
    return st;
  PQclear(r);
  return SRV_DB_OK;
}

/* The code for tokens (RFC 6749 4.1.3, with the PKCE verifier) and the ID
 * token verified: its claims, or NULL with the reason. */
static json_t *srv_oidc_exchange(struct srv_oidc_cb *c, const char *code, const char **reason)
{
  char *form = NULL;
  json_t *ans = NULL, *claims = NULL;
  const char *why = "";
  long status = 0;
  enum srv_oidc_result r;

  *reason = "idp_unreachable";
  if (srv_oidc_form_add(&form, "grant_type", "authorization_code") ||
      srv_oidc_form_add(&form, "code", code) ||
      srv_oidc_form_add(&form, "redirect_uri", srv_oidc_redirect_uri()) ||
      srv_oidc_form_add(&form, "code_verifier", c->verifier) ||
      srv_oidc_post(0, form, &status, &ans) != 0)
    goto out;
  if (status != 200 || !json_is_string(json_object_get(ans, "id_token"))) {
    *reason = "code_refused";
    srv_oidc_refuse_token(c->req, *reason, json_string_value(json_object_get(ans, "error")) ?: "");
    goto out;
  }
  r = srv_oidc_verify(json_string_value(json_object_get(ans, "id_token")), c->nonce, &claims, &why);
  *reason = r == SRV_OIDC_OK ? "" : srv_oidc_result_name(r);
  if (r != SRV_OIDC_OK)
    srv_oidc_refuse_token(c->req, *reason, why);
out:
  if (form)
    ke_wipe(form, strlen(form));
  free(form);
  json_decref(ans); /* access and refresh tokens: not kept */
  return claims;
}

enum MHD_Result srv_ep_login_oidc_callback(struct srv_request *req)
{
  struct srv_oidc_cb_query q;
  struct srv_oidc_cb c = {.req = req};
  const char *reason = "", *why = "";
  json_t *claims = NULL;
  enum MHD_Result ret;
  enum srv_db_status st;
  int refuse;

  if (!srv_oidc_configured() || !srv_oidc_ready())
    return srv_oidc_redirect(req, "sso-error", "sso_unavailable");
  if (srv_ep_query(req, &srv_ep_login_oidc_callback_query, &q, &ret))
    return ret;
  if (!q.state || (!q.code && !q.error))
    return srv_ep_bad(req, "state, and code or error, are required");
  if (srv_oidc_hash_param(q.state, c.state_hash) != 0)
    return srv_reply_error(req, SRV_ERR_INTERNAL, NULL);
  /* The login is taken (once) before anything else, an IdP's "no" too:
   * only a login this server started is audited. */
  if ((st = srv_db_txn(SRV_DB_READ_COMMITTED, srv_oidc_take_txn, &c)) != SRV_DB_OK)
    return srv_ep_db_error(req, st);
  if (!c.found) {
    ke_log(
      KE_LOG_INFO, "sso callback for no login of this server (replayed or expired)",
      json_pack("{s:s,s:s}", "request_id", srv_request_id(req), "remote", srv_request_remote(req)));
    return srv_oidc_redirect(req, "sso-error", "login_expired");
  }
  if (q.error) { /* the IdP said no (the user cancelled, or it refused) */
    ke_wipe(c.verifier, sizeof c.verifier);
    ke_wipe(c.nonce, sizeof c.nonce);
    srv_oidc_refuse_token(req, "idp_error", q.error);
    return srv_oidc_redirect(req, "sso-error", q.error);
  }
  if (!(claims = srv_oidc_exchange(&c, q.code, &reason)))
    goto out;
  if ((refuse = srv_oidc_judge(&c.id, claims, &why))) {
    srv_oidc_refuse(req, &c.id, why);
    reason = why;
    goto out;
  }
  if (srv_oidc_secret(c.handoff, c.handoff_hash)) {
    reason = "internal";
    goto out;
  }
  st = srv_db_txn(SRV_DB_SERIALIZABLE, srv_oidc_handoff_txn, &c);
  if (st != SRV_DB_OK) {
    reason = c.fail.set && c.fail.code == SRV_ERR_SSO_REFUSED ? "account_disabled"
             : st == SRV_DB_CONSTRAINT                        ? "custodian_index_taken"
                                                              : "internal";
    srv_oidc_refuse(req, &c.id, reason);
    json_decref(c.fail.extra);
  }
out:
  ke_wipe(c.verifier, sizeof c.verifier);
  ke_wipe(c.nonce, sizeof c.nonce);
  json_decref(claims);
  srv_oidc_identity_free(&c.id);
  if (reason[0] || !c.handoff[0])
    return srv_oidc_redirect(req, "sso-error", reason[0] ? reason : "internal");
  ret = srv_oidc_redirect(req, "sso", c.handoff);
  ke_wipe(c.handoff, sizeof c.handoff);
  return ret;
}

/* ---- finish -------------------------------------------------------------- */

static int srv_oidc_b64_43(const char *s) { return ke_b64url_chars(s, SRV_OIDC_RANDOM_LEN); }

struct srv_oidc_finish_body {
  const char *handoff, *binding;
};
static const struct ke_jfield srv_oidc_finish_fields[] = {
  KE_JF_STR(struct srv_oidc_finish_body, handoff, SRV_OIDC_RANDOM_LEN, SRV_OIDC_RANDOM_LEN,
            srv_oidc_b64_43, "handoff: the code of the SSO redirect"),
  KE_JF_STR(struct srv_oidc_finish_body, binding, SRV_OIDC_RANDOM_LEN, SRV_OIDC_RANDOM_LEN,
            srv_oidc_b64_43, "binding: the secret /v1/login/oidc/start gave this console"),
  KE_JF_END};
const struct ke_jspec srv_ep_login_oidc_finish_body =
  KE_JSPEC(struct srv_oidc_finish_body, srv_oidc_finish_fields, 0);

struct srv_oidc_fin {
  struct srv_request *req;
  char handoff_hash[67], binding_hex[65];
  struct srv_ep_fail fail;
  char token[SRV_TOKEN_TEXT_MAX + 1], expires[40], name[64], role[16];
  int custodian_index, mismatch;
  unsigned lifetime;
};

static enum srv_db_status srv_oidc_finish_txn(struct srv_db *db, void *cls)
{
  struct srv_oidc_fin *f = cls;
  const char *p1[1] = {f->handoff_hash};
  enum srv_db_status st;
  PGresult *r;
  long long uid, left;
  json_t *details;

  if (!(r = srv_db_exec(db, SRV_STMT_OIDC_HANDOFF_TAKE, p1, &st)))
    return st;
  f->mismatch = PQntuples(r) == 1;
  if (PQntuples(r) != 1 || strlen(srv_row_text(r, "binding") ?: "") != 64 ||
      CRYPTO_memcmp(srv_row_text(r, "binding"), f->binding_hex, 64) != 0) {
    PQclear(r);
    return srv_ep_fail(&f->fail, SRV_ERR_SSO_REFUSED,
                       "This single sign-on login is unknown, used, expired or another "
                       "browser's: log in again");
  }
  uid = atoll(srv_row_text(r, "user_id") ?: "0");
  left = atoll(srv_row_text(r, "lifetime") ?: "0");
  details = json_loads(srv_row_text(r, "details") ?: "", 0, NULL);
  PQclear(r);
  f->mismatch = 0;
  if (!details)
    return SRV_DB_ERROR;
  char id[24];
  const char *pu[1] = {id};
  snprintf(id, sizeof id, "%lld", uid);
  if (!(r = srv_db_exec(db, SRV_STMT_OIDC_USER_BY_ID, pu, &st))) {
    json_decref(details);
    return st;
  }
  int ok = PQntuples(r) == 1 && strcmp(srv_row_text(r, "disabled") ?: "t", "f") == 0;
  if (ok) {
    snprintf(f->name, sizeof f->name, "%s", srv_row_text(r, "name"));
    snprintf(f->role, sizeof f->role, "%s", srv_row_text(r, "role"));
    f->custodian_index = atoi(srv_row_text(r, "custodian_index") ?: "0");
  }
  PQclear(r);
  if (!ok || left < 1) {
    json_decref(details);
    return srv_ep_fail(&f->fail, SRV_ERR_SSO_REFUSED, "This account is disabled here");
  }
  f->lifetime = (unsigned)left;
  st = srv_oidc_session(db, f->req, uid, f->lifetime, details, f->token, f->expires);
  json_decref(details);
  return st;
}

enum MHD_Result srv_ep_login_oidc_finish(struct srv_request *req)
{
  struct srv_oidc_finish_body b;
  struct srv_oidc_fin f = {.req = req};
  uint8_t h[32];
  unsigned n = 0;
  enum MHD_Result ret;

  if (srv_ep_body(req, &srv_ep_login_oidc_finish_body, &b, &ret))
    return ret;
  if (!srv_oidc_configured())
    return srv_reply_error(req, SRV_ERR_SSO_UNAVAILABLE, NULL);
  if (srv_oidc_hash_param(b.handoff, f.handoff_hash) != 0 ||
      EVP_Digest(b.binding, strlen(b.binding), h, &n, EVP_sha256(), NULL) != 1)
    return srv_reply_error(req, SRV_ERR_INTERNAL, NULL);
  ke_hex_encode(f.binding_hex, h, sizeof h);
  if (srv_ep_txn(req, SRV_DB_SERIALIZABLE, srv_oidc_finish_txn, &f, &f.fail, &ret)) {
    ke_wipe(f.token, sizeof f.token);
    /* A real handoff with another tab's binding: a login someone else
     * started, or a stolen fragment.  (It stays for its own tab.) */
    if (f.mismatch)
      srv_oidc_refuse_token(req, "binding_mismatch",
                            "a handoff presented with another tab's binding");
    return ret;
  }
  return srv_reply_json(
    req, MHD_HTTP_OK,
    srv_oidc_login_answer(f.token, f.expires, f.lifetime, f.role, f.name, f.custodian_index));
}
