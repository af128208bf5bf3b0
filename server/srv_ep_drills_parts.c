/*
 * srv_ep_drills_parts.c - POST /v1/drills/{id}/parts (custodian) and
 * POST /v1/drills/{id}/result (auditor), and the drill view they share
 * with srv_ep_drills.c.
 *
 * Parts: body {"parts": [{"record_id", "part"}, ...]}, one sealed part
 * (ke_part_seal, base64url) for every record of the snapshot, in one
 * batch per custodian index (the caller's own index, never the client's
 * word).  The server checks the shape of each part and that the batch
 * covers the snapshot exactly; it cannot check the proofs (it never sees
 * P_i): the auditor does.  Refused as in retrievals: the auditor and any
 * account of the auditor's person (users.person), a second batch of an
 * index, a drill that is done, a drill whose statement the auditor has not
 * signed or that expired (srv_ep_drills_sign.c).
 *
 * Result: body {"summary": {...}, "signature"}: the auditor's client key
 * signs the canonical JSON of the summary (ke_canon_dump); the server
 * verifies it, checks that the counts agree with the snapshot, stores it
 * and appends drill.result to the audit log.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "ke_canon.h"
#include "ke_crypto.h"
#include "ke_drill.h"
#include "ke_util.h"
#include "srv_account.h"
#include "srv_audit.h"
#include "srv_auth.h"
#include "srv_device.h"
#include "srv_drill.h"
#include "srv_ep.h"
#include "srv_longpoll.h"
#include "srv_retrieval.h"
#include "srv_routes.h"

/* Failed records listed in the audit event: an audit leaf holds at most
 * 64 KiB.  Past this the event carries the counts and the summary's
 * SHA-256 only; the whole signed summary is in drills.result. */
#define SRV_DRILL_FAIL_MAX 500

json_t *srv_drill_view(const PGresult *r)
{
  json_error_t je;
  json_t *idx = json_loads(PQgetvalue(r, 0, SRV_DC_INDICES), 0, &je);
  uint8_t e[KE_POINT_LEN];
  char *eb = NULL;
  json_t *v;

  if (!idx || ke_hex_decode(e, sizeof e, PQgetvalue(r, 0, SRV_DC_E)) != KE_OK ||
      !(eb = ke_b64url_encode(e, sizeof e))) {
    json_decref(idx);
    return NULL;
  }
  v = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s?,s:I,s:o}", "id", PQgetvalue(r, 0, SRV_DC_ID),
                   "auditor", PQgetvalue(r, 0, SRV_DC_AUDITOR), "selection",
                   PQgetvalue(r, 0, SRV_DC_SELECTION), "E", eb, "state",
                   PQgetvalue(r, 0, SRV_DC_STATE), "created", PQgetvalue(r, 0, SRV_DC_CREATED),
                   "closed",
                   PQgetisnull(r, 0, SRV_DC_CLOSED) ? NULL : PQgetvalue(r, 0, SRV_DC_CLOSED),
                   "records", (json_int_t)strtoll(PQgetvalue(r, 0, SRV_DC_NRECORDS), NULL, 10),
                   "custodian_indices", idx);
  free(eb);
  /* What follows the drill (schema 014): its mode, the server's deadline
   * (drill_expiry after the start), and once closed
   * how many parts were deleted; how many records it disclosed. */
  if (v && (json_object_set_new(v, "mode", json_string(PQgetvalue(r, 0, SRV_DC_MODE))) ||
            json_object_set_new(v, "open_until",
                                json_string(PQgetvalue(r, 0, SRV_DC_OPEN_UNTIL))) ||
            json_object_set_new(v, "parts_deleted",
                                PQgetisnull(r, 0, SRV_DC_PURGED)
                                    ? json_null()
                                    : json_integer(strtoll(
                                          PQgetvalue(r, 0, SRV_DC_PARTS_DELETED), NULL, 10))) ||
            json_object_set_new(v, "disclosed",
                                json_integer(strtoll(PQgetvalue(r, 0, SRV_DC_DISCLOSED), NULL,
                                                     10))))) {
    json_decref(v);
    v = NULL;
  }
  return v;
}

