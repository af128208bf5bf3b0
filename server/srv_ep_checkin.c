/*
 * srv_ep_checkin.c - POST /v1/devices/{id}/checkin (docs/agent-protocol.md
 * section 5): liveness, the agent's verifier match and unlock check per
 * volume, and the answer of what the agent should do.
 *
 * Agent route (the dispatcher verified the signature and that {id} is the
 * caller).  In one transaction: the nonce, the device's last check-in, the
 * observations on each named record, and device.checkin in the audit log.
 * The answer asks for a rotation of every current record that was
 * disclosed (retrieved) or that is sealed to an escrow key other than the
 * current one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ke_crypto.h"
#include "ke_util.h"
#include "srv_audit.h"
#include "srv_device.h"
#include "srv_ep.h"
#include "srv_routes.h"
#include "srv_rows.h"

/* One element of "volumes" (srv_ci_vol_spec). */
struct srv_ci_vol {
  const char *volume_id, *record_id, *unlock_check, *verifier;
  uint8_t ver[KE_VERIFIER_MAX];
  size_t ver_len;
  int match; /* -2 not a current record, -1 null, 0, 1 */
};

static int srv_ci_record_ok(const char *s) { return srv_device_id_ok(s, "rec-"); }
static int srv_ci_unlock_ok(const char *s)
{
  return !strcmp(s, "ok") || !strcmp(s, "failed") || !strcmp(s, "unsupported");
}
static int srv_ci_version_ok(const char *s) { return srv_ascii_ok(s, SRV_DEV_AGENT_VERSION_MAX); }
static int srv_ci_pin_ok(const char *s) { return !strcmp(s, "unpinned") || !strcmp(s, "pinned"); }

static const struct ke_jfield srv_ci_vol_fields[] = {
  KE_JF_STR(struct srv_ci_vol, volume_id, 1, SRV_DEV_VOLUME_MAX, srv_device_volume_ok,
            "volumes: volume_id is 1 to 128 characters A-Z a-z 0-9 . _ : -"),
  KE_JF_STR(struct srv_ci_vol, record_id, SRV_DEV_ID_LEN, SRV_DEV_ID_LEN, srv_ci_record_ok,
            "volumes: record_id is a record id (rec-...)"),
  KE_JF_STR(struct srv_ci_vol, unlock_check, 1, 16, srv_ci_unlock_ok,
            "volumes: unlock_check is ok, failed or unsupported"),
  KE_JF_STR_OPT(struct srv_ci_vol, verifier, 0, 4 * KE_VERIFIER_MAX, NULL,
                "volumes: verifier is a v1 (32 bytes) or v2 (54 bytes) verifier in base64url"),
  KE_JF_END};
static const struct ke_jspec srv_ci_vol_spec = KE_JSPEC(struct srv_ci_vol, srv_ci_vol_fields, 0);

struct srv_ci_body {
  const char *agent_version, *escrow_key;
  const json_t *volumes;
};
static const struct ke_jfield srv_ci_fields[] = {
  KE_JF_STR(struct srv_ci_body, agent_version, 1, SRV_DEV_AGENT_VERSION_MAX, srv_ci_version_ok,
            "agent_version: 1 to 64 printable ASCII characters"),
  KE_JF_STR_OPT(struct srv_ci_body, escrow_key, 1, 8, srv_ci_pin_ok,
                "escrow_key: \"unpinned\" or \"pinned\""),
  KE_JF_ARRAY(struct srv_ci_body, volumes, 0, SRV_DEV_CHECKIN_VOLUMES,
              "volumes: an array of at most 256 volumes"),
  KE_JF_END};
const struct ke_jspec srv_ep_checkin_body = KE_JSPEC(struct srv_ci_body, srv_ci_fields, 0);

/* A current record of the device (RECORD_CURRENT); the verifier is read
 * on its own, at the length the agent sent. */
struct srv_ci_rec {
  const char *id, *volume_id, *state, *escrow_fingerprint;
  int rotate;
};
static const struct srv_col srv_ci_rec_cols[] = {
  SRV_COL_TEXT(struct srv_ci_rec, id),     SRV_COL_TEXT(struct srv_ci_rec, volume_id),
  SRV_COL_TEXT(struct srv_ci_rec, state),  SRV_COL_TEXT(struct srv_ci_rec, escrow_fingerprint),
  SRV_COL_BOOL(struct srv_ci_rec, rotate), SRV_COL_END};

struct srv_ci {
  struct srv_request *req;
  const char *device;
  const struct srv_ci_body *b;
  struct srv_ci_vol *vols;
  size_t nvols;
  int key_changed;
  char fpr[SRV_HEX_SHA256];
  json_t *manifest; /* current key's, when some record is sealed to another */
  json_t *rotate;   /* [{volume_id, reason}] */
  struct srv_ep_fail fail;
};

