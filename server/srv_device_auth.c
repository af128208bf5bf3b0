/*
 * srv_device_auth.c - signed agent requests (docs/agent-protocol.md
 * section 2): the device's Ed25519 signature over method, path, timestamp,
 * nonce and body hash; the clock-skew bound; and the nonces that make a
 * replayed request change nothing.
 *
 * srv_auth_authenticate() hands every request with an X-KE-Device header
 * to srv_device_authenticate(), so agent and human authentication share the
 * one dispatcher path and the route table's roles column.  Nonces are
 * stored by the handler, inside the transaction of the action itself
 * (srv_device_nonce_use): a request that is refused or rolled back leaves
 * no nonce behind, and one that commits cannot be replayed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "ke_log.h"
#include "ke_util.h"
#include "srv_account.h"
#include "srv_audit.h"
#include "srv_auth.h"
#include "srv_device.h"
#include "srv_ep.h"
#include "srv_rows.h"

#define SRV_DEV_PATH_MAX 1200
#define SRV_DEV_MSG_PREFIX "keyescrow-v1-request\n"

/* The key that signed the request this thread is handling: the dispatcher
 * runs authentication and the handler on one thread, one request at a time,
 * and the handler needs the key to check the envelope signature. */
static _Thread_local struct {
  const struct srv_request *req;
  uint8_t pub[SRV_DEV_PUB_LEN];
} srv_dev_signer;

int srv_device_signed(struct srv_request *req)
{
  return srv_request_header(req, "X-KE-Device") != NULL;
}

int srv_device_request_key(const struct srv_request *req, uint8_t pub[SRV_DEV_PUB_LEN])
{
  if (!req || srv_dev_signer.req != req)
    return -1;
  memcpy(pub, srv_dev_signer.pub, SRV_DEV_PUB_LEN);
  return 0;
}

static const char srv_dev_stale[] =
  "X-KE-Timestamp is outside the allowed clock skew: check the device's clock";

/* Refuse the request (*ret) and return 0, for `return srv_dev_refuse(...)`. */
static int srv_dev_refuse(struct srv_request *req, enum MHD_Result *ret, enum srv_error_code code,
                          const char *why, const char *device)
{
  ke_log(KE_LOG_INFO, "agent request refused",
         json_pack("{s:s,s:s,s:s?,s:s}", "request_id", srv_request_id(req), "reason", why, "device",
                   device && srv_device_id_ok(device, "dev-") ? device : NULL, "remote",
                   srv_request_remote(req)));
  *ret = srv_reply_error(req, code, why);
  return 0;
}

/* The four headers, syntax only.  NULL or what is wrong. */
static const char *srv_dev_parse(struct srv_request *req, struct srv_dev_sig *s)
{
  const char *why = srv_device_headers_parse(
    srv_request_header(req, "X-KE-Device"), srv_request_header(req, "X-KE-Timestamp"),
    srv_request_header(req, "X-KE-Nonce"), srv_request_header(req, "X-KE-Signature"), s);

  if (why)
    return why;
  /* The signed path is the decoded request path (srv_dev_path); every
   * agent route is a plain path, so a query string (which libmicrohttpd
   * has already split off and decoded) cannot be reproduced and is
   * refused. */
  if (MHD_get_connection_values(srv_request_connection(req), MHD_GET_ARGUMENT_KIND, NULL, NULL) > 0)
    return "signed requests take no query string";
  return NULL;
}

const char *srv_device_headers_parse(const char *device, const char *ts, const char *nonce,
                                     const char *sig, struct srv_dev_sig *s)
{
  uint8_t raw[SRV_DEV_NONCE_LEN];
  size_t n;

  memset(s, 0, sizeof *s);
  s->device = device;
  if (!device || !ts || !nonce || !sig)
    return "a signed request needs X-KE-Device, X-KE-Timestamp, X-KE-Nonce and "
           "X-KE-Signature";
  n = strlen(ts);
  if (n < 1 || n > SRV_DEV_TS_MAX || strspn(ts, "0123456789") != n || (ts[0] == '0' && n > 1))
    return "X-KE-Timestamp must be Unix seconds in decimal";
  s->ts = strtoll(ts, NULL, 10);
  s->ts_text = ts;
  if (strlen(nonce) != SRV_DEV_NONCE_B64 || ke_b64url_decode_fixed(raw, sizeof raw, nonce) != KE_OK)
    return "X-KE-Nonce must be 16 bytes in base64url";
  memcpy(s->nonce, nonce, SRV_DEV_NONCE_B64 + 1);
  if (ke_b64url_decode_fixed(s->sig, sizeof s->sig, sig) != KE_OK)
    return "X-KE-Signature must be 64 bytes in base64url";
  return NULL;
}

