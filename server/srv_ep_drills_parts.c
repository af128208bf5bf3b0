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
#include "srv_rows.h"

/* Failed records listed in the audit event: an audit leaf holds at most
 * 64 KiB.  Past this the event carries the counts and the summary's
 * SHA-256 only; the whole signed summary is in drills.result. */
#define SRV_DRILL_FAIL_MAX 500

/* The drill's metadata (no envelope), in the members' order of the API. */
static const struct srv_jcol srv_drill_view_cols[] = {
  SRV_JCOL("id", SRV_CT_TEXT),
  SRV_JCOL("auditor", SRV_CT_TEXT),
  SRV_JCOL("selection", SRV_CT_TEXT),
  {"E", "e_point", SRV_CT_BYTEA, SRV_COL_B64},
  SRV_JCOL("state", SRV_CT_TEXT),
  SRV_JCOL("created", SRV_CT_TIME),
  SRV_JCOL_NULL("closed", SRV_CT_TIME),
  SRV_JCOL("records", SRV_CT_INT64),
  SRV_JCOL("custodian_indices", SRV_CT_JSON),
  /* What follows the drill (schema 014): its mode, the server's deadline
   * (drill_expiry after the start), and once closed how many parts were
   * deleted; how many records it disclosed. */
  SRV_JCOL("mode", SRV_CT_TEXT),
  SRV_JCOL("open_until", SRV_CT_TIME),
  SRV_JCOL_NULL("parts_deleted", SRV_CT_INT64),
  SRV_JCOL("disclosed", SRV_CT_INT64),
  SRV_JCOL_END};

json_t *srv_drill_view(const PGresult *r) { return srv_row_json(r, 0, srv_drill_view_cols); }

/* One message for every way an element of "parts" can be wrong. */
#define SRV_DP_PART_MSG \
  "parts: each {record_id: a record id, part: base64url of a 161-byte sealed part (KP 01 ...)}"
static int srv_dp_rid_ok(const char *s) { return srv_device_id_ok(s, "rec-"); }

struct srv_dp_part {
  const char *record_id;
  uint8_t part[KE_PART_LEN];
};
static const struct ke_jfield srv_dp_part_fields[] = {
  KE_JF_STR(struct srv_dp_part, record_id, SRV_DEV_ID_LEN, SRV_DEV_ID_LEN, srv_dp_rid_ok,
            SRV_DP_PART_MSG),
  KE_JF_B64_FIXED(struct srv_dp_part, part, SRV_DP_PART_MSG), KE_JF_END};
static const struct ke_jspec srv_dp_part_spec = KE_JSPEC(struct srv_dp_part, srv_dp_part_fields, 0);

struct srv_dp_parts_body {
  const json_t *parts; /* of srv_dp_part_spec */
};
static const struct ke_jfield srv_dp_parts_fields[] = {
  KE_JF_ARRAY(struct srv_dp_parts_body, parts, 1, INT64_MAX,
              "parts: an array of {record_id, part}"),
  KE_JF_END};
const struct ke_jspec srv_ep_drills_parts_body =
  KE_JSPEC(struct srv_dp_parts_body, srv_dp_parts_fields, 0);

struct srv_dp_result_body {
  const json_t *summary;
  uint8_t signature[64];
};
static const struct ke_jfield srv_dp_result_fields[] = {
  KE_JF_OBJECT(struct srv_dp_result_body, summary, "summary: an object"),
  KE_JF_B64_FIXED(struct srv_dp_result_body, signature,
                  "signature: base64url of an Ed25519 signature"),
  KE_JF_END};
const struct ke_jspec srv_ep_drills_result_body =
  KE_JSPEC(struct srv_dp_result_body, srv_dp_result_fields, 0);

struct srv_dp {
  struct srv_request *req;
  const char *id;
  char *batch; /* JSON array of {record_id, part (hex)} */
  size_t n;
  char idx[8];
  /* result */
  struct srv_dp_result_body b;
  char *summary, sig_hex[129];
  struct srv_ep_fail fail;
  long long nrec;
  int canary;               /* the drill's mode is canary */
  int disclose_pending;     /* full, has parts, its records not disclosed yet */
  int auditor, same_person; /* the caller is the drill's auditor, or their person */
  long long disclosed, purged;
};

/* Lock the drill and read it: an open drill, or a failure.  `person`: the
 * caller's (users.person), or NULL. */
static enum srv_db_status srv_dp_open(struct srv_db *db, struct srv_dp *s, const char *person)
{
  struct srv_drill_row d;
  enum srv_db_status st;
  PGresult *r;
  const char *why = NULL;

