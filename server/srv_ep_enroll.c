/*
 * srv_ep_enroll.c - POST /v1/enroll (docs/agent-protocol.md section 3).
 *
 * Public route: the enrolment token authorises it, and the request is
 * signed (X-KE-Device: new) by the Ed25519 key being enrolled, which proves
 * that the caller holds it.  In one transaction: the token loses a use, the
 * device row is written, the request's nonce is stored and device.enroll is
 * audited.  The answer carries the current escrow manifest and the audit
 * log's key, which the agent checks against the fingerprint it was given
 * and then pins.
 *
 * A retry of the same enrolment (same key, same token; the first answer was
 * lost) gets the same device back, 200, without taking another use: an agent
 * that retries after a network error must not end up as two devices.  A
 * replay of the very same request is refused like every replay.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ke_log.h"
#include "ke_util.h"
#include "srv_account.h"
#include "srv_audit.h"
#include "srv_device.h"
#include "srv_ep.h"
#include "srv_routes.h"
#include "srv_rows.h"

enum srv_en_outcome {
  SRV_EN_CREATED,
  SRV_EN_REPEAT,       /* this key was enrolled with this token before */
  SRV_EN_TOKEN,        /* unknown, expired, used up or revoked */
  SRV_EN_KEY_TAKEN,    /* this key belongs to a device of another token */
  SRV_EN_NO_KEY,       /* no current escrow key */
  SRV_EN_REPLAYED,
};

struct srv_en {
  struct srv_request *req;
  const char *hostname, *serial, *os, *hw_text;
  char token_hash[2 * 32 + 3], pub[2 * 32 + 3];
  char id[SRV_DEV_ID_LEN + 1];
  char group[SRV_DEV_GROUP_MAX + 1];
  char token_id[24];
  char why[16];             /* SRV_EN_TOKEN: expired, exhausted, revoked, unknown */
  char fpr[SRV_HEX_SHA256];
  char *manifest;
  enum srv_en_outcome out;
};

/* The current escrow key: 0 found, 1 none, or a failed status. */
static enum srv_db_status srv_en_escrow_key(struct srv_db *db, struct srv_en *e, int *none)
{
  enum srv_db_status st;
  PGresult *r = srv_db_exec(db, SRV_STMT_ESCROW_KEY_CURRENT, NULL, &st);

  *none = 0;
  if (!r)
    return st;
  free(e->manifest);
  e->manifest = NULL;
  if (PQntuples(r) != 1) {
    *none = 1;
  } else {
    snprintf(e->fpr, sizeof e->fpr, "%s", PQgetvalue(r, 0, 0));
    e->manifest = strdup(PQgetvalue(r, 0, 1));
    if (!e->manifest)
      st = SRV_DB_ERROR;
  }
  PQclear(r);
  return st;
}

static enum srv_db_status srv_en_txn(struct srv_db *db, void *cls)
{
  struct srv_en *e = cls;
  enum srv_db_status st;
  PGresult *r;
  int none, replayed;
  char object[48];
  json_t *d;
  struct srv_audit_event ev;