struct srv_dp {
  struct srv_request *req;
  const char *id;
  char *batch; /* JSON array of {record_id, part (hex)} */
  size_t n;
  char idx[8];
  /* result */
  char *summary, sig_hex[129];
  uint8_t sig[64];
  const json_t *sum;
  struct srv_ep_fail fail;
  long long nrec;
  int canary;                 /* the drill's mode is canary */
  int disclose_pending;       /* full, has parts, its records not disclosed yet */
  long long disclosed, purged;
};

/* Lock the drill and read it: an open drill, or a failure. */
static enum srv_db_status srv_dp_open(struct srv_db *db, struct srv_dp *s, PGresult **d)
{
  enum srv_db_status st;
  PGresult *r;

  *d = NULL;
  if ((st = srv_drill_lock_get(db, s->id, &s->fail, &r)) != SRV_DB_OK)
    return st;
  if (strcmp(PQgetvalue(r, 0, SRV_DC_STATE), "open") != 0) {
    PQclear(r);
    return srv_ep_fail(&s->fail, SRV_ERR_CONFLICT, "The drill is done: it takes nothing more");
  }
  if (PQgetvalue(r, 0, SRV_DC_EXPIRED)[0] == 't') {
    PQclear(r);
    return srv_ep_fail(&s->fail, SRV_ERR_CONFLICT, "The drill expired: it takes nothing more");
  }
  s->nrec = strtoll(PQgetvalue(r, 0, SRV_DC_NRECORDS), NULL, 10);
  s->canary = strcmp(PQgetvalue(r, 0, SRV_DC_MODE), "canary") == 0;
  s->disclosed = strtoll(PQgetvalue(r, 0, SRV_DC_DISCLOSED), NULL, 10);
  s->disclose_pending = !s->canary && PQgetisnull(r, 0, SRV_DC_DISCLOSED) &&
                        strcmp(PQgetvalue(r, 0, SRV_DC_INDICES), "[]") != 0;
  *d = r;
  return SRV_DB_OK;
}

static enum srv_db_status srv_dp_parts_txn(struct srv_db *db, void *cls)
{
  struct srv_dp *s = cls;
  const struct srv_principal *p = srv_request_principal(s->req);
  enum srv_db_status st;
  PGresult *d, *r;
  char obj[64];

  if ((st = srv_dp_open(db, s, &d)) != SRV_DB_OK)
    return st;
  {
    /* Honest custodians refuse an unsigned or expired drill themselves;
     * the server says so first. */
    const char *p1[1] = {s->id};
    if (!(r = srv_db_exec(db, SRV_STMT_DRILL_SIGNED, p1, &st))) {
      PQclear(d);
      return st;
    }
    int unsigned_ = PQntuples(r) != 1, expired = !unsigned_ && *PQgetvalue(r, 0, 4) == 't';
    PQclear(r);
    if (unsigned_ || expired) {
      PQclear(d);
      return srv_ep_fail(&s->fail, SRV_ERR_CONFLICT, unsigned_ ? "The auditor has not signed the "
                                                          "drill's statement yet"
                                                        : "The drill's statement has expired");
    }
  }
  if (p->kind == SRV_PRINCIPAL_USER && strcmp(p->id, PQgetvalue(d, 0, SRV_DC_AUDITOR_ID)) == 0) {
    PQclear(d);
    return srv_ep_fail(&s->fail, SRV_ERR_FORBIDDEN, "You started this drill: you may not contribute");
  }
  {
    const char *pid[1] = {p->id};
    if (!(r = srv_db_exec(db, SRV_STMT_RET_CUSTODIAN_PERSON, pid, &st))) {
      PQclear(d);
      return st;
    }
    int same = PQntuples(r) == 1 && !PQgetisnull(r, 0, 0) && !PQgetisnull(d, 0, SRV_DC_PERSON) &&
               strcmp(PQgetvalue(r, 0, 0), PQgetvalue(d, 0, SRV_DC_PERSON)) == 0;
    PQclear(r);
    PQclear(d);
    if (same)
      return srv_ep_fail(&s->fail, SRV_ERR_FORBIDDEN, "This custodian account belongs to the auditor "
                                               "of the drill: it may not contribute");
  }
  if ((long long)s->n != s->nrec)
    return srv_ep_fail(&s->fail, SRV_ERR_BAD_REQUEST,
                       "parts: one part for every record of the drill, no more, no less");
  {
    const char *p2[2] = {s->id, s->idx};
    if (!(r = srv_db_exec(db, SRV_STMT_DRILL_HAS_INDEX, p2, &st)))
      return st;
    int dup = PQntuples(r) != 0;
    PQclear(r);
    if (dup)
      return srv_ep_fail(&s->fail, SRV_ERR_CONFLICT,
                         "A batch of your custodian index is stored for this drill already");
  }
  {
    const char *p4[4] = {s->id, s->idx, p->id, s->batch};
    if (!(r = srv_db_exec(db, SRV_STMT_DRILL_PARTS_INSERT, p4, &st))) {
      if (st == SRV_DB_CONSTRAINT)
        return srv_ep_fail(&s->fail, SRV_ERR_BAD_REQUEST,
                           "parts: a record_id is not in the drill, or appears twice");
      return st;
    }
    PQclear(r);
  }
  snprintf(obj, sizeof obj, "drill:%s", s->id);
  json_t *dt = json_pack("{s:i,s:I}", "custodian_index", atoi(s->idx), "parts", (json_int_t)s->n);
  struct srv_audit_event ev = {"drill.part", obj, "success", dt, NULL};
  st = dt ? srv_audit_append(db, s->req, &ev) : SRV_DB_ERROR;
  json_decref(dt);
  return st;
}