/* PostgreSQL array literal of the found records' columns. */
static char *srv_ci_array(const struct srv_ci *c, int col)
{
  size_t cap = 3 + c->nvols * (SRV_DEV_ID_LEN + 8), o = 0; /* { } NUL */
  char *s = malloc(cap);

  if (!s)
    return NULL;
  s[o++] = '{';
  for (size_t i = 0; i < c->nvols; i++) {
    const struct srv_ci_vol *v = &c->vols[i];
    if (v->match == -2)
      continue; /* not a current record of this device */
    if (o > 1)
      s[o++] = ',';
    o += (size_t)snprintf(s + o, cap - o, "%s",
                          col == 0   ? v->record_id
                          : col == 1 ? (v->match < 0 ? "NULL"
                                        : v->match   ? "t"
                                                     : "f")
                                     : v->unlock_check);
  }
  s[o++] = '}';
  s[o] = '\0';
  return s;
}

static enum srv_db_status srv_ci_records(struct srv_db *db, struct srv_ci *c)
{
  const char *p1[1] = {c->device};
  enum srv_db_status st;
  PGresult *r = srv_db_exec(db, SRV_STMT_RECORD_CURRENT, p1, &st);
  int n, vcol, row;

  if (!r)
    return st;
  n = PQntuples(r);
  vcol = PQfnumber(r, "verifier");
  for (size_t i = 0; i < c->nvols; i++)
    c->vols[i].match = -2;
  for (row = 0; row < n; row++) {
    struct srv_ci_rec rec;
    const char *reason;
    uint8_t stored[KE_VERIFIER_MAX];

    if (srv_row_read(r, row, srv_ci_rec_cols, &rec) != 0)
      break;
    /* A rotation (new secret) also moves the record to the current key, so
     * "requested" goes before "escrow_key_changed" (a re-wrap only). */
    reason = strcmp(rec.state, "disclosed") == 0           ? "disclosed"
             : rec.rotate                                  ? "requested"
             : strcmp(rec.escrow_fingerprint, c->fpr) != 0 ? "escrow_key_changed"
                                                           : NULL;
    if (reason && json_array_append_new(c->rotate, json_pack("{s:s,s:s}", "volume_id",
                                                             rec.volume_id, "reason", reason)))
      break;
    for (size_t i = 0; i < c->nvols; i++) {
      struct srv_ci_vol *v = &c->vols[i];
      if (strcmp(v->record_id, rec.id) != 0 || strcmp(v->volume_id, rec.volume_id) != 0)
        continue;
      if (!v->verifier)
        v->match = -1;
      else if (srv_bytea_get(stored, v->ver_len, r, row, vcol) != 0)
        v->match = 0; /* another length: another form, or another record */
      else
        v->match = ke_ct_eq(stored, v->ver, v->ver_len);
    }
    if (strcmp(rec.escrow_fingerprint, c->fpr) != 0)
      c->key_changed = 1;
  }
  PQclear(r);
  return row < n ? SRV_DB_ERROR : SRV_DB_OK;
}

static enum srv_db_status srv_ci_audit(struct srv_db *db, struct srv_ci *c)
{
  json_t *mism = json_array(), *failed = json_array(), *d = NULL;
  enum srv_db_status st = SRV_DB_ERROR;

  for (size_t i = 0; mism && failed && i < c->nvols; i++) {
    if (c->vols[i].match == 0 || c->vols[i].match == -2)
      json_array_append_new(mism, json_string(c->vols[i].volume_id));
    if (strcmp(c->vols[i].unlock_check, "failed") == 0)
      json_array_append_new(failed, json_string(c->vols[i].volume_id));
  }
  if (mism && failed)
    d = json_pack("{s:s,s:I,s:O,s:O,s:O,s:s?}", "agent_version", c->b->agent_version, "volumes",
                  (json_int_t)c->nvols, "verifier_mismatch", mism, "unlock_failed", failed,
                  "rotate", c->rotate, "escrow_key", c->b->escrow_key);
  if (d)
    st = srv_audit_success(db, c->req, "device.checkin", "device", c->device, d);
  json_decref(mism);
  json_decref(failed);
  return st;
}

/* READ COMMITTED, like an upload (srv_ep_device_keys.c), for the same
 * reason: under SERIALIZABLE the nonce clean-up's predicate locks made
 * unrelated devices conflict.  DEVICE_CHECKIN is the device's row lock
 * (an UPDATE's row lock conflicts with an upload's DEVICE_LOCK) and comes
 * before every read of the device's records, so a check-in runs wholly
 * before or after an upload of the same device.  The nonce is single-use
 * by its primary key; the escrow key and the rotate flags are read once,
 * as of that moment; RECORD_OBSERVE writes observation columns only, by
 * record id, and a record disclosed meanwhile is row-locked and re-read
 * by it, so no state change is lost. */
static enum srv_db_status srv_ci_txn(struct srv_db *db, void *cls)
{
  struct srv_ci *c = cls;
  const char *p3[3] = {c->device, c->b->agent_version, c->b->escrow_key};
  char *a[3], *manifest;
  const char *p4[4] = {c->device, NULL, NULL, NULL};
  enum srv_db_status st;
  PGresult *r;
  int replayed = 0;

