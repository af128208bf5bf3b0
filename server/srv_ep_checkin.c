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
#include "srv_account.h"
#include "srv_audit.h"
#include "srv_device.h"
#include "srv_ep.h"
#include "srv_routes.h"
#include "srv_rows.h"

struct srv_ci_vol {
  const char *volume, *record, *unlock;
  int has_verifier;
  uint8_t verifier[KE_VERIFIER_MAX];
  size_t verifier_len;
  int match; /* -1 null, 0, 1 */
};

struct srv_ci {
  struct srv_request *req;
  const char *device, *version, *key_status;
  struct srv_ci_vol *vols;
  size_t nvols;
  int replayed, no_key, key_changed;
  char fpr[SRV_HEX_SHA256];
  json_t *manifest;   /* current key's, when some record is sealed to another */
  json_t *rotate;     /* [{volume_id, reason}] */
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
                          col == 0   ? v->record
                          : col == 1 ? (v->match < 0 ? "NULL" : v->match ? "t" : "f")
                                     : v->unlock);
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
  int n;

  if (!r)
    return st;
  n = PQntuples(r);
  for (size_t i = 0; i < c->nvols; i++)
    c->vols[i].match = -2;
  /* id, volume_id, verifier, state, escrow_fingerprint, rotate requested */
  for (int row = 0; row < n; row++) {
    const char *id = PQgetvalue(r, row, 0), *vol = PQgetvalue(r, row, 1);
    const char *state = PQgetvalue(r, row, 3), *fpr = PQgetvalue(r, row, 4);
    /* A rotation (new secret) also moves the record to the current key, so
     * "requested" goes before "escrow_key_changed" (a re-wrap only). */
    const char *reason = strcmp(state, "disclosed") == 0       ? "disclosed"
                         : PQgetvalue(r, row, 5)[0] == 't'     ? "requested"
                         : strcmp(fpr, c->fpr) != 0            ? "escrow_key_changed"
                                                               : NULL;
    uint8_t stored[KE_VERIFIER_MAX];

    for (size_t i = 0; i < c->nvols; i++) {
      struct srv_ci_vol *v = &c->vols[i];
      if (strcmp(v->record, id) != 0 || strcmp(v->volume, vol) != 0)
        continue;
      if (!v->has_verifier)
        v->match = -1;
      else if (srv_bytea_get(stored, v->verifier_len, r, row, 2) != 0)
        v->match = 0; /* another length: another form, or another record */
      else
        v->match = ke_ct_eq(stored, v->verifier, v->verifier_len);
    }
    if (reason) {
      json_t *e = json_pack("{s:s,s:s}", "volume_id", vol, "reason", reason);
      if (!e || json_array_append_new(c->rotate, e)) {
        PQclear(r);
        return SRV_DB_ERROR;
      }
    }
    if (strcmp(fpr, c->fpr) != 0)
      c->key_changed = 1;
  }
  PQclear(r);
  return SRV_DB_OK;
}

static enum srv_db_status srv_ci_txn(struct srv_db *db, void *cls)
{
  struct srv_ci *c = cls;
  enum srv_db_status st;
  PGresult *r;
  char *a_id = NULL, *a_match = NULL, *a_unlock = NULL, object[48];
  json_t *d = NULL, *mism = NULL, *failed = NULL;
  struct srv_audit_event ev;
  char *manifest_text = NULL;

