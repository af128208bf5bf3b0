/*
 * srv_ep_client_keys.c - PUT /v1/client-key (helpdesk): register (or
 * replace) the caller's Ed25519 client key, {"public_key": "<base64url of
 * 32 bytes>"}, which signs their retrieval requests.  The audit event
 * client_key.register names its fingerprint, SHA-256 of the raw key (hex).
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "ke_util.h"
#include "srv_account.h"
#include "srv_audit.h"
#include "srv_auth.h"
#include "srv_device.h"
#include "srv_routes.h"

struct srv_ck {
  struct srv_request *req;
  char pub_hex[65], fpr[65];
};

static enum srv_db_status srv_ck_txn(struct srv_db *db, void *cls)
{
  struct srv_ck *s = cls;
  const struct srv_principal *p = srv_request_principal(s->req);
  const char *p3[3] = {p->id, s->pub_hex, s->fpr};
  enum srv_db_status st;
  PGresult *r = srv_db_exec(db, SRV_STMT_RET_CLIENT_KEY_PUT, p3, &st);
  json_t *d;
  char obj[160];
  struct srv_audit_event ev = {"client_key.register", obj, "success", NULL, NULL};

  if (!r)
    return st;
  PQclear(r);
  snprintf(obj, sizeof obj, "user:%s", p->name);
  if (!(d = json_pack("{s:s}", "fingerprint", s->fpr)))
    return SRV_DB_ERROR;
  ev.details = d;
  st = srv_audit_append(db, s->req, &ev);
  json_decref(d);
  return st;
}

enum MHD_Result srv_ep_client_key_put(struct srv_request *req)
{
  struct srv_ck s;
  const char *b64 = srv_device_str(srv_request_json(req), "public_key");
  uint8_t pub[32], h[32];
  unsigned hl = 0;
  enum srv_db_status st;

  memset(&s, 0, sizeof s);
  s.req = req;
  if (!b64 || ke_b64url_decode_fixed(pub, sizeof pub, b64) != KE_OK)
    return srv_device_bad(req, "public_key: base64url of a 32-byte Ed25519 public key");
  {
    /* A key OpenSSL cannot load is refused now, not at the first request. */
    EVP_PKEY *k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, sizeof pub);
    if (!k)
      return srv_device_bad(req, "public_key: not an Ed25519 public key");
    EVP_PKEY_free(k);
  }
  if (EVP_Digest(pub, sizeof pub, h, &hl, EVP_sha256(), NULL) != 1 || hl != 32)
    return srv_reply_error(req, SRV_ERR_INTERNAL, NULL);
  ke_hex_encode(s.pub_hex, pub, sizeof pub);
  ke_hex_encode(s.fpr, h, sizeof h);
  st = srv_db_txn(SRV_DB_SERIALIZABLE, srv_ck_txn, &s);
  if (st != SRV_DB_OK)
    return srv_account_db_error(req, st);
  return srv_reply_json(req, MHD_HTTP_OK, json_pack("{s:s}", "fingerprint", s.fpr));
}