enum MHD_Result srv_ep_drills_parts(struct srv_request *req)
{
  const struct srv_principal *p = srv_request_principal(req);
  const json_t *a = json_object_get(srv_request_json(req), "parts"), *it;
  json_t *batch = json_array();
  struct srv_dp s;
  enum srv_db_status st;
  size_t i;

  memset(&s, 0, sizeof s);
  s.req = req;
  s.id = srv_request_param(req, "id");
  if (!batch)
    return srv_reply_error(req, SRV_ERR_INTERNAL, NULL);
  if (!ke_drill_id_ok(s.id)) {
    json_decref(batch);
    return srv_reply_error(req, SRV_ERR_NOT_FOUND, NULL);
  }
  if (p->custodian_index < 1 || p->custodian_index > 255) {
    json_decref(batch);
    return srv_reply_error(req, SRV_ERR_FORBIDDEN, "You hold no custodian index");
  }
  if (!json_is_array(a) || json_array_size(a) == 0) {
    json_decref(batch);
    return srv_ep_bad(req, "parts: an array of {record_id, part}");
  }
  json_array_foreach(a, i, it) {
    const char *rid = srv_device_str(it, "record_id"), *b64 = srv_device_str(it, "part");
    uint8_t part[KE_PART_LEN];
    char hex[2 * KE_PART_LEN + 1], pid[KE_DRILL_PART_ID_MAX];
    ke_point Re;

    /* Only the shape is checkable: magic, version and a valid Re. */
    if (!json_is_object(it) || json_object_size(it) != 2 || !ke_drill_part_id(pid, s.id, rid) ||
        !b64 || ke_b64url_decode_fixed(part, sizeof part, b64) != KE_OK || part[0] != 'K' ||
        part[1] != 'P' || part[2] != 1 || ke_point_parse(&Re, part + 3, KE_POINT_LEN) != KE_OK) {
      json_decref(batch);
      return srv_ep_bad(req, "parts: each {record_id: a record id, part: base64url of a "
                                 "161-byte sealed part (KP 01 ...)}");
    }
    ke_hex_encode(hex, part, sizeof part);
    if (json_array_append_new(batch, json_pack("{s:s,s:s}", "record_id", rid, "part", hex))) {
      json_decref(batch);
      return srv_reply_error(req, SRV_ERR_INTERNAL, NULL);
    }
  }
  s.n = json_array_size(batch);
  s.batch = json_dumps(batch, JSON_COMPACT);
  json_decref(batch);
  if (!s.batch)
    return srv_reply_error(req, SRV_ERR_INTERNAL, NULL);
  snprintf(s.idx, sizeof s.idx, "%d", p->custodian_index);
  st = srv_db_txn(SRV_DB_SERIALIZABLE, srv_dp_parts_txn, &s);
  free(s.batch);
  if (st != SRV_DB_OK)
    return srv_ep_txn_reply(req, st, &s.fail);
  /* From the first batch on, the parts are out of the custodians' hands:
   * a full drill's records are disclosed (srv_drill_close.c). */
  if (!s.canary)
    srv_drill_disclose_after(req, s.id);
  srv_longpoll_notify(s.id); /* the auditor's drill run waits on the status */
  return srv_reply_json(req, MHD_HTTP_CREATED,
                        json_pack("{s:s,s:i,s:I}", "drill_id", s.id, "custodian_index",
                                  p->custodian_index, "parts", (json_int_t)s.n));
}