  c->replayed = c->no_key = c->key_changed = 0;
  json_decref(c->manifest);
  c->manifest = NULL;
  json_array_clear(c->rotate);
  if ((st = srv_device_nonce_use(db, c->req, c->device, &c->replayed)) != SRV_DB_OK)
    return st;
  {
    const char *p3[3] = {c->device, c->version, c->key_status};
    if (!(r = srv_db_exec(db, SRV_STMT_DEVICE_CHECKIN, p3, &st)))
      return st;
    PQclear(r);
  }
  if (!(r = srv_db_exec(db, SRV_STMT_ESCROW_KEY_CURRENT, NULL, &st)))
    return st;
  if (PQntuples(r) != 1) {
    PQclear(r);
    c->no_key = 1;
    return SRV_DB_ABORT;
  }
  snprintf(c->fpr, sizeof c->fpr, "%s", PQgetvalue(r, 0, 0));
  manifest_text = strdup(PQgetvalue(r, 0, 1));
  PQclear(r);
  if (!manifest_text)
    return SRV_DB_ERROR;
  if ((st = srv_ci_records(db, c)) != SRV_DB_OK)
    goto out;
  if (c->key_changed) {
    if (!(c->manifest = srv_device_manifest_json(manifest_text))) {
      st = SRV_DB_ERROR;
      goto out;
    }
  }
  st = SRV_DB_ERROR;
  a_id = srv_ci_array(c, 0);
  a_match = srv_ci_array(c, 1);
  a_unlock = srv_ci_array(c, 2);
  if (!a_id || !a_match || !a_unlock)
    goto out;
  {
    const char *p4[4] = {c->device, a_id, a_match, a_unlock};
    if (!(r = srv_db_exec(db, SRV_STMT_RECORD_OBSERVE, p4, &st)))
      goto out;
    PQclear(r);
  }
  st = SRV_DB_ERROR;
  mism = json_array();
  failed = json_array();
  if (!mism || !failed)
    goto out;
  for (size_t i = 0; i < c->nvols; i++) {
    if (c->vols[i].match == 0 || c->vols[i].match == -2)
      json_array_append_new(mism, json_string(c->vols[i].volume));
    if (strcmp(c->vols[i].unlock, "failed") == 0)
      json_array_append_new(failed, json_string(c->vols[i].volume));
  }
  d = json_pack("{s:s,s:I,s:O,s:O,s:O,s:s?}", "agent_version", c->version, "volumes",
                (json_int_t)c->nvols, "verifier_mismatch", mism, "unlock_failed", failed,
                "rotate", c->rotate, "escrow_key", c->key_status);
  if (!d)
    goto out;
  snprintf(object, sizeof object, "device:%s", c->device);
  ev = (struct srv_audit_event){"device.checkin", object, "success", d, NULL};
  st = srv_audit_append(db, c->req, &ev);
out:
  json_decref(d);
  json_decref(mism);
  json_decref(failed);
  free(a_id);
  free(a_match);
  free(a_unlock);
  free(manifest_text);
  return st;
}

/* NULL or the 400 message. */
static const char *srv_ci_validate(struct srv_ci *c, const json_t *body)
{
  static const char *const vol_members[] = {"volume_id", "record_id", "verifier",
                                            "unlock_check", NULL};
  const json_t *vols = json_object_get(body, "volumes"), *v;
  const json_t *ks = json_object_get(body, "escrow_key");
  size_t i;

  c->version = srv_device_str(body, "agent_version");
  if (!srv_ascii_ok(c->version, SRV_DEV_AGENT_VERSION_MAX))
    return "agent_version: 1 to 64 printable ASCII characters";
  if (ks) {
    c->key_status = json_string_value(ks);
    if (!c->key_status ||
        (strcmp(c->key_status, "unpinned") != 0 && strcmp(c->key_status, "pinned") != 0))
      return "escrow_key: \"unpinned\" or \"pinned\"";
  }
  if (!json_is_array(vols) || json_array_size(vols) > SRV_DEV_CHECKIN_VOLUMES)
    return "volumes: an array of at most 256 volumes";
  c->nvols = json_array_size(vols);
  c->vols = calloc(c->nvols ? c->nvols : 1, sizeof *c->vols);
  if (!c->vols)
    return "out of memory";
  json_array_foreach(vols, i, v) {
    struct srv_ci_vol *cv = &c->vols[i];
    const char *key, *ver;
    const json_t *m;

    if (!json_is_object(v))
      return "volumes: each volume is an object";
    json_object_foreach((json_t *)v, key, m) {
      size_t k;
      for (k = 0; vol_members[k] && strcmp(vol_members[k], key) != 0; k++)
        ;
      if (!vol_members[k])
        return "volumes: unknown member in a volume";
    }
    cv->volume = srv_device_str(v, "volume_id");
    cv->record = srv_device_str(v, "record_id");
    cv->unlock = srv_device_str(v, "unlock_check");
    ver = srv_device_str(v, "verifier");
    if (!srv_device_volume_ok(cv->volume))
      return "volumes: volume_id is 1 to 128 characters A-Z a-z 0-9 . _ : -";
    if (!srv_device_id_ok(cv->record, "rec-"))
      return "volumes: record_id is a record id (rec-...)";
    if (!cv->unlock || (strcmp(cv->unlock, "ok") && strcmp(cv->unlock, "failed") &&
                        strcmp(cv->unlock, "unsupported")))
      return "volumes: unlock_check is ok, failed or unsupported";
    if (json_object_get(v, "verifier")) {
      if (!ver || ke_verifier_decode(cv->verifier, &cv->verifier_len, ver) != KE_OK)
        return "volumes: verifier is a v1 (32 bytes) or v2 (54 bytes) verifier in base64url";
      cv->has_verifier = 1;
    }
    for (size_t j = 0; j < i; j++)
      if (strcmp(c->vols[j].volume, cv->volume) == 0)
        return "volumes: each volume_id at most once";
  }
  return NULL;
}