  e->why[0] = '\0';
  {
    const char *p1[1] = {e->token_hash};
    if (!(r = srv_db_exec(db, SRV_STMT_ENROLL_TOKEN_USE_CHECK, p1, &st)))
      return st;
  }
  /* id, group, status ('ok', 'expired', 'exhausted', 'revoked') */
  if (PQntuples(r) != 1) {
    PQclear(r);
    snprintf(e->why, sizeof e->why, "unknown");
    e->out = SRV_EN_TOKEN;
    return SRV_DB_ABORT;
  }
  snprintf(e->token_id, sizeof e->token_id, "%s", PQgetvalue(r, 0, 0));
  snprintf(e->group, sizeof e->group, "%s", PQgetvalue(r, 0, 1));
  snprintf(e->why, sizeof e->why, "%s", PQgetvalue(r, 0, 2));
  PQclear(r);
  {
    const char *p1[1] = {e->pub};
    if (!(r = srv_db_exec(db, SRV_STMT_DEVICE_BY_KEY, p1, &st)))
      return st;
  }
  if (PQntuples(r) == 1) {
    /* id, enrollment_token, disabled */
    int same = strcmp(PQgetvalue(r, 0, 1), e->token_id) == 0 &&
               strcmp(PQgetvalue(r, 0, 2), "f") == 0 && strcmp(e->why, "revoked") != 0;
    snprintf(e->id, sizeof e->id, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    if (!same) {
      e->out = SRV_EN_KEY_TAKEN;
      return SRV_DB_ABORT;
    }
    if ((st = srv_device_nonce_use(db, e->req, e->id, &replayed)) != SRV_DB_OK) {
      if (replayed)
        e->out = SRV_EN_REPLAYED;
      return st;
    }
    if ((st = srv_en_escrow_key(db, e, &none)) != SRV_DB_OK)
      return st;
    if (none) {
      e->out = SRV_EN_NO_KEY;
      return SRV_DB_ABORT;
    }
    e->out = SRV_EN_REPEAT; /* nothing changes but the nonce: not audited */
    return SRV_DB_OK;
  }
  PQclear(r);
  if (strcmp(e->why, "ok") != 0) {
    e->out = SRV_EN_TOKEN;
    return SRV_DB_ABORT;
  }
  if ((st = srv_en_escrow_key(db, e, &none)) != SRV_DB_OK)
    return st;
  if (none) {
    e->out = SRV_EN_NO_KEY;
    return SRV_DB_ABORT;
  }
  if (srv_device_new_id("dev-", e->id) != 0)
    return SRV_DB_ERROR;
  {
    /* Atomic, re-checked under the row lock: in READ COMMITTED a concurrent
     * enrolment with the same token waits here and then sees its use gone. */
    const char *p1[1] = {e->token_id};
    if (!(r = srv_db_exec(db, SRV_STMT_ENROLL_TOKEN_TAKE, p1, &st)))
      return st;
    none = PQntuples(r) != 1;
    PQclear(r);
    if (none) {
      snprintf(e->why, sizeof e->why, "exhausted");
      e->out = SRV_EN_TOKEN;
      return SRV_DB_ABORT;
    }
  }
  {
    const char *p8[8] = {e->id,  e->pub,     e->hostname, e->serial,
                         e->os, e->hw_text, e->group,    e->token_id};
    if (!(r = srv_db_exec(db, SRV_STMT_DEVICE_INSERT, p8, &st)))
      return st;
    PQclear(r);
  }
  if ((st = srv_device_nonce_use(db, e->req, e->id, &replayed)) != SRV_DB_OK) {
    if (replayed)
      e->out = SRV_EN_REPLAYED;
    return st;
  }
  d = json_pack("{s:s,s:s,s:s,s:s,s:I,s:s}", "hostname", e->hostname, "serial", e->serial,
                "os", e->os, "group", e->group, "enroll_token",
                (json_int_t)strtoll(e->token_id, NULL, 10), "escrow_fingerprint", e->fpr);
  if (!d)
    return SRV_DB_ERROR;
  snprintf(object, sizeof object, "device:%s", e->id);
  /* The actor is the new device itself (the request is anonymous). */
  ev = (struct srv_audit_event){"device.enroll", object, "success", d, object};
  st = srv_audit_append(db, e->req, &ev);
  json_decref(d);
  e->out = SRV_EN_CREATED;
  return st;
}

/* A refused enrolment is audited on its own: tokens are credentials, and
 * someone trying them is worth knowing about. */
static void srv_en_audit_refusal(struct srv_en *e, const char *reason)
{
  json_t *d = json_pack("{s:s,s:s?,s:s}", "reason", reason, "enroll_token",
                        e->token_id[0] ? e->token_id : NULL, "hostname", e->hostname);
  struct srv_audit_event ev = {"device.enroll", NULL, "denied", d, NULL};

  if (srv_audit_record(e->req, &ev) != 0)
    ke_log(KE_LOG_WARN, "could not audit a refused enrolment",
           json_pack("{s:s}", "request_id", srv_request_id(e->req)));
  json_decref(d);
}

/* Validate the body into e.  NULL or the 400 message. */
static const char *srv_en_validate(struct srv_en *e, const json_t *body, uint8_t pub[32])
{
  const char *token = srv_device_str(body, "token");
  const char *key = srv_device_str(body, "device_key");
  const json_t *hw = json_object_get(body, "hardware");
  uint8_t hash[32];
  const char *k;
  const json_t *v;

  if (srv_enroll_token_hash(token, hash) != 0)
    return "token: an enrolment token (ket_ and 43 base64url characters)";
  srv_bytea_param(e->token_hash, hash, sizeof hash);
  if (!key || ke_b64url_decode_fixed(pub, SRV_DEV_PUB_LEN, key) != KE_OK)
    return "device_key: a 32-byte Ed25519 public key in base64url";
  srv_bytea_param(e->pub, pub, SRV_DEV_PUB_LEN);
  e->hostname = srv_device_str(body, "hostname");
  e->serial = srv_device_str(body, "serial");
  e->os = srv_device_str(body, "os");
  if (!srv_text_ok(e->hostname, 1, SRV_DEV_HOST_MAX))
    return "hostname: 1 to 255 bytes of text without control characters";
  if (!srv_text_ok(e->serial, 0, SRV_DEV_SERIAL_MAX))
    return "serial: at most 128 bytes of text without control characters";
  if (!srv_text_ok(e->os, 1, SRV_DEV_OS_MAX))
    return "os: 1 to 128 bytes of text without control characters";
  if (!json_is_object(hw) || json_object_size(hw) > SRV_DEV_HW_MEMBERS)
    return "hardware: an object of at most 32 facts";
  json_object_foreach((json_t *)hw, k, v) {
    if (!srv_text_ok(k, 1, 64))
      return "hardware: fact names are 1 to 64 bytes of text";
    if (json_is_string(v) ? !srv_text_ok(json_string_value(v), 0, 256)
                          : !(json_is_integer(v) || json_is_boolean(v) || json_is_null(v)))
      return "hardware: facts are strings of at most 256 bytes, integers, booleans or null";
  }
  e->hw_text = json_dumps(hw, JSON_COMPACT | JSON_SORT_KEYS);
  if (!e->hw_text)
    return "hardware: cannot be encoded";
  if (strlen(e->hw_text) > SRV_DEV_HW_MAX) {
    free((char *)e->hw_text);
    e->hw_text = NULL;
    return "hardware: at most 4096 bytes of JSON";
  }
  return NULL;
}

/* Best effort, after the answer is decided: a batch of everyone's expired
 * nonces, so that devices that stopped calling leave nothing behind. */
static enum srv_db_status srv_en_sweep_txn(struct srv_db *db, void *cls)
{
  enum srv_db_status st;
  PGresult *r = srv_db_exec(db, SRV_STMT_DEVICE_NONCE_SWEEP, NULL, &st);

