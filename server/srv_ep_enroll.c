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
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ke_log.h"
#include "ke_util.h"
#include "srv_audit.h"
#include "srv_device.h"
#include "srv_ep.h"
#include "srv_routes.h"
#include "srv_rows.h"

static int srv_en_token_ok(const char *s)
{
  uint8_t hash[32];
  return srv_enroll_token_hash(s, hash) == 0;
}
static int srv_en_text_ok(const char *s) { return srv_text_ok(s, 0, SIZE_MAX); }

struct srv_en_body {
  const char *token;
  uint8_t device_key[SRV_DEV_PUB_LEN];
  const char *hostname, *serial, *os;
  const json_t *hardware; /* its facts: srv_en_hardware */
};
static const struct ke_jfield srv_en_fields[] = {
  KE_JF_STR(struct srv_en_body, token, SRV_ENROLL_TOKEN_LEN, SRV_ENROLL_TOKEN_LEN, srv_en_token_ok,
            "token: an enrolment token (ket_ and 43 base64url characters)"),
  KE_JF_B64_FIXED(struct srv_en_body, device_key,
                  "device_key: a 32-byte Ed25519 public key in base64url"),
  KE_JF_STR(struct srv_en_body, hostname, 1, SRV_DEV_HOST_MAX, srv_en_text_ok,
            "hostname: 1 to 255 bytes of text without control characters"),
  KE_JF_STR(struct srv_en_body, serial, 0, SRV_DEV_SERIAL_MAX, srv_en_text_ok,
            "serial: at most 128 bytes of text without control characters"),
  KE_JF_STR(struct srv_en_body, os, 1, SRV_DEV_OS_MAX, srv_en_text_ok,
            "os: 1 to 128 bytes of text without control characters"),
  KE_JF_OBJECT(struct srv_en_body, hardware, "hardware: an object of at most 32 facts"),
  KE_JF_END};
const struct ke_jspec srv_ep_enroll_body = KE_JSPEC(struct srv_en_body, srv_en_fields, 0);

/* The device that has this key already (DEVICE_BY_KEY). */
struct srv_en_dev {
  const char *id, *enrollment_token;
  int disabled;
};
static const struct srv_col srv_en_dev_cols[] = {
  SRV_COL_TEXT(struct srv_en_dev, id), SRV_COL_TEXT(struct srv_en_dev, enrollment_token),
  SRV_COL_BOOL(struct srv_en_dev, disabled), SRV_COL_END};

struct srv_en {
  struct srv_request *req;
  const struct srv_en_body *b;
  const char *hw_text;
  char token_hash[2 * 32 + 3], pub[2 * 32 + 3];
  char id[SRV_DEV_ID_LEN + 1];
  char group[SRV_DEV_GROUP_MAX + 1];
  char token_id[24];
  char why[16];     /* the token's status: ok, expired, exhausted, revoked, unknown */
  char refused[24]; /* the reason of a refusal to audit */
  char fpr[SRV_HEX_SHA256];
  char *manifest;
  int created; /* 0: this enrolment again */
  struct srv_ep_fail fail;
};

static enum srv_db_status srv_en_refuse(struct srv_en *e, const char *reason)
{
  snprintf(e->refused, sizeof e->refused, "%s", reason);
  if (strcmp(reason, "device_key_in_use") == 0)
    return srv_ep_fail(&e->fail, SRV_ERR_CONFLICT,
                       "This device key is already enrolled: generate a new one");
  return srv_ep_fail(&e->fail, SRV_ERR_INVALID_ENROLLMENT_TOKEN, NULL);
}

static enum srv_db_status srv_en_escrow_key(struct srv_db *db, struct srv_en *e)
{
  enum srv_db_status st;
  PGresult *r = srv_db_exec(db, SRV_STMT_ESCROW_KEY_CURRENT, NULL, &st);
  const char *m = srv_row_text(r, "manifest");

  if (!r)
    return st;
  free(e->manifest);
  snprintf(e->fpr, sizeof e->fpr, "%s", m ? srv_row_text(r, "fingerprint") : "");
  e->manifest = m ? strdup(m) : NULL;
  PQclear(r);
  if (!m)
    return srv_ep_fail(&e->fail, SRV_ERR_NO_ESCROW_KEY, NULL);
  return e->manifest ? st : SRV_DB_ERROR;
}

static enum srv_db_status srv_en_nonce(struct srv_db *db, struct srv_en *e)
{
  int replayed = 0;
  enum srv_db_status st = srv_device_nonce_use(db, e->req, e->id, &replayed);