  if ((st = srv_drill_lock_get(db, s->id, srv_principal_scope(srv_request_principal(s->req)),
                               &s->fail, &r, &d)) != SRV_DB_OK)
    return st;
  if (strcmp(d.state, "open") != 0)
    why = "The drill is done: it takes nothing more";
  else if (d.expired)
    why = "The drill expired: it takes nothing more";
  s->nrec = d.records;
  s->canary = strcmp(d.mode, "canary") == 0;
  s->disclosed = d.disclosed;
  s->disclose_pending = !s->canary && d.undisclosed && strcmp(d.custodian_indices, "[]") != 0;
  s->auditor = strcmp(srv_request_principal(s->req)->id, d.auditor_id) == 0;
  s->same_person = person && d.person && strcmp(person, d.person) == 0;
  PQclear(r);
  return why ? srv_ep_fail(&s->fail, SRV_ERR_CONFLICT, why) : SRV_DB_OK;
}

static enum srv_db_status srv_dp_parts_txn(struct srv_db *db, void *cls)
{
  struct srv_dp *s = cls;
  const struct srv_principal *p = srv_request_principal(s->req);
  const char *p1[1] = {s->id}, *pid[1] = {p->id}, *p2[2] = {s->id, s->idx};
  const char *p4[4] = {s->id, s->idx, p->id, s->batch}, *ex;
  enum srv_db_status st;
  PGresult *r;

  if (!(r = srv_db_exec(db, SRV_STMT_RET_CUSTODIAN_PERSON, pid, &st)))
    return st;
  st = srv_dp_open(db, s, srv_row_text(r, "person"));
  PQclear(r);
  /* Honest custodians refuse an unsigned or expired drill themselves;
   * the server says so first. */
  if (st != SRV_DB_OK || !(r = srv_db_exec(db, SRV_STMT_DRILL_SIGNED, p1, &st)))
    return st;
  int unsigned_ = PQntuples(r) != 1;
  int expired = !unsigned_ && (ex = srv_row_text(r, "expired")) && *ex == 't';
  PQclear(r);
  if (unsigned_ || expired)
    return srv_ep_fail(&s->fail, SRV_ERR_CONFLICT,
                       unsigned_ ? "The auditor has not signed the "
                                   "drill's statement yet"
                                 : "The drill's statement has expired");
  if (p->kind == SRV_PRINCIPAL_USER && s->auditor)
    return srv_ep_fail(&s->fail, SRV_ERR_FORBIDDEN,
                       "You started this drill: you may not contribute");
  if (s->same_person)
    return srv_ep_fail(&s->fail, SRV_ERR_FORBIDDEN,
                       "This custodian account belongs to the auditor "
                       "of the drill: it may not contribute");
  if ((long long)s->n != s->nrec)
    return srv_ep_fail(&s->fail, SRV_ERR_BAD_REQUEST,
                       "parts: one part for every record of the drill, no more, no less");
  if (!(r = srv_db_exec(db, SRV_STMT_DRILL_HAS_INDEX, p2, &st)))
    return st;
  int dup = PQntuples(r) != 0;
  PQclear(r);
  if (dup)
    return srv_ep_fail(&s->fail, SRV_ERR_CONFLICT,
                       "A batch of your custodian index is stored for this drill already");
  if (!(r = srv_db_exec(db, SRV_STMT_DRILL_PARTS_INSERT, p4, &st)))
    return st == SRV_DB_CONSTRAINT
             ? srv_ep_fail(&s->fail, SRV_ERR_BAD_REQUEST,
                           "parts: a record_id is not in the drill, or appears twice")
             : st;
  PQclear(r);
  return srv_audit_success(
    db, s->req, "drill.part", "drill", s->id,
    json_pack("{s:i,s:I}", "custodian_index", atoi(s->idx), "parts", (json_int_t)s->n));
}

enum MHD_Result srv_ep_drills_parts(struct srv_request *req)
{
  const struct srv_principal *p = srv_request_principal(req);
  struct srv_dp_parts_body b;
  json_t *batch, *it;
  struct srv_dp s;
  enum srv_db_status st;
  enum MHD_Result ret;
  size_t i;

