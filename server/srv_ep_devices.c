/*
 * srv_ep_devices.c - reads of devices by people (helpdesk and auditor, by
 * the route table; docs/agent-protocol.md section 6):
 *   GET /v1/devices?q=TEXT[&limit=N]   prefix search on hostname, serial
 *                                      and Key ID (case-insensitive; a
 *                                      BitLocker Key ID matches without
 *                                      its brace, as the recovery screen
 *                                      shows its first 8 digits)
 *   GET /v1/devices/{id}               metadata and the history of records
 *
 * Neither ever returns an envelope, a verifier or a signature: the answer
 * is built from an explicit column list that has none of them.  Both are
 * audited (device.search, device.read): which devices a person looked at is
 * part of the story of a retrieval.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "srv_audit.h"
#include "srv_device.h"
#include "srv_auth.h"
#include "srv_ep.h"
#include "srv_routes.h"
#include "srv_rows.h"

#define SRV_DS_Q_MAX 128

struct srv_ds_query {
  const char *q;
  int64_t limit;
};
static int srv_ds_q_ok(const char *q) { return srv_text_ok(q, 1, SRV_DS_Q_MAX); }
static const struct srv_qfield srv_ds_query_fields[] = {
  SRV_QF_(struct srv_ds_query, q, SRV_Q_STR, SRV_Q_REQUIRED, 1, SRV_DS_Q_MAX, 0, srv_ds_q_ok,
          "q: 1 to 128 bytes of text (a hostname, serial or Key ID prefix)"),
  SRV_QF_UINT(struct srv_ds_query, limit, 1, 500, 50, "limit: 1 to 500"), SRV_QF_END};
const struct srv_qspec srv_ep_devices_search_query =
  SRV_QSPEC(struct srv_ds_query, srv_ds_query_fields);

/* Never an envelope, a verifier or a signature: see the top. */
static const struct srv_jcol srv_ds_cols[] = {{"device_id", "id", SRV_CT_TEXT, 0},
                                              SRV_JCOL("hostname", SRV_CT_TEXT),
                                              SRV_JCOL("serial", SRV_CT_TEXT),
                                              SRV_JCOL("os", SRV_CT_TEXT),
                                              {"group", "group_name", SRV_CT_TEXT, 0},
                                              SRV_JCOL("enrolled", SRV_CT_TIME),
                                              SRV_JCOL_NULL("last_checkin", SRV_CT_TIME),
                                              SRV_JCOL("disabled", SRV_CT_BOOL),
                                              SRV_JCOL("matched", SRV_CT_JSON),
                                              SRV_JCOL_NULL("records", SRV_CT_JSON),
                                              SRV_JCOL_END};

struct srv_ds {
  struct srv_request *req;
  const char *q;
  char *pat, *pat_key, limit[8];
  json_t *list;
};

static enum srv_db_status srv_ds_txn(struct srv_db *db, void *cls)
{
  struct srv_ds *s = cls;
  const char *p4[4] = {s->pat, s->pat_key, s->limit,
                       srv_principal_scope(srv_request_principal(s->req))};
  enum srv_db_status st;
  json_t *d, *e;
  size_t i;

  if ((st = srv_db_rows_json(db, SRV_STMT_DEVICE_SEARCH, p4, srv_ds_cols, &s->list)))
    return st;
  /* No record matched: the device itself did. */
  json_array_foreach (s->list, i, e)
    if (json_is_null(json_object_get(e, "records")) &&
        json_object_set_new(e, "records", json_array()))
      return SRV_DB_ERROR;
  d = json_pack("{s:s,s:I}", "q", s->q, "results", (json_int_t)json_array_size(s->list));
  return srv_audit_success(db, s->req, "device.search", NULL, NULL, d);
}

enum MHD_Result srv_ep_devices_search(struct srv_request *req)
{
  struct srv_ds_query q;
  struct srv_ds s = {.req = req};
  enum MHD_Result ret;
  const char *key;
  int failed;

  if (srv_ep_query(req, &srv_ep_devices_search_query, &q, &ret))
    return ret;
  s.q = q.q;
  snprintf(s.limit, sizeof s.limit, "%lld", (long long)q.limit);
  /* "{8F3A2B1C" and "8f3a2b1c" both find "{8F3A2B1C-...}". */
  for (key = s.q; *key == '{'; key++)
    ;
  s.pat = srv_like_prefix(s.q);
  s.pat_key = srv_like_prefix(key);
  if (!s.pat || !s.pat_key) {
    free(s.pat);
    free(s.pat_key);
    return srv_reply_error(req, SRV_ERR_INTERNAL, NULL);
  }
  failed = srv_ep_txn(req, SRV_DB_SERIALIZABLE, srv_ds_txn, &s, NULL, &ret);
  free(s.pat);
  free(s.pat_key);
  if (failed) {
    json_decref(s.list);
    return ret;
  }
  return srv_reply_json(req, MHD_HTTP_OK, json_pack("{s:o}", "devices", s.list));
}

/* ---- one device ------------------------------------------------------------ */