  return replayed ? srv_ep_fail(&e->fail, SRV_ERR_REPLAYED_REQUEST, NULL) : st;
}

/* A device with this key already: *found.  It is this very enrolment again
 * (same token, enabled) or a refusal; a repeat changes only the nonce and
 * is not audited. */
static enum srv_db_status srv_en_existing(struct srv_db *db, struct srv_en *e, int *found)
{
  const char *p1[1] = {e->pub};
  enum srv_db_status st;
  PGresult *r = srv_db_exec(db, SRV_STMT_DEVICE_BY_KEY, p1, &st);
  struct srv_en_dev d;
  int same;

  if (!r || !(*found = PQntuples(r) == 1)) {
    PQclear(r);
    return st;
  }
  if (srv_row_read(r, 0, srv_en_dev_cols, &d) != 0) {
    PQclear(r);
    return SRV_DB_ERROR;
  }
  same = !strcmp(d.enrollment_token, e->token_id) && !d.disabled && strcmp(e->why, "revoked");
  snprintf(e->id, sizeof e->id, "%s", d.id);
  PQclear(r);
  if (!same)
    return srv_en_refuse(e, "device_key_in_use");
  return (st = srv_en_nonce(db, e)) != SRV_DB_OK ? st : srv_en_escrow_key(db, e);
}

/* A new device: the token's use taken, the row, the nonce. */
static enum srv_db_status srv_en_create(struct srv_db *db, struct srv_en *e)
{
  const char *p1[1] = {e->token_id};
  const char *p8[8] = {e->id,    e->pub,     e->b->hostname, e->b->serial,
                       e->b->os, e->hw_text, e->group,       e->token_id};
  enum srv_db_status st;
  PGresult *r;
  int taken;

  if (ke_b32_id_new(e->id, "dev-") != KE_OK)
    return SRV_DB_ERROR;
  /* Atomic, re-checked under the row lock: in READ COMMITTED a concurrent
   * enrolment with the same token waits here and then sees its use gone. */
  if (!(r = srv_db_exec(db, SRV_STMT_ENROLL_TOKEN_TAKE, p1, &st)))
    return st;
  taken = PQntuples(r) == 1;
  PQclear(r);
  if (!taken)
    return srv_en_refuse(e, "exhausted");
  if (!(r = srv_db_exec(db, SRV_STMT_DEVICE_INSERT, p8, &st)))
    return st;
  PQclear(r);
  return srv_en_nonce(db, e);
}

static enum srv_db_status srv_en_txn(struct srv_db *db, void *cls)
{
  struct srv_en *e = cls;
  const char *p1[1] = {e->token_hash};
  enum srv_db_status st;
  PGresult *r;
  int found = 0;
  char object[48];
  json_t *d;
  struct srv_audit_event ev;

  e->refused[0] = '\0';
  e->created = 0;
  if (!(r = srv_db_exec(db, SRV_STMT_ENROLL_TOKEN_USE_CHECK, p1, &st)))
    return st;
  snprintf(e->why, sizeof e->why, "%s", PQntuples(r) == 1 ? srv_row_text(r, "status") : "unknown");
  snprintf(e->token_id, sizeof e->token_id, "%s", PQntuples(r) == 1 ? srv_row_text(r, "id") : "");
  snprintf(e->group, sizeof e->group, "%s", PQntuples(r) == 1 ? srv_row_text(r, "group_name") : "");
  PQclear(r);
  if (!e->token_id[0])
    return srv_en_refuse(e, e->why);
  if ((st = srv_en_existing(db, e, &found)) != SRV_DB_OK || found)
    return st;
  if (strcmp(e->why, "ok") != 0)
    return srv_en_refuse(e, e->why);
  if ((st = srv_en_escrow_key(db, e)) != SRV_DB_OK || (st = srv_en_create(db, e)) != SRV_DB_OK)
    return st;
  d = json_pack("{s:s,s:s,s:s,s:s,s:I,s:s}", "hostname", e->b->hostname, "serial", e->b->serial,
                "os", e->b->os, "group", e->group, "enroll_token",
                (json_int_t)strtoll(e->token_id, NULL, 10), "escrow_fingerprint", e->fpr);
  if (!d)
    return SRV_DB_ERROR;
  snprintf(object, sizeof object, "device:%s", e->id);
  /* The actor is the new device itself (the request is anonymous). */
  ev = (struct srv_audit_event){"device.enroll", object, "success", d, object};
  st = srv_audit_append(db, e->req, &ev);
  json_decref(d);
  e->created = 1;
  return st;
}

