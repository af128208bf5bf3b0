/*
 * srv_ep_oidc_device.c - `escrowctl login --sso`: the OAuth 2.0 device
 * authorization grant (RFC 8628), with escrowd as the client of the IdP:
 *
 *   POST /v1/login/oidc/device       -> {handle, user_code,
 *        verification_uri[_complete], interval, expires_in}: escrowd asks
 *        the IdP's device authorization endpoint; the person opens the URI
 *        in any browser and logs in there (password, MFA)
 *   POST /v1/login/oidc/device/poll  {handle} -> 202 {status: pending |
 *        slow_down} until the IdP issues tokens, then the ID token is
 *        verified, the account found or made (srv_oidc_login.h) and the
 *        session answered as POST /v1/login answers
 *
 * The IdP's device code is the client's to finish with: it is stored only
 * sealed under a key derived from the handle the client holds (schema
 * 021), and the handle only as its SHA-256.  Polling faster than the IdP's
 * interval gets slow_down without asking the IdP.
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ke_crypto.h"
#include "ke_util.h"
#include "srv_ep.h"
#include "srv_oidc.h"
#include "srv_oidc_login.h"
#include "srv_routes.h"
#include "srv_rows.h"

#define SRV_OIDC_HANDLE_LEN 43
#define SRV_OIDC_DEVICE_CODE_MAX 1024

/* The handle's hash (the row's key) and the sealing key, both from the
 * handle, domain-separated. */
static int srv_oidc_handle_keys(const char *handle, char hash_param[67], uint8_t key[KE_KEY_LEN])
{
  static const char salt[] = "keyescrow-v1-oidc-device";

  if (srv_oidc_hash_param(handle, hash_param) != 0)
    return -1;
  return ke_hkdf_sha256(key, KE_KEY_LEN, (const uint8_t *)handle, strlen(handle),
                        (const uint8_t *)salt, sizeof salt - 1, (const uint8_t *)"seal", 4) == KE_OK
           ? 0
           : -1;
}

/* nonce | ciphertext | tag, as hex for a bytea parameter ("\\x..."). */
static char *srv_oidc_seal(const uint8_t key[KE_KEY_LEN], const char *code)
{
  size_t len = strlen(code), tot = KE_NONCE_LEN + len + KE_TAG_LEN;
  uint8_t *buf = malloc(tot);
  char *hex = malloc(2 * tot + 3);

  if (!buf || !hex || ke_random(buf, KE_NONCE_LEN) != KE_OK ||
      ke_aead_seal(buf + KE_NONCE_LEN, buf + KE_NONCE_LEN + len, key, buf, NULL, 0,
                   (const uint8_t *)code, len) != KE_OK) {
    free(buf);
    free(hex);
    return NULL;
  }
  srv_bytea_param(hex, buf, tot);
  free(buf);
  return hex;
}

static char *srv_oidc_unseal(const uint8_t key[KE_KEY_LEN], const char *hex)
{
  uint8_t *buf = NULL;
  size_t len = 0;
  char *code = NULL;

  if (ke_hex_decode_alloc(&buf, &len, hex) != KE_OK || len < KE_NONCE_LEN + KE_TAG_LEN + 1 ||
      !(code = calloc(1, len - KE_NONCE_LEN - KE_TAG_LEN + 1)) ||
      ke_aead_open((uint8_t *)code, key, buf, NULL, 0, buf + KE_NONCE_LEN,
                   len - KE_NONCE_LEN - KE_TAG_LEN, buf + len - KE_TAG_LEN) != KE_OK) {
    free(code);
    code = NULL;
  }
  free(buf);
  return code;
}

/* ---- start ------------------------------------------------------------- */

struct srv_oidc_dev_new {
  char hash[67], *sealed, interval[8], ttl[16];
};

static enum srv_db_status srv_oidc_dev_insert_txn(struct srv_db *db, void *cls)
{
  struct srv_oidc_dev_new *d = cls;
  const char *p4[4] = {d->hash, d->sealed, d->interval, d->ttl};
  enum srv_db_status st;
  PGresult *r = srv_db_exec(db, SRV_STMT_OIDC_DEVICE_INSERT, p4, &st);