static const struct srv_jcol srv_dg_device_cols[] = {
  {"device_id", "id", SRV_CT_TEXT, 0},
  SRV_JCOL("hostname", SRV_CT_TEXT),
  SRV_JCOL("serial", SRV_CT_TEXT),
  SRV_JCOL("os", SRV_CT_TEXT),
  SRV_JCOL("hardware", SRV_CT_JSON),
  {"group", "group_name", SRV_CT_TEXT, 0},
  SRV_JCOL("enrolled", SRV_CT_TIME),
  SRV_JCOL_NULL("last_checkin", SRV_CT_TIME),
  SRV_JCOL_NULL("agent_version", SRV_CT_TEXT),
  SRV_JCOL_NULL("escrow_key_status", SRV_CT_TEXT),
  SRV_JCOL("disabled", SRV_CT_BOOL),
  {"enroll_token", "enrollment_token", SRV_CT_INT64, 0},
  SRV_JCOL_NULL("disabled_at", SRV_CT_TIME),
  SRV_JCOL_NULL("disabled_by", SRV_CT_TEXT),
  SRV_JCOL_NULL("disabled_reason", SRV_CT_TEXT),
  SRV_JCOL_END};

static const struct srv_jcol srv_dg_record_cols[] = {
  {"record_id", "id", SRV_CT_TEXT, 0},
  SRV_JCOL("volume_id", SRV_CT_TEXT),
  SRV_JCOL("key_type", SRV_CT_TEXT),
  SRV_JCOL("key_id", SRV_CT_TEXT),
  SRV_JCOL("state", SRV_CT_TEXT),
  SRV_JCOL("created", SRV_CT_TIME),
  SRV_JCOL_NULL("superseded_at", SRV_CT_TIME),
  SRV_JCOL_NULL("superseded_by", SRV_CT_TEXT),
  SRV_JCOL("escrow_fingerprint", SRV_CT_TEXT),
  SRV_JCOL("envelope_sha256", SRV_CT_TEXT),
  SRV_JCOL_NULL("leaf_index", SRV_CT_INT64),
  SRV_JCOL_NULL("last_verifier_match", SRV_CT_BOOL),
  SRV_JCOL_NULL("last_verifier_at", SRV_CT_TIME),
  SRV_JCOL_NULL("last_unlock_check", SRV_CT_TEXT),
  SRV_JCOL_NULL("last_unlock_at", SRV_CT_TIME),
  SRV_JCOL_NULL("rotate_requested", SRV_CT_TIME),
  SRV_JCOL_NULL("rotate_requested_by", SRV_CT_TEXT),
  SRV_JCOL_NULL("rotate_reason", SRV_CT_TEXT),
  /* a record disclosed by a drill names it (schema 014) */
  {"disclosed_by_drill", "disclosed_drill", SRV_CT_TEXT, SRV_COL_NULLABLE},
  SRV_JCOL_END};

struct srv_dg {
  struct srv_request *req;
  const char *id;
  json_t *out;
  struct srv_ep_fail fail;
};

static enum srv_db_status srv_dg_txn(struct srv_db *db, void *cls)
{
  struct srv_dg *g = cls;
  const char *p1[1] = {g->id};
  /* A device outside the caller's scope is no device at all: 404. */
  const char *p2[2] = {g->id, srv_principal_scope(srv_request_principal(g->req))};
  enum srv_db_status st;
  PGresult *r;
  json_t *dev, *recs = NULL, *d;

  json_decref(g->out);
  g->out = NULL;
  if (!(r = srv_db_exec(db, SRV_STMT_DEVICE_GET, p2, &st)))
    return st;
  if (PQntuples(r) != 1) {
    PQclear(r);
    return srv_ep_fail(&g->fail, SRV_ERR_NOT_FOUND, "No such device");
  }
  dev = srv_row_json(r, 0, srv_dg_device_cols);
  PQclear(r);
  if (!dev)
    return SRV_DB_ERROR;
  if ((st = srv_db_rows_json(db, SRV_STMT_DEVICE_RECORDS, p1, srv_dg_record_cols, &recs))) {
    json_decref(dev);
    return st;
  }
  if (!(g->out = json_pack("{s:o,s:o}", "device", dev, "records", recs)))
    return SRV_DB_ERROR;
  d = json_pack("{s:I}", "records", (json_int_t)json_array_size(recs));
  return srv_audit_success(db, g->req, "device.read", "device", g->id, d);
}

enum MHD_Result srv_ep_devices_get(struct srv_request *req)
{
  struct srv_dg g = {.req = req, .id = srv_request_param(req, "id")};
  enum MHD_Result ret;

  if (!srv_device_id_ok(g.id, "dev-"))
    return srv_reply_error(req, SRV_ERR_NOT_FOUND, "No such device");
  if (srv_ep_txn(req, SRV_DB_SERIALIZABLE, srv_dg_txn, &g, &g.fail, &ret)) {
    json_decref(g.out);
    return ret;
  }
  return srv_reply_json(req, MHD_HTTP_OK, g.out);
}