  c->key_changed = 0;
  json_decref(c->manifest);
  c->manifest = NULL;
  json_array_clear(c->rotate);
  if ((st = srv_device_nonce_use(db, c->req, c->device, &replayed)) != SRV_DB_OK)
    return replayed ? srv_ep_fail(&c->fail, SRV_ERR_REPLAYED_REQUEST, NULL) : st;
  if (!(r = srv_db_exec(db, SRV_STMT_DEVICE_CHECKIN, p3, &st)))
    return st;
  PQclear(r);
  if (!(r = srv_db_exec(db, SRV_STMT_ESCROW_KEY_CURRENT, NULL, &st)))
    return st;
  if (PQntuples(r) != 1) {
    PQclear(r);
    return srv_ep_fail(&c->fail, SRV_ERR_NO_ESCROW_KEY, NULL);
  }
  snprintf(c->fpr, sizeof c->fpr, "%s", srv_row_text(r, "fingerprint"));
  manifest = strdup(srv_row_text(r, "manifest"));
  PQclear(r);
  if (!manifest)
    return SRV_DB_ERROR;
  st = srv_ci_records(db, c);
  if (st == SRV_DB_OK && c->key_changed && !(c->manifest = srv_device_manifest_json(manifest)))
    st = SRV_DB_ERROR;
  free(manifest);
  if (st != SRV_DB_OK)
    return st;
  for (int i = 0; i < 3; i++) /* record ids, matches, unlock checks */
    p4[i + 1] = a[i] = srv_ci_array(c, i);
  st = SRV_DB_ERROR;
  if (a[0] && a[1] && a[2] && (r = srv_db_exec(db, SRV_STMT_RECORD_OBSERVE, p4, &st)))
    PQclear(r);
  for (int i = 0; i < 3; i++)
    free(a[i]);
  return st == SRV_DB_OK ? srv_ci_audit(db, c) : st;
}

/* The volumes of the body into c->vols.  NULL or the 400 message. */
static const char *srv_ci_volumes(struct srv_ci *c, const json_t *vols)
{
  const json_t *v;
  struct ke_jerr err;
  size_t i;

  c->nvols = json_array_size(vols);
  c->vols = calloc(c->nvols ? c->nvols : 1, sizeof *c->vols);
  if (!c->vols)
    return "out of memory";
  json_array_foreach (vols, i, v) {
    struct srv_ci_vol *cv = &c->vols[i];

    if (ke_json_spec_parse(v, &srv_ci_vol_spec, cv, &err) != 0)
      return err.kind == KE_JE_NOT_OBJECT ? "volumes: each volume is an object"
             : err.kind == KE_JE_UNKNOWN  ? "volumes: unknown member in a volume"
                                          : err.field->error;
    if (cv->verifier && ke_verifier_decode(cv->ver, &cv->ver_len, cv->verifier) != KE_OK)
      return srv_ci_vol_fields[3].error;
    for (size_t j = 0; j < i; j++)
      if (strcmp(c->vols[j].volume_id, cv->volume_id) == 0)
        return "volumes: each volume_id at most once";
  }
  return NULL;
}

static enum MHD_Result srv_ci_answer(struct srv_request *req, const struct srv_ci *c)
{
  json_t *vols = json_array(), *out = NULL;

  for (size_t i = 0; vols && i < c->nvols; i++) {
    const struct srv_ci_vol *v = &c->vols[i];
    if (json_array_append_new(
          vols, json_pack("{s:s,s:o}", "volume_id", v->volume_id, "verifier_match",
                          v->match == -1 ? json_null() : json_boolean(v->match == 1)))) {
      json_decref(vols);
      vols = NULL;
    }
  }
  out = vols
          ? json_pack("{s:s,s:o,s:O,s:I}", "escrow_fingerprint", c->fpr, "volumes", vols, "rotate",
                      c->rotate, "checkin_interval", (json_int_t)srv_device_cfg.checkin_interval)
          : NULL;
  if (out && c->manifest && json_object_set(out, "escrow_key", c->manifest) != 0) {
    json_decref(out);
    out = NULL;
  }
  return out ? srv_reply_json(req, MHD_HTTP_OK, out) : srv_reply_error(req, SRV_ERR_INTERNAL, NULL);
}

enum MHD_Result srv_ep_checkin(struct srv_request *req)
{
  struct srv_ci_body b;
  struct srv_ci c;
  enum MHD_Result ret;
  const char *bad;

  if (srv_ep_body(req, &srv_ep_checkin_body, &b, &ret))
    return ret;
  memset(&c, 0, sizeof c);
  c.req = req;
  c.device = srv_request_principal(req)->id;
  c.b = &b;
  if ((bad = srv_ci_volumes(&c, b.volumes)) != NULL) {
    free(c.vols);
    return srv_ep_bad(req, bad);
  }
  if (!(c.rotate = json_array())) {
    free(c.vols);
    return srv_reply_error(req, SRV_ERR_INTERNAL, NULL);
  }
  if (!srv_ep_txn(req, SRV_DB_READ_COMMITTED, srv_ci_txn, &c, &c.fail, &ret))
    ret = srv_ci_answer(req, &c);
  json_decref(c.rotate);
  json_decref(c.manifest);
  free(c.vols);
  return ret;
}