  if (!r)
    return st;
  PQclear(r);
  return SRV_DB_OK;
}

enum MHD_Result srv_ep_login_oidc_device(struct srv_request *req)
{
  struct srv_oidc_endpoints ep;
  struct srv_oidc_dev_new d = {0};
  uint8_t raw[32], key[KE_KEY_LEN];
  char *form = NULL, *handle = NULL;
  json_t *ans = NULL, *out = NULL;
  const char *code, *ucode, *uri;
  long status = 0;
  json_int_t interval, expires;
  enum MHD_Result ret;

  if (!srv_oidc_configured() || srv_oidc_endpoints(&ep) != 0 || !ep.device[0])
    return srv_reply_error(req, SRV_ERR_SSO_UNAVAILABLE,
                           "Single sign-on from the command line needs an identity provider "
                           "with a device authorization endpoint");
  if (!srv_oidc_source_ok(req, 1, &ret))
    return ret;
  if (srv_oidc_form_add(&form, "scope", srv_oidc_scopes()) != 0 ||
      srv_oidc_post(1, form, &status, &ans) != 0) {
    ret = srv_reply_error(req, SRV_ERR_SSO_UNAVAILABLE, NULL);
    goto out;
  }
  code = json_string_value(json_object_get(ans, "device_code"));
  ucode = json_string_value(json_object_get(ans, "user_code"));
  uri = json_string_value(json_object_get(ans, "verification_uri"));
  interval = json_integer_value(json_object_get(ans, "interval"));
  expires = json_integer_value(json_object_get(ans, "expires_in"));
  if (status != 200 || !code || !ucode || !uri || strlen(code) > SRV_OIDC_DEVICE_CODE_MAX ||
      !srv_ascii_ok(ucode, 64) || !srv_ascii_ok(uri, 1024)) {
    ret = srv_reply_error(req, SRV_ERR_SSO_UNAVAILABLE,
                          "The identity provider refused the device authorization request");
    goto out;
  }
  interval = interval < 1 ? 5 : interval > 60 ? 60 : interval; /* RFC 8628 3.2: default 5 */
  expires = expires < 60 ? 600 : expires > 1800 ? 1800 : expires;
  if (ke_random(raw, sizeof raw) != KE_OK || !(handle = ke_b64url_encode(raw, sizeof raw)) ||
      srv_oidc_handle_keys(handle, d.hash, key) != 0 || !(d.sealed = srv_oidc_seal(key, code))) {
    ret = srv_reply_error(req, SRV_ERR_INTERNAL, NULL);
    goto out;
  }
  snprintf(d.interval, sizeof d.interval, "%d", (int)interval);
  snprintf(d.ttl, sizeof d.ttl, "%d", (int)expires);
  if (srv_ep_txn(req, SRV_DB_READ_COMMITTED, srv_oidc_dev_insert_txn, &d, NULL, &ret))
    goto out;
  out = json_pack("{s:s,s:s,s:s,s:O,s:I,s:I}", "handle", handle, "user_code", ucode,
                  "verification_uri", uri, "verification_uri_complete",
                  json_object_get(ans, "verification_uri_complete") ?: json_null(), "interval",
                  interval, "expires_in", expires);
  ret = srv_reply_json(req, MHD_HTTP_OK, out);
out:
  ke_wipe(raw, sizeof raw);
  ke_wipe(key, sizeof key);
  if (handle)
    ke_wipe(handle, strlen(handle));
  free(handle);
  free(d.sealed);
  free(form);
  json_decref(ans);
  return ret;
}

/* ---- poll -------------------------------------------------------------- */

static int srv_oidc_handle_ok(const char *s) { return ke_b64url_chars(s, SRV_OIDC_HANDLE_LEN); }

struct srv_oidc_poll_body {
  const char *handle;
};
static const struct ke_jfield srv_oidc_poll_fields[] = {
  KE_JF_STR(struct srv_oidc_poll_body, handle, SRV_OIDC_HANDLE_LEN, SRV_OIDC_HANDLE_LEN,
            srv_oidc_handle_ok, "handle: the handle /v1/login/oidc/device gave"),
  KE_JF_END};
const struct ke_jspec srv_ep_login_oidc_poll_body =
  KE_JSPEC(struct srv_oidc_poll_body, srv_oidc_poll_fields, 0);