  memset(&s, 0, sizeof s);
  s.req = req;
  s.id = srv_request_param(req, "id");
  if (!ke_drill_id_ok(s.id))
    return srv_reply_error(req, SRV_ERR_NOT_FOUND, NULL);
  if (p->custodian_index < 1 || p->custodian_index > 255)
    return srv_reply_error(req, SRV_ERR_FORBIDDEN, "You hold no custodian index");
  if (srv_ep_body(req, &srv_ep_drills_parts_body, &b, &ret))
    return ret;
  if (!(batch = json_array()))
    return srv_reply_error(req, SRV_ERR_INTERNAL, NULL);
  json_array_foreach (b.parts, i, it) {
    struct srv_dp_part e;
    char hex[2 * KE_PART_LEN + 1];
    ke_point Re;

    /* Only the shape is checkable: magic, version and a valid Re. */
    if (ke_json_spec_parse(it, &srv_dp_part_spec, &e, NULL) != 0 || e.part[0] != 'K' ||
        e.part[1] != 'P' || e.part[2] != 1 ||
        ke_point_parse(&Re, e.part + 3, KE_POINT_LEN) != KE_OK) {
      json_decref(batch);
      return srv_ep_bad(req, SRV_DP_PART_MSG);
    }
    ke_hex_encode(hex, e.part, sizeof e.part);
    if (json_array_append_new(batch, json_pack("{s:s,s:s}", "record_id", e.record_id, "part", hex)))
      break;
  }
  s.n = json_array_size(batch);
  s.batch = s.n == json_array_size(b.parts) ? json_dumps(batch, JSON_COMPACT) : NULL;
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

/* The summary the auditor signed (its members beyond these are kept: the
 * signed text is stored as it came). */
#define SRV_DP_SUM_MSG \
  "summary: type, drill, total, ok, failed, failures [{record_id, reason}], custodians"
static int srv_dp_type_ok(const char *s) { return strcmp(s, KE_DRILL_RESULT_TYPE) == 0; }
struct srv_dp_sum {
  const char *type, *drill;
  int64_t total, ok, failed;
  const json_t *failures, *custodians;
};
static const struct ke_jfield srv_dp_sum_fields[] = {
  KE_JF_STR(struct srv_dp_sum, type, 1, 64, srv_dp_type_ok, SRV_DP_SUM_MSG),
  KE_JF_STR(struct srv_dp_sum, drill, 0, 64, NULL, SRV_DP_SUM_MSG),
  KE_JF_INT(struct srv_dp_sum, total, INT64_MIN, INT64_MAX, SRV_DP_SUM_MSG),
  KE_JF_INT(struct srv_dp_sum, ok, INT64_MIN, INT64_MAX, SRV_DP_SUM_MSG),
  KE_JF_INT(struct srv_dp_sum, failed, INT64_MIN, INT64_MAX, SRV_DP_SUM_MSG),
  KE_JF_ARRAY(struct srv_dp_sum, failures, 0, INT64_MAX, SRV_DP_SUM_MSG),
  KE_JF_ARRAY(struct srv_dp_sum, custodians, 1, 255, SRV_DP_SUM_MSG),
  KE_JF_END};
static const struct ke_jspec srv_dp_sum_spec =
  KE_JSPEC(struct srv_dp_sum, srv_dp_sum_fields, KE_JS_OPEN);

static int srv_dp_reason_ok(const char *s) { return srv_text_ok(s, 1, 200); }
struct srv_dp_failure {
  const char *record_id, *reason;
};
static const struct ke_jfield srv_dp_failure_fields[] = {
  KE_JF_STR(struct srv_dp_failure, record_id, SRV_DEV_ID_LEN, SRV_DEV_ID_LEN, srv_dp_rid_ok, NULL),
  KE_JF_STR(struct srv_dp_failure, reason, 1, 200, srv_dp_reason_ok, NULL), KE_JF_END};
static const struct ke_jspec srv_dp_failure_spec =
  KE_JSPEC(struct srv_dp_failure, srv_dp_failure_fields, KE_JS_OPEN);

/* The summary's facts for the audit event, checked against the snapshot:
 * total = the snapshot's size, ok + failed = total, failures name distinct
 * records with a reason, custodian indices in 1..255. */
static json_t *srv_dp_facts(const json_t *sum, const char *id, long long nrec, const char **why)
{
  struct srv_dp_sum m;
  struct srv_dp_failure f;
  const json_t *it;
  size_t i;

  *why = SRV_DP_SUM_MSG;
  if (ke_json_spec_parse(sum, &srv_dp_sum_spec, &m, NULL) != 0 || strcmp(m.drill, id) != 0)
    return NULL;
  if (m.total != nrec || m.ok < 0 || m.failed < 0 || m.ok != m.total - m.failed ||
      (int64_t)json_array_size(m.failures) != m.failed) {
    *why = "summary: total must be the drill's record count, ok + failed = total, one failure "
           "entry per failed record";
    return NULL;
  }
  json_array_foreach (m.failures, i, it) {
    if (ke_json_spec_parse(it, &srv_dp_failure_spec, &f, NULL) != 0)
      return NULL;
  }
  json_array_foreach (m.custodians, i, it) {
    if (!json_is_integer(it) || json_integer_value(it) < 1 || json_integer_value(it) > 255)
      return NULL;
  }
  return json_pack("{s:I,s:I,s:I,s:o,s:b,s:O}", "total", (json_int_t)m.total, "ok",
                   (json_int_t)m.ok, "failed", (json_int_t)m.failed, "failures",
                   m.failed <= SRV_DRILL_FAIL_MAX ? json_incref((json_t *)m.failures)
                                                  : json_array(),
                   "failures_truncated", m.failed > SRV_DRILL_FAIL_MAX, "custodians", m.custodians);
}

static enum srv_db_status srv_dp_result_txn(struct srv_db *db, void *cls)
{
  struct srv_dp *s = cls;
  const struct srv_principal *p = srv_request_principal(s->req);
  enum srv_db_status st;
  PGresult *r;
  uint8_t h[32];
  char hh[65];
  struct srv_client_key ck;
  int found;
  const char *why;