/* The summary's facts for the audit event, checked against the snapshot:
 * total = the snapshot's size, ok + failed = total, failures name distinct
 * records with a reason, custodian indices in 1..255. */
static json_t *srv_dp_facts(const json_t *sum, const char *id, long long nrec, const char **why)
{
  json_int_t total, okc, failed;
  const json_t *fl = json_object_get(sum, "failures"), *ci = json_object_get(sum, "custodians"),
               *it;
  size_t i;
  char pid[KE_DRILL_PART_ID_MAX];

  *why = "summary: type, drill, total, ok, failed, failures [{record_id, reason}], custodians";
  if (!json_is_string(json_object_get(sum, "type")) ||
      strcmp(json_string_value(json_object_get(sum, "type")), KE_DRILL_RESULT_TYPE) != 0 ||
      !json_is_string(json_object_get(sum, "drill")) ||
      strcmp(json_string_value(json_object_get(sum, "drill")), id) != 0 ||
      !json_is_integer(json_object_get(sum, "total")) ||
      !json_is_integer(json_object_get(sum, "ok")) ||
      !json_is_integer(json_object_get(sum, "failed")) || !json_is_array(fl) ||
      !json_is_array(ci) || json_array_size(ci) == 0 || json_array_size(ci) > 255)
    return NULL;
  total = json_integer_value(json_object_get(sum, "total"));
  okc = json_integer_value(json_object_get(sum, "ok"));
  failed = json_integer_value(json_object_get(sum, "failed"));
  if (total != nrec || okc < 0 || failed < 0 || okc + failed != total ||
      (json_int_t)json_array_size(fl) != failed) {
    *why = "summary: total must be the drill's record count, ok + failed = total, one failure "
           "entry per failed record";
    return NULL;
  }
  json_array_foreach(fl, i, it) {
    const char *rid = srv_device_str(it, "record_id"), *rs = srv_device_str(it, "reason");
    if (!ke_drill_part_id(pid, id, rid) || !srv_text_ok(rs, 1, 200))
      return NULL;
  }
  json_array_foreach(ci, i, it) {
    if (!json_is_integer(it) || json_integer_value(it) < 1 || json_integer_value(it) > 255)
      return NULL;
  }
  return json_pack("{s:I,s:I,s:I,s:o,s:b,s:O}", "total", total, "ok", okc, "failed", failed,
                   "failures",
                   failed <= SRV_DRILL_FAIL_MAX ? json_incref((json_t *)fl) : json_array(),
                   "failures_truncated", failed > SRV_DRILL_FAIL_MAX, "custodians", ci);
}

static enum srv_db_status srv_dp_result_txn(struct srv_db *db, void *cls)
{
  struct srv_dp *s = cls;
  const struct srv_principal *p = srv_request_principal(s->req);
  enum srv_db_status st;
  PGresult *d, *r;
  uint8_t h[32];
  char obj[64], hh[65];
  struct srv_client_key ck;
  int found;
  const char *why;