struct srv_oidc_poll {
  struct srv_request *req;
  char hash[67];
  /* the row */
  int found, too_soon, interval;
  char *sealed;
  /* the outcome to store: next interval, or gone */
  int drop, next_interval;
  /* the login */
  struct srv_oidc_identity id;
  struct srv_ep_fail fail;
  char token[SRV_TOKEN_TEXT_MAX + 1], expires[40];
};

static enum srv_db_status srv_oidc_poll_read_txn(struct srv_db *db, void *cls)
{
  struct srv_oidc_poll *p = cls;
  const char *p1[1] = {p->hash};
  enum srv_db_status st;
  PGresult *r = srv_db_exec(db, SRV_STMT_OIDC_DEVICE_GET, p1, &st);

  if (!r)
    return st;
  free(p->sealed);
  p->sealed = NULL;
  if ((p->found = PQntuples(r) == 1)) {
    p->too_soon = strcmp(srv_row_text(r, "too_soon") ?: "t", "f") != 0;
    p->interval = atoi(srv_row_text(r, "interval_s") ?: "5");
    p->sealed = strdup(srv_row_text(r, "device_code") ?: "");
  }
  PQclear(r);
  if (p->found && !p->too_soon) { /* this poll is the one for now */
    char iv[8];
    const char *p2[2] = {p->hash, iv};
    snprintf(iv, sizeof iv, "%d", p->interval);
    if (!(r = srv_db_exec(db, SRV_STMT_OIDC_DEVICE_NEXT, p2, &st)))
      return st;
    PQclear(r);
  }
  return p->found && !p->sealed ? SRV_DB_ERROR : SRV_DB_OK;
}

static enum srv_db_status srv_oidc_poll_write_txn(struct srv_db *db, void *cls)
{
  struct srv_oidc_poll *p = cls;
  const char *p1[1] = {p->hash};
  char iv[8];
  const char *p2[2] = {p->hash, iv};
  enum srv_db_status st;
  PGresult *r;

  if (p->drop) {
    if (!(r = srv_db_exec(db, SRV_STMT_OIDC_DEVICE_DELETE, p1, &st)))
      return st;
    PQclear(r);
    if (!p->id.details) /* refused: nothing more to write */
      return SRV_DB_OK;
    if ((st = srv_oidc_account(db, p->req, &p->id, &p->fail)))
      return st;
    return srv_oidc_session(db, p->req, p->id.user_id, p->id.lifetime, p->id.details, p->token,
                            p->expires);
  }
  snprintf(iv, sizeof iv, "%d", p->next_interval);
  if (!(r = srv_db_exec(db, SRV_STMT_OIDC_DEVICE_NEXT, p2, &st)))
    return st;
  PQclear(r);
  return SRV_DB_OK;
}

static enum MHD_Result srv_oidc_pending(struct srv_request *req, const char *status, int interval)
{
  return srv_reply_json(req, MHD_HTTP_ACCEPTED,
                        json_pack("{s:s,s:i}", "status", status, "interval", interval));
}

/* Ask the IdP once (RFC 8628 3.4); the answer decides the reply. */
static enum MHD_Result srv_oidc_poll_idp(struct srv_oidc_poll *p, const char *device_code)
{
  char *form = NULL;
  json_t *ans = NULL, *claims = NULL;
  const char *err, *why = "";
  long status = 0;
  enum MHD_Result ret;
  enum srv_oidc_result vr;
  int refuse = 0;

