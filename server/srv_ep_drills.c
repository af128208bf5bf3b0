/*
 * srv_ep_drills.c - backup-integrity drills (docs/protocol.md section 9):
 * POST /v1/drills (auditor), GET /v1/drills/{id} (auditor, custodian) and
 * GET /v1/drills/{id}/parts (auditor).
 *
 * As for retrievals, the client chooses the drill id and signs, with its
 * registered client key, a statement naming it, the selection, its
 * one-time key E and a nonce (lib/ke_drill.h); the server verifies it and
 * snapshots the selected active records into drill_records, so that
 * rotations during the drill do not change what is tested.  That request
 * does not name the records; the statement custodians act on does, and the
 * auditor signs it once the snapshot exists (srv_ep_drills_sign.c).  GET
 * shows it, with each record's escrow.store event and leaf index for the
 * custodian's log proof.  The server relays; it never holds e, a P_i or a
 * secret.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ke_crypto.h"
#include "ke_drill.h"
#include "ke_util.h"
#include "srv_account.h"
#include "srv_audit.h"
#include "srv_auth.h"
#include "srv_device.h"
#include "srv_drill.h"
#include "srv_ep.h"
#include "srv_retrieval.h"
#include "srv_routes.h"

struct srv_dc {
  struct srv_request *req;
  const char *id, *sel, *E, *nonce, *mode;
  char *canaries; /* canary mode: the checked canaries (srv_drill_canaries_parse) */
  uint8_t sig[64];
  char e_hex[2 * KE_POINT_LEN + 1], sig_hex[129];
  struct srv_ep_fail fail;
  long long count;
};

static enum srv_db_status srv_dc_txn(struct srv_db *db, void *cls)
{
  struct srv_dc *s = cls;
  const struct srv_principal *p = srv_request_principal(s->req);
  enum srv_db_status st;
  PGresult *r;
  char stmt[KE_DRILL_STMT_MAX], obj[64];
  struct srv_client_key ck;
  int found;
  size_t n;

  if ((st = srv_client_key_get(db, p->id, &ck, &found)) != SRV_DB_OK)
    return st;
  if (!found)
    return srv_ep_fail(&s->fail, SRV_ERR_CONFLICT,
                       "No client key is registered for you: run escrowctl key register");
  n = ke_drill_statement(stmt, s->id, s->sel, s->E, s->nonce);
  if (!n || !srv_device_ed25519_ok(ck.pub, (const uint8_t *)stmt, n, s->sig))
    return srv_ep_fail(&s->fail, SRV_ERR_BAD_SIGNATURE,
                       "The drill signature does not verify with your registered client key");
  {
    char exp[16];
    snprintf(exp, sizeof exp, "%u", srv_drill_expiry());
    const char *p9[9] = {s->id, p->id, s->sel, s->e_hex, s->nonce, s->sig_hex, ck.fingerprint, s->mode, exp};
    if (!(r = srv_db_exec(db, SRV_STMT_DRILL_INSERT, p9, &st)))
      return st;
    int dup = PQntuples(r) == 0;
    PQclear(r);
    if (dup)
      return srv_ep_fail(&s->fail, SRV_ERR_CONFLICT, "A drill with this id exists already");
  }
  if (s->canaries) {
    if ((st = srv_drill_canaries_insert(db, s->req, s->id, s->canaries, &s->count)) != SRV_DB_OK)
      return st;
    if (s->count != atoll(s->sel + 7))
      return srv_ep_fail(&s->fail, SRV_ERR_CONFLICT,
                         "canaries: each must be sealed to the current escrow key");
  } else {
    const char *grp = strncmp(s->sel, "group:", 6) == 0 ? s->sel + 6 : NULL;
    const char *lim = strncmp(s->sel, "sample:", 7) == 0 ? s->sel + 7 : NULL;
    const char *p3[3] = {s->id, grp, lim};
    if (!(r = srv_db_exec(db, SRV_STMT_DRILL_SNAPSHOT, p3, &st)))
      return st;
    s->count = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
  }
  if (s->count == 0)
    return srv_ep_fail(&s->fail, SRV_ERR_NOT_FOUND, "No active escrow record matches the selection");
  snprintf(obj, sizeof obj, "drill:%s", s->id);
  json_t *d = json_pack("{s:s,s:I,s:s,s:s}", "selection", s->sel, "records",
                        (json_int_t)s->count, "client_key", ck.fingerprint, "mode", s->mode);
  struct srv_audit_event ev = {"drill.create", obj, "success", d, NULL};
  st = d ? srv_audit_append(db, s->req, &ev) : SRV_DB_ERROR;
  json_decref(d);
  return st;
}

enum MHD_Result srv_ep_drills_create(struct srv_request *req)
{
  const json_t *b = srv_request_json(req);
  const char *sig = srv_device_str(b, "signature");
  struct srv_dc s;
  uint8_t e[KE_POINT_LEN];
  ke_point E;
  enum srv_db_status st;