/* A refused enrolment is audited on its own: tokens are credentials, and
 * someone trying them is worth knowing about. */
static void srv_en_audit_refusal(struct srv_en *e)
{
  json_t *d = json_pack("{s:s,s:s?,s:s}", "reason", e->refused, "enroll_token",
                        e->token_id[0] ? e->token_id : NULL, "hostname", e->b->hostname);
  struct srv_audit_event ev = {"device.enroll", NULL, "denied", d, NULL};

  if (srv_audit_record(e->req, &ev) != 0)
    ke_log(KE_LOG_WARN, "could not audit a refused enrolment",
           json_pack("{s:s}", "request_id", srv_request_id(e->req)));
  json_decref(d);
}

/* The hardware facts as compact JSON.  NULL or the 400 message. */
static const char *srv_en_hardware(struct srv_en *e, const json_t *hw)
{
  const char *k;
  const json_t *v;

  if (json_object_size(hw) > SRV_DEV_HW_MEMBERS)
    return srv_en_fields[5].error;
  json_object_foreach ((json_t *)hw, k, v) {
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
 * nonces, so that devices that stopped calling leave nothing behind.  One
 * DELETE of rows nobody can use any more: READ COMMITTED (a row deleted
 * meanwhile by a device's own clean-up is skipped), where SERIALIZABLE's
 * read of the expiry index conflicted with other devices' requests. */
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
  struct srv_en_body b;
  struct srv_en e;
  uint8_t hash[32];
  enum srv_db_status st;
  enum MHD_Result ret;
  const char *bad, *origin = NULL;
  char *vkey = NULL;
  json_t *manifest, *out;

  if (srv_ep_body(req, &srv_ep_enroll_body, &b, &ret))
    return ret;
  memset(&e, 0, sizeof e);
  e.req = req;
  e.b = &b;
  if (srv_enroll_token_hash(b.token, hash) != 0) /* the spec checked its shape */
    return srv_reply_error(req, SRV_ERR_INTERNAL, NULL);
  if ((bad = srv_en_hardware(&e, b.hardware)) != NULL)
    return srv_ep_bad(req, bad);
  srv_bytea_param(e.token_hash, hash, sizeof hash);
  srv_bytea_param(e.pub, b.device_key, SRV_DEV_PUB_LEN);
  if (!srv_device_verify_new(req, b.device_key, &ret)) {
    free((char *)e.hw_text);
    return ret;
  }
  /* READ COMMITTED: the token's use is taken by one atomic UPDATE and
   * every other race ends on a unique constraint, so a popular token
   * (a whole fleet enrolling at once) does not turn into serialization
   * failures. */
  e.fail.constraint_code = SRV_ERR_CONFLICT;
  e.fail.constraint_message = "This device key is being enrolled by another request";
  st = srv_db_txn(SRV_DB_READ_COMMITTED, srv_en_txn, &e);
  free((char *)e.hw_text);
  if (st != SRV_DB_OK) {
    free(e.manifest);
    if (st == SRV_DB_ABORT && e.refused[0])
      srv_en_audit_refusal(&e);
    return srv_ep_txn_reply(req, st, &e.fail);
  }
  if (e.created)
    (void)srv_db_txn(SRV_DB_READ_COMMITTED, srv_en_sweep_txn, NULL);
  manifest = srv_device_manifest_json(e.manifest);
  free(e.manifest);
  if (!manifest || srv_device_log_key(&vkey, &origin) != 0) {
    json_decref(manifest);
    free(vkey);
    return srv_reply_error(req, SRV_ERR_INTERNAL, NULL);
  }
  ke_log(KE_LOG_INFO, e.created ? "device enrolled" : "device enrolment repeated",
         json_pack("{s:s,s:s,s:s}", "request_id", srv_request_id(req), "device", e.id, "group",
                   e.group));
  out = json_pack("{s:s,s:o,s:s,s:s,s:s,s:I}", "device_id", e.id, "escrow_key", manifest,
                  "escrow_fingerprint", e.fpr, "log_key", vkey, "log_origin", origin,
                  "checkin_interval", (json_int_t)srv_device_cfg.checkin_interval);
  free(vkey);
  return srv_reply_json(req, e.created ? MHD_HTTP_CREATED : MHD_HTTP_OK, out);
}