  if (srv_oidc_form_add(&form, "grant_type", "urn:ietf:params:oauth:grant-type:device_code") ||
      srv_oidc_form_add(&form, "device_code", device_code) ||
      srv_oidc_post(0, form, &status, &ans) != 0) {
    ret = srv_reply_error(p->req, SRV_ERR_SSO_UNAVAILABLE, NULL);
    goto out;
  }
  err = json_string_value(json_object_get(ans, "error"));
  if (status != 200 && err && strcmp(err, "authorization_pending") == 0) {
    ret = srv_oidc_pending(p->req, "pending", p->interval);
    goto out;
  }
  if (status != 200 && err && strcmp(err, "slow_down") == 0) {
    p->next_interval = p->interval + 5 > 60 ? 60 : p->interval + 5;
    srv_db_txn(SRV_DB_READ_COMMITTED, srv_oidc_poll_write_txn, p);
    ret = srv_oidc_pending(p->req, "slow_down", p->next_interval);
    goto out;
  }
  p->drop = 1; /* anything else ends this login, one way or the other */
  if (status != 200 || !json_is_string(json_object_get(ans, "id_token"))) {
    srv_oidc_refuse_token(p->req,
                          err && strcmp(err, "expired_token") == 0 ? "expired" : "code_refused",
                          err ? err : "no id_token");
    srv_db_txn(SRV_DB_READ_COMMITTED, srv_oidc_poll_write_txn, p);
    ret = srv_reply_error(p->req, SRV_ERR_SSO_REFUSED,
                          err && strcmp(err, "expired_token") == 0
                            ? "The login took too long: start again"
                            : "The identity provider refused the login");
    goto out;
  }
  vr = srv_oidc_verify(json_string_value(json_object_get(ans, "id_token")), NULL, &claims, &why);
  if (vr != SRV_OIDC_OK || (refuse = srv_oidc_judge(&p->id, claims, &why))) {
    if (vr == SRV_OIDC_OK)
      srv_oidc_refuse(p->req, &p->id, why);
    else
      srv_oidc_refuse_token(p->req, srv_oidc_result_name(vr), why);
    srv_oidc_identity_free(&p->id);
    srv_db_txn(SRV_DB_READ_COMMITTED, srv_oidc_poll_write_txn, p);
    ret = srv_reply_error(p->req,
                          vr == SRV_OIDC_OK && refuse == SRV_ERR_MFA_REQUIRED ? SRV_ERR_MFA_REQUIRED
                                                                              : SRV_ERR_SSO_REFUSED,
                          NULL);
    goto out;
  }
  if (srv_ep_txn(p->req, SRV_DB_SERIALIZABLE, srv_oidc_poll_write_txn, p, &p->fail, &ret)) {
    srv_oidc_refuse(p->req, &p->id, "account_refused");
    goto out;
  }
  ret = srv_reply_json(p->req, MHD_HTTP_OK,
                       srv_oidc_login_answer(p->token, p->expires, p->id.lifetime, p->id.role,
                                             p->id.name, p->id.custodian_index));
out:
  if (form)
    ke_wipe(form, strlen(form));
  free(form);
  json_decref(ans);
  json_decref(claims);
  srv_oidc_identity_free(&p->id);
  ke_wipe(p->token, sizeof p->token);
  return ret;
}

enum MHD_Result srv_ep_login_oidc_device_poll(struct srv_request *req)
{
  struct srv_oidc_poll_body b;
  struct srv_oidc_poll p = {.req = req};
  uint8_t key[KE_KEY_LEN];
  char *code = NULL;
  enum MHD_Result ret;

  if (srv_ep_body(req, &srv_ep_login_oidc_poll_body, &b, &ret))
    return ret;
  if (!srv_oidc_configured() || !srv_oidc_ready())
    return srv_reply_error(req, SRV_ERR_SSO_UNAVAILABLE, NULL);
  if (srv_oidc_handle_keys(b.handle, p.hash, key) != 0)
    return srv_reply_error(req, SRV_ERR_INTERNAL, NULL);
  if (srv_ep_txn(req, SRV_DB_READ_COMMITTED, srv_oidc_poll_read_txn, &p, NULL, &ret))
    goto out;
  if (!p.found) {
    ret = srv_reply_error(req, SRV_ERR_SSO_REFUSED,
                          "This login is unknown, finished or expired: start again");
    goto out;
  }
  if (p.too_soon) {
    ret = srv_oidc_pending(req, "slow_down", p.interval);
    goto out;
  }
  if (!(code = srv_oidc_unseal(key, p.sealed))) {
    ret = srv_reply_error(req, SRV_ERR_SSO_REFUSED, "This login is unknown: start again");
    goto out;
  }
  ret = srv_oidc_poll_idp(&p, code);
out:
  if (code)
    ke_wipe(code, strlen(code));
  free(code);
  free(p.sealed);
  ke_wipe(key, sizeof key);
  return ret;
}