  memset(&s, 0, sizeof s);
  s.req = req;
  s.id = srv_device_str(b, "drill_id");
  s.sel = srv_device_str(b, "selection");
  s.E = srv_device_str(b, "E");
  s.nonce = srv_device_str(b, "nonce");
  if (!ke_drill_id_ok(s.id))
    return srv_ep_bad(req, "drill_id: \"drl-\" and 26 characters of a-z2-7, chosen by the "
                               "client");
  if (!ke_drill_selection_ok(s.sel))
    return srv_ep_bad(req, "selection: all, sample:N or group:G");
  if (!s.E || ke_b64url_decode_fixed(e, sizeof e, s.E) != KE_OK ||
      ke_point_parse(&E, e, sizeof e) != KE_OK)
    return srv_ep_bad(req, "E: base64url of a compressed P-256 point");
  if (!s.nonce || strlen(s.nonce) != 22)
    return srv_ep_bad(req, "nonce: 22 base64url characters (16 random bytes)");
  if (!sig || ke_b64url_decode_fixed(s.sig, sizeof s.sig, sig) != KE_OK)
    return srv_ep_bad(req, "signature: base64url of an Ed25519 signature");
  /* The mode is also in the signed selection: canary:N is a canary drill. */
  s.mode = json_object_get(b, "mode") ? srv_device_str(b, "mode") : "full";
  if (!s.mode || (strcmp(s.mode, "full") != 0 && strcmp(s.mode, "canary") != 0) ||
      (strcmp(s.mode, "canary") == 0) != (strncmp(s.sel, "canary:", 7) == 0))
    return srv_ep_bad(req, "mode: \"full\", or \"canary\" with selection canary:N");
  if (strcmp(s.mode, "canary") == 0) {
    const char *why = srv_drill_canaries_parse(json_object_get(b, "canaries"), s.id,
                                               atoll(s.sel + 7), &s.canaries);
    if (why)
      return srv_ep_bad(req, why);
  } else if (json_object_get(b, "canaries")) {
    return srv_ep_bad(req, "canaries: only in a canary drill");
  }
  ke_hex_encode(s.e_hex, e, sizeof e);
  ke_hex_encode(s.sig_hex, s.sig, sizeof s.sig);
  st = srv_db_txn(SRV_DB_SERIALIZABLE, srv_dc_txn, &s);
  free(s.canaries);
  if (st != SRV_DB_OK)
    return srv_ep_txn_reply(req, st, &s.fail);
  if (strcmp(s.mode, "canary") == 0)
    srv_drill_canary_leaves(s.id);
  return srv_reply_json(req, MHD_HTTP_CREATED,
                        json_pack("{s:s,s:s,s:I,s:s,s:s}", "drill_id", s.id, "selection",
                                  s.sel, "records", (json_int_t)s.count, "state", "open", "mode",
                                  s.mode));
}

struct srv_dg {
  const char *id;
  int parts;
  PGresult *d, *r, *k, *s;
};

static enum srv_db_status srv_dg_txn(struct srv_db *db, void *cls)
{
  struct srv_dg *s = cls;
  const char *p1[1] = {s->id};
  enum srv_db_status st;

  PQclear(s->d);
  PQclear(s->r);
  PQclear(s->k);
  PQclear(s->s);
  s->d = s->r = s->k = s->s = NULL;
  if (!(s->d = srv_db_exec(db, SRV_STMT_DRILL_GET, p1, &st)))
    return st;
  if (PQntuples(s->d) != 1)
    return SRV_DB_OK;
  if (!(s->r = srv_db_exec(db, s->parts ? SRV_STMT_DRILL_PARTS : SRV_STMT_DRILL_RECORDS, p1,
                           &st)))
    return st;
  if (!s->parts && !(s->k = srv_db_exec(db, SRV_STMT_DRILL_KEYS, p1, &st)))
    return st;
  if (!s->parts && !(s->s = srv_db_exec(db, SRV_STMT_DRILL_SIGNED, p1, &st)))
    return st;
  return SRV_DB_OK;
}

static void srv_dg_clear(struct srv_dg *s)
{
  PQclear(s->d);
  PQclear(s->r);
  PQclear(s->k);
  PQclear(s->s);
}

enum MHD_Result srv_ep_drills_get(struct srv_request *req)
{
  struct srv_dg s = {srv_request_param(req, "id"), 0, NULL, NULL, NULL, NULL};
  enum srv_db_status st;
  json_t *view, *recs = json_array(), *keys = json_object();