  if ((st = srv_dp_open(db, s, NULL)) != SRV_DB_OK)
    return st;
  if (!s->auditor)
    return srv_ep_fail(&s->fail, SRV_ERR_FORBIDDEN,
                       "Only the auditor who started the drill posts "
                       "its result");
  if ((st = srv_client_key_get(db, p->id, &ck, &found)) != SRV_DB_OK)
    return st;
  if (!found)
    return srv_ep_fail(&s->fail, SRV_ERR_CONFLICT, "No client key is registered for you");
  if (!srv_device_ed25519_ok(ck.pub, (const uint8_t *)s->summary, strlen(s->summary),
                             s->b.signature))
    return srv_ep_fail(&s->fail, SRV_ERR_BAD_SIGNATURE,
                       "The summary signature does not verify with your registered client key");
  json_t *facts = srv_dp_facts(s->b.summary, s->id, s->nrec, &why);
  if (!facts)
    return srv_ep_fail(&s->fail, SRV_ERR_BAD_REQUEST, why);
  if (EVP_Digest(s->summary, strlen(s->summary), h, NULL, EVP_sha256(), NULL) != 1)
    goto err;
  ke_hex_encode(hh, h, sizeof h);
  if (json_object_set_new(facts, "mode", json_string(s->canary ? "canary" : "full")) ||
      json_object_set_new(facts, "summary_sha256", json_string(hh)) ||
      json_object_set_new(facts, "client_key", json_string(ck.fingerprint)))
    goto err;
  const char *p3[3] = {s->id, s->summary, s->sig_hex};
  if (!(r = srv_db_exec(db, SRV_STMT_DRILL_RESULT, p3, &st))) {
    json_decref(facts);
    return st;
  }
  PQclear(r);
  st = srv_audit_success(db, s->req, "drill.result", "drill", s->id, facts);
  /* The drill is closed: its parts go in the same transaction, never
   * before its records are disclosed (normally done after the first
   * batch; here only if that did not happen). */
  if (st == SRV_DB_OK && s->disclose_pending)
    st = srv_drill_disclose(db, s->req, s->id, &s->disclosed);
  if (st == SRV_DB_OK)
    st = srv_drill_purge(db, s->req, s->id, "result", &s->purged);
  return st;
err:
  json_decref(facts);
  return SRV_DB_ERROR;
}

enum MHD_Result srv_ep_drills_result(struct srv_request *req)
{
  struct srv_dp s;
  enum srv_db_status st;
  enum MHD_Result ret;
  size_t len;

  memset(&s, 0, sizeof s);
  s.req = req;
  s.id = srv_request_param(req, "id");
  if (!ke_drill_id_ok(s.id))
    return srv_reply_error(req, SRV_ERR_NOT_FOUND, NULL);
  if (srv_ep_body(req, &srv_ep_drills_result_body, &s.b, &ret))
    return ret;
  if (ke_canon_dump(s.b.summary, &s.summary, &len) != KE_OK)
    return srv_ep_bad(req, "summary: not canonicalizable JSON");
  ke_hex_encode(s.sig_hex, s.b.signature, sizeof s.b.signature);
  st = srv_db_txn(SRV_DB_SERIALIZABLE, srv_dp_result_txn, &s);
  free(s.summary);
  if (st != SRV_DB_OK)
    return srv_ep_txn_reply(req, st, &s.fail);
  return srv_reply_json(req, MHD_HTTP_CREATED,
                        json_pack("{s:s,s:s,s:s,s:I,s:I}", "drill_id", s.id, "state", "done",
                                  "mode", s.canary ? "canary" : "full", "parts_deleted",
                                  (json_int_t)s.purged, "disclosed", (json_int_t)s.disclosed));
}