enum MHD_Result srv_ep_checkin(struct srv_request *req)
{
  static const char *const allowed[] = {"agent_version", "volumes", "escrow_key", NULL};
  const json_t *body = srv_request_json(req);
  struct srv_ci c;
  enum srv_db_status st;
  enum MHD_Result ret;
  const char *bad;
  json_t *vols = NULL, *out = NULL;

  if (srv_account_unknown_member(req, body, allowed, &ret))
    return ret;
  memset(&c, 0, sizeof c);
  c.req = req;
  c.device = srv_request_principal(req)->id;
  if ((bad = srv_ci_validate(&c, body)) != NULL) {
    free(c.vols);
    return srv_ep_bad(req, bad);
  }
  if (!(c.rotate = json_array())) {
    free(c.vols);
    return srv_reply_error(req, SRV_ERR_INTERNAL, NULL);
  }
  st = srv_db_txn(SRV_DB_SERIALIZABLE, srv_ci_txn, &c);
  if (st == SRV_DB_ABORT && c.replayed)
    ret = srv_reply_error(req, SRV_ERR_REPLAYED_REQUEST, NULL);
  else if (st == SRV_DB_ABORT && c.no_key)
    ret = srv_reply_error(req, SRV_ERR_NO_ESCROW_KEY, NULL);
  else if (st != SRV_DB_OK)
    ret = srv_ep_db_error(req, st);
  if (st != SRV_DB_OK)
    goto out;
  vols = json_array();
  for (size_t i = 0; vols && i < c.nvols; i++) {
    const struct srv_ci_vol *v = &c.vols[i];
    json_t *e = json_pack("{s:s,s:o}", "volume_id", v->volume, "verifier_match",
                          v->match == -1 ? json_null() : json_boolean(v->match == 1));
    if (!e || json_array_append_new(vols, e)) {
      json_decref(vols);
      vols = NULL;
    }
  }
  out = vols ? json_pack("{s:s,s:o,s:O,s:I}", "escrow_fingerprint", c.fpr, "volumes", vols,
                         "rotate", c.rotate, "checkin_interval",
                         (json_int_t)srv_device_cfg.checkin_interval)
             : NULL;
  if (out && c.manifest && json_object_set(out, "escrow_key", c.manifest) != 0) {
    json_decref(out);
    out = NULL;
  }
  ret = out ? srv_reply_json(req, MHD_HTTP_OK, out)
            : srv_reply_error(req, SRV_ERR_INTERNAL, NULL);
out:
  json_decref(c.rotate);
  json_decref(c.manifest);
  free(c.vols);
  return ret;
}