char *srv_device_signed_message(const char *method, const char *path, const struct srv_dev_sig *s,
                                const uint8_t body_sha256[32], size_t *len)
{
  char hex[SRV_HEX_SHA256], *msg;
  size_t mlen = strlen(SRV_DEV_MSG_PREFIX) + strlen(method) + strlen(path) + strlen(s->ts_text) +
                SRV_DEV_NONCE_B64 + 64 + 6;
  int n;

  ke_hex_encode(hex, body_sha256, 32);
  if (!(msg = malloc(mlen)))
    return NULL;
  n = snprintf(msg, mlen, SRV_DEV_MSG_PREFIX "%s\n%s\n%s\n%s\n%s\n", method, path, s->ts_text,
               s->nonce, hex);
  if (n < 0 || (size_t)n >= mlen) {
    free(msg);
    return NULL;
  }
  *len = (size_t)n;
  return msg;
}

/* The request path, rebuilt from the matched pattern and its segments:
 * the path after percent-decoding (the HTTP layer decodes every %XX but
 * %00 before routing), which is what the signature covers.  The server acts
 * on the decoded path, so two targets that decode alike are one request,
 * and an agent's HTTP library may escape ':' or not without changing the
 * signature (docs/agent-protocol.md section 2). */
static int srv_dev_path(struct srv_request *req, char *out, size_t outlen)
{
  const char *p = srv_request_route(req)->pattern;
  size_t o = 0;

  while (*p) {
    if (*p == '{') {
      const char *close = strchr(p, '}');
      char name[32];
      const char *v;
      size_t vl;
      if (!close || (size_t)(close - p - 1) >= sizeof name)
        return -1;
      memcpy(name, p + 1, (size_t)(close - p - 1));
      name[close - p - 1] = '\0';
      v = srv_request_param(req, name);
      if (!v || (vl = strlen(v)) >= outlen - o)
        return -1;
      memcpy(out + o, v, vl);
      o += vl;
      p = close + 1;
    } else {
      if (o + 1 >= outlen)
        return -1;
      out[o++] = *p++;
    }
  }
  out[o] = '\0';
  return 0;
}

/* Verify s->sig by `pub` over the request.  1 if good. */
static int srv_dev_check(struct srv_request *req, const struct srv_dev_sig *s,
                         const uint8_t pub[SRV_DEV_PUB_LEN])
{
  char path[SRV_DEV_PATH_MAX], *msg;
  uint8_t h[32];
  unsigned hl = 0;
  size_t blen, mlen = 0;
  const char *body = srv_request_body(req, &blen);
  int ok;

  if (srv_dev_path(req, path, sizeof path) != 0 ||
      EVP_Digest(body ? body : "", blen, h, &hl, EVP_sha256(), NULL) != 1 || hl != 32)
    return 0;
  if (!(msg = srv_device_signed_message(srv_request_method(req), path, s, h, &mlen)))
    return 0;
  ok = srv_device_ed25519_ok(pub, (uint8_t *)msg, mlen, s->sig);
  free(msg);
  return ok;
}

static int srv_dev_fresh(const struct srv_dev_sig *s)
{
  long long now = (long long)time(NULL);
  long long d = now > s->ts ? now - s->ts : s->ts - now;

  return d <= (long long)srv_device_cfg.clock_skew;
}

/* The device (DEVICE_AUTH). */
struct srv_dev_row {
  uint8_t public_key[SRV_DEV_PUB_LEN];
  const char *hostname; /* valid until PQclear: copied */
  int disabled;
};
static const struct srv_col srv_dev_row_cols[] = {
  SRV_COL_BYTEA(struct srv_dev_row, public_key), SRV_COL_TEXT(struct srv_dev_row, hostname),
  SRV_COL_BOOL(struct srv_dev_row, disabled), SRV_COL_END};

struct srv_dev_lookup {
  const char *id;
  int found;
  struct srv_dev_row d;
  char hostname[SRV_DEV_HOST_MAX + 1];
};

static enum srv_db_status srv_dev_lookup_txn(struct srv_db *db, void *cls)
{
  struct srv_dev_lookup *l = cls;
  const char *params[1] = {l->id};
  enum srv_db_status st;
  PGresult *r = srv_db_exec(db, SRV_STMT_DEVICE_AUTH, params, &st);

  l->found = 0;
  if (!r)
    return st;
  if (PQntuples(r) == 1 && srv_row_read(r, 0, srv_dev_row_cols, &l->d) == 0) {
    l->found = 1;
    snprintf(l->hostname, sizeof l->hostname, "%s", l->d.hostname);
  }
  PQclear(r);
  return SRV_DB_OK;
}

static int srv_dev_deny(struct srv_request *req, const struct srv_principal *p, const char *why,
                        enum MHD_Result *ret)
{
  return srv_auth_deny(req, json_pack("{s:s}", "reason", why), p->actor, why, ret);
}