  (void)cls;
  if (r)
    PQclear(r);
  return st;
}

enum MHD_Result srv_ep_enroll(struct srv_request *req)
{
  static const char *const allowed[] = {"token", "device_key", "hostname", "serial",
                                        "os", "hardware", NULL};
  const json_t *body = srv_request_json(req);
  struct srv_en e;
  uint8_t pub[SRV_DEV_PUB_LEN];
  enum srv_db_status st;
  enum MHD_Result ret;
  const char *bad, *origin = NULL;
  char *vkey = NULL;
  json_t *manifest, *out;

  if (srv_account_unknown_member(req, body, allowed, &ret))
    return ret;
  memset(&e, 0, sizeof e);
  e.req = req;
  if ((bad = srv_en_validate(&e, body, pub)) != NULL)
    return srv_ep_bad(req, bad);
  if (!srv_device_verify_new(req, pub, &ret)) {
    free((char *)e.hw_text);
    return ret;
  }
  /* READ COMMITTED: the token's use is taken by one atomic UPDATE and
   * every other race ends on a unique constraint, so a popular token
   * (a whole fleet enrolling at once) does not turn into serialization
   * failures. */
  st = srv_db_txn(SRV_DB_READ_COMMITTED, srv_en_txn, &e);
  free((char *)e.hw_text);
  if (st == SRV_DB_ABORT) {
    free(e.manifest);
    switch (e.out) {
    case SRV_EN_TOKEN:
      srv_en_audit_refusal(&e, e.why);
      return srv_reply_error(req, SRV_ERR_INVALID_ENROLLMENT_TOKEN, NULL);
    case SRV_EN_KEY_TAKEN:
      srv_en_audit_refusal(&e, "device_key_in_use");
      return srv_reply_error(req, SRV_ERR_CONFLICT,
                             "This device key is already enrolled: generate a new one");
    case SRV_EN_NO_KEY:
      return srv_reply_error(req, SRV_ERR_NO_ESCROW_KEY, NULL);
    case SRV_EN_REPLAYED:
      return srv_reply_error(req, SRV_ERR_REPLAYED_REQUEST, NULL);
    default:
      return srv_reply_error(req, SRV_ERR_INTERNAL, NULL);
    }
  }
  if (st == SRV_DB_CONSTRAINT) {
    free(e.manifest);
    return srv_reply_error(req, SRV_ERR_CONFLICT,
                           "This device key is being enrolled by another request");
  }
  if (st != SRV_DB_OK) {
    free(e.manifest);
    return srv_ep_db_error(req, st);
  }
  if (e.out == SRV_EN_CREATED)
    (void)srv_db_txn(SRV_DB_SERIALIZABLE, srv_en_sweep_txn, NULL);
  manifest = srv_device_manifest_json(e.manifest);
  free(e.manifest);
  if (!manifest || srv_device_log_key(&vkey, &origin) != 0) {
    json_decref(manifest);
    free(vkey);
    return srv_reply_error(req, SRV_ERR_INTERNAL, NULL);
  }
  ke_log(KE_LOG_INFO, e.out == SRV_EN_CREATED ? "device enrolled" : "device enrolment repeated",
         json_pack("{s:s,s:s,s:s}", "request_id", srv_request_id(req), "device", e.id,
                   "group", e.group));
  out = json_pack("{s:s,s:o,s:s,s:s,s:s,s:I}", "device_id", e.id, "escrow_key", manifest,
                  "escrow_fingerprint", e.fpr, "log_key", vkey, "log_origin", origin,
                  "checkin_interval", (json_int_t)srv_device_cfg.checkin_interval);
  free(vkey);
  return srv_reply_json(req, e.out == SRV_EN_CREATED ? MHD_HTTP_CREATED : MHD_HTTP_OK, out);
}