  if (!ke_drill_id_ok(s.id) || !recs || !keys) {
    json_decref(recs);
    json_decref(keys);
    return srv_reply_error(req, ke_drill_id_ok(s.id) ? SRV_ERR_INTERNAL : SRV_ERR_NOT_FOUND,
                           NULL);
  }
  if ((st = srv_db_txn(SRV_DB_READ_ONLY, srv_dg_txn, &s)) != SRV_DB_OK ||
      PQntuples(s.d) != 1) {
    srv_dg_clear(&s);
    json_decref(recs);
    json_decref(keys);
    return st != SRV_DB_OK ? srv_ep_db_error(req, st)
                           : srv_reply_error(req, SRV_ERR_NOT_FOUND, NULL);
  }
  view = srv_drill_signed_view(srv_drill_view(s.d), s.s);
  for (int i = 0; i < PQntuples(s.r); i++) {
    /* Each record with its escrow.store event and leaf index (null when not
     * sequenced), a canary's too: custodians can prove them in the log. */
    json_t *rec = json_pack(
        "{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:o,s:s?}", "record_id", PQgetvalue(s.r, i, 0),
        "device_id", PQgetvalue(s.r, i, 1), "volume_id", PQgetvalue(s.r, i, 2), "key_type",
        PQgetvalue(s.r, i, 3), "fingerprint", PQgetvalue(s.r, i, 4), "envelope",
        PQgetvalue(s.r, i, 5), "envelope_sha256", PQgetvalue(s.r, i, 6), "R",
        PQgetvalue(s.r, i, 7), "verifier", PQgetvalue(s.r, i, 8), "leaf_index",
        PQgetisnull(s.r, i, 9) ? json_null()
                               : json_integer(strtoll(PQgetvalue(s.r, i, 9), NULL, 10)),
        "escrow_event", PQgetisnull(s.r, i, 10) ? NULL : PQgetvalue(s.r, i, 10));
    /* A canary carries its proof of knowledge of R (lib/ke_canary.h). */
    if (rec && !PQgetisnull(s.r, i, 11))
      json_object_set_new(rec, "canary_proof", json_string(PQgetvalue(s.r, i, 11)));
    json_array_append_new(recs, rec);
  }
  for (int i = 0; i < PQntuples(s.k); i++) {
    json_error_t je;
    json_t *m = json_loads(PQgetvalue(s.k, i, 1), 0, &je);
    if (m)
      json_object_set_new(keys, PQgetvalue(s.k, i, 0), m);
  }
  srv_dg_clear(&s);
  if (!view || json_array_size(recs) == 0) {
    json_decref(view);
    json_decref(recs);
    json_decref(keys);
    return srv_reply_error(req, SRV_ERR_INTERNAL, NULL);
  }
  return srv_reply_json(req, MHD_HTTP_OK,
                        json_pack("{s:o,s:o,s:o}", "drill", view, "records", recs,
                                  "escrow_keys", keys));
}

enum MHD_Result srv_ep_drills_parts_get(struct srv_request *req)
{
  struct srv_dg s = {srv_request_param(req, "id"), 1, NULL, NULL, NULL, NULL};
  enum srv_db_status st;
  json_t *parts = json_array();

  if (!parts)
    return srv_reply_error(req, SRV_ERR_INTERNAL, NULL);
  if (!ke_drill_id_ok(s.id) || (st = srv_db_txn(SRV_DB_READ_ONLY, srv_dg_txn, &s)) != SRV_DB_OK ||
      PQntuples(s.d) != 1) {
    int bad = !ke_drill_id_ok(s.id) || (s.d && PQntuples(s.d) != 1);
    srv_dg_clear(&s);
    json_decref(parts);
    return bad ? srv_reply_error(req, SRV_ERR_NOT_FOUND, NULL)
               : srv_reply_error(req, SRV_ERR_INTERNAL, NULL);
  }
  for (int i = 0; i < PQntuples(s.r); i++)
    json_array_append_new(parts, json_pack("{s:i,s:s,s:s}", "custodian_index",
                                           atoi(PQgetvalue(s.r, i, 0)), "record_id",
                                           PQgetvalue(s.r, i, 1), "part", PQgetvalue(s.r, i, 2)));
  srv_dg_clear(&s);
  return srv_reply_json(req, MHD_HTTP_OK, json_pack("{s:s,s:o}", "drill_id", s.id, "parts",
                                                    parts));
}

enum srv_db_status srv_drill_lock_get(struct srv_db *db, const char *id,
                                      struct srv_ep_fail *fail, PGresult **d)
{
  const char *p1[1] = {id};
  enum srv_db_status st;
  PGresult *r;
  int none;

  *d = NULL;
  if (!(r = srv_db_exec(db, SRV_STMT_DRILL_LOCK, p1, &st)))
    return st;
  none = PQntuples(r) != 1;
  PQclear(r);
  if (none)
    return srv_ep_fail(fail, SRV_ERR_NOT_FOUND, "No such drill");
  if (!(*d = srv_db_exec(db, SRV_STMT_DRILL_GET, p1, &st)))
    return st;
  return SRV_DB_OK;
}