int srv_device_authenticate(struct srv_request *req, struct srv_principal *p, enum MHD_Result *ret)
{
  const struct srv_route *route = srv_request_route(req);
  struct srv_dev_sig s;
  struct srv_dev_lookup l;
  const char *bad, *id, *vol;

  srv_dev_signer.req = NULL;
  memset(&s, 0, sizeof s);
  /* A volume segment that names no volume (after percent-decoding: a
   * space, a non-ASCII byte, a %00 left encoded) makes the request
   * malformed whoever signed it: 400 before the signature is looked at,
   * not a misleading bad_signature (docs/agent-protocol.md section 2). */
  if (route && (vol = srv_request_param(req, "volume")) != NULL && !srv_device_volume_ok(vol)) {
    *ret = srv_ep_bad(req, "volume: 1 to 128 characters A-Z a-z 0-9 . _ : -");
    return 0;
  }
  if ((bad = srv_dev_parse(req, &s)) != NULL)
    return srv_dev_refuse(req, ret, SRV_ERR_BAD_SIGNATURE, bad, s.device);
  if (!srv_device_id_ok(s.device, "dev-"))
    return srv_dev_refuse(req, ret, SRV_ERR_BAD_SIGNATURE, "unknown or disabled device", NULL);
  memset(&l, 0, sizeof l);
  l.id = s.device;
  if (srv_ep_txn(req, SRV_DB_READ_ONLY, srv_dev_lookup_txn, &l, NULL, ret))
    return 0;
  /* Unknown, disabled and forged look the same from outside. */
  if (!l.found || l.d.disabled)
    return srv_dev_refuse(req, ret, SRV_ERR_BAD_SIGNATURE, "unknown or disabled device", s.device);
  if (!srv_dev_check(req, &s, l.d.public_key))
    return srv_dev_refuse(req, ret, SRV_ERR_BAD_SIGNATURE, "the request signature does not verify",
                          s.device);
  if (!srv_dev_fresh(&s))
    return srv_dev_refuse(req, ret, SRV_ERR_STALE_REQUEST, srv_dev_stale, s.device);
  p->kind = SRV_PRINCIPAL_DEVICE;
  p->role = SRV_ROLE_AGENT;
  snprintf(p->id, sizeof p->id, "%s", s.device);
  {
    /* Hostnames may be longer than the name field: cut at a character
     * boundary, so that the name stays valid UTF-8 for logs. */
    size_t n = strlen(l.hostname);
    if (n >= sizeof p->name) {
      n = sizeof p->name - 1;
      while (n > 0 && ((unsigned char)l.hostname[n] & 0xC0) == 0x80)
        n--;
    }
    memcpy(p->name, l.hostname, n);
    p->name[n] = '\0';
  }
  snprintf(p->actor, sizeof p->actor, "device:%s", s.device);
  srv_dev_signer.req = req;
  memcpy(srv_dev_signer.pub, l.d.public_key, sizeof l.d.public_key);
  /* A device acts only on its own /v1/devices/{id}/ routes. */
  if (!route || (route->roles & SRV_ROLE_AGENT) == 0)
    return srv_dev_deny(req, p, "devices may not call this route", ret);
  id = srv_request_param(req, "id");
  if (strncmp(route->pattern, "/v1/devices/{id}/", 17) != 0 || !id || strcmp(id, s.device) != 0)
    return srv_dev_deny(req, p, "a device may act only on its own records", ret);
  return 1;
}

int srv_device_verify_new(struct srv_request *req, const uint8_t pub[SRV_DEV_PUB_LEN],
                          enum MHD_Result *ret)
{
  struct srv_dev_sig s;
  const char *bad;

  srv_dev_signer.req = NULL;
  memset(&s, 0, sizeof s);
  if ((bad = srv_dev_parse(req, &s)) != NULL)
    return srv_dev_refuse(req, ret, SRV_ERR_BAD_SIGNATURE, bad, NULL);
  if (strcmp(s.device, "new") != 0)
    return srv_dev_refuse(req, ret, SRV_ERR_BAD_SIGNATURE,
                          "enrolment is signed with X-KE-Device: new", NULL);
  if (!srv_dev_check(req, &s, pub))
    return srv_dev_refuse(req, ret, SRV_ERR_BAD_SIGNATURE,
                          "the request is not signed by device_key (proof of possession)", NULL);
  if (!srv_dev_fresh(&s))
    return srv_dev_refuse(req, ret, SRV_ERR_STALE_REQUEST, srv_dev_stale, NULL);
  srv_dev_signer.req = req;
  memcpy(srv_dev_signer.pub, pub, SRV_DEV_PUB_LEN);
  return 1;
}

enum srv_db_status srv_device_nonce_use(struct srv_db *db, struct srv_request *req,
                                        const char *device_id, int *replayed)
{
  const char *nonce = srv_request_header(req, "X-KE-Nonce");
  char secs[16];
  const char *params[3] = {device_id, nonce, secs};
  enum srv_db_status st;
  PGresult *r;

  *replayed = 0;
  if (!nonce || strlen(nonce) != SRV_DEV_NONCE_B64)
    return SRV_DB_ERROR; /* authentication checked it: a bug */
  snprintf(secs, sizeof secs, "%u", 2 * srv_device_cfg.clock_skew);
  r = srv_db_exec(db, SRV_STMT_DEVICE_NONCE_USE, params, &st);
  if (!r)
    return st;
  if (PQntuples(r) != 1) {
    *replayed = 1;
    st = SRV_DB_ABORT;
  }
  PQclear(r);
  return st;
}