  if ((st = srv_dp_open(db, s, &d)) != SRV_DB_OK)
    return st;
  int mine = strcmp(p->id, PQgetvalue(d, 0, SRV_DC_AUDITOR_ID)) == 0;
  PQclear(d);
  if (!mine)
    return srv_ep_fail(&s->fail, SRV_ERR_FORBIDDEN, "Only the auditor who started the drill posts "
                                             "its result");
  if ((st = srv_client_key_get(db, p->id, &ck, &found)) != SRV_DB_OK)
    return st;
  if (!found)
    return srv_ep_fail(&s->fail, SRV_ERR_CONFLICT, "No client key is registered for you");
  if (!srv_device_ed25519_ok(ck.pub, (const uint8_t *)s->summary, strlen(s->summary), s->sig))
    return srv_ep_fail(&s->fail, SRV_ERR_BAD_SIGNATURE,
                       "The summary signature does not verify with your registered client key");
  json_t *facts = srv_dp_facts(s->sum, s->id, s->nrec, &why);
  if (!facts)
    return srv_ep_fail(&s->fail, SRV_ERR_BAD_REQUEST, why);
  if (json_object_set_new(facts, "mode", json_string(s->canary ? "canary" : "full"))) {
    json_decref(facts);
    return SRV_DB_ERROR;
  }
  if (EVP_Digest(s->summary, strlen(s->summary), h, NULL, EVP_sha256(), NULL) != 1) {
    json_decref(facts);
    return SRV_DB_ERROR;
  }
  ke_hex_encode(hh, h, sizeof h);
  if (json_object_set_new(facts, "summary_sha256", json_string(hh)) ||
      json_object_set_new(facts, "client_key", json_string(ck.fingerprint))) {
    json_decref(facts);
    return SRV_DB_ERROR;
  }
  {
    const char *p3[3] = {s->id, s->summary, s->sig_hex};
    if (!(r = srv_db_exec(db, SRV_STMT_DRILL_RESULT, p3, &st))) {
      json_decref(facts);
      return st;
    }
    PQclear(r);
  }
  snprintf(obj, sizeof obj, "drill:%s", s->id);
  struct srv_audit_event ev = {"drill.result", obj, "success", facts, NULL};
  st = srv_audit_append(db, s->req, &ev);
  json_decref(facts);
  /* The drill is closed: its parts go in the same transaction, never
   * before its records are disclosed (normally done after the first
   * batch; here only if that did not happen). */
  if (st == SRV_DB_OK && s->disclose_pending)
    st = srv_drill_disclose(db, s->req, s->id, &s->disclosed);
  if (st == SRV_DB_OK)
    st = srv_drill_purge(db, s->req, s->id, "result", &s->purged);
  return st;
}

enum MHD_Result srv_ep_drills_result(struct srv_request *req)
{
  const json_t *b = srv_request_json(req);
  const char *sig = srv_device_str(b, "signature");
  struct srv_dp s;
  enum srv_db_status st;
  size_t len;

  memset(&s, 0, sizeof s);
  s.req = req;
  s.id = srv_request_param(req, "id");
  s.sum = json_object_get(b, "summary");
  if (!ke_drill_id_ok(s.id))
    return srv_reply_error(req, SRV_ERR_NOT_FOUND, NULL);
  if (!json_is_object(s.sum))
    return srv_ep_bad(req, "summary: an object");
  if (!sig || ke_b64url_decode_fixed(s.sig, sizeof s.sig, sig) != KE_OK)
    return srv_ep_bad(req, "signature: base64url of an Ed25519 signature");
  if (ke_canon_dump(s.sum, &s.summary, &len) != KE_OK)
    return srv_ep_bad(req, "summary: not canonicalizable JSON");
  ke_hex_encode(s.sig_hex, s.sig, sizeof s.sig);
  st = srv_db_txn(SRV_DB_SERIALIZABLE, srv_dp_result_txn, &s);
  free(s.summary);
  if (st != SRV_DB_OK)
    return srv_ep_txn_reply(req, st, &s.fail);
  return srv_reply_json(req, MHD_HTTP_CREATED,
                        json_pack("{s:s,s:s,s:s,s:I,s:I}", "drill_id", s.id, "state", "done",
                                  "mode", s.canary ? "canary" : "full", "parts_deleted",
                                  (json_int_t)s.purged, "disclosed", (json_int_t)s.disclosed));
}
