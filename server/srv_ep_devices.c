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

#include "ke_log.h"
#include "srv_account.h"
#include "srv_audit.h"
#include "srv_device.h"
#include "srv_ep.h"
#include "srv_routes.h"

#define SRV_DS_Q_MAX 128
#define SRV_DS_LIMIT_DEFAULT 50
#define SRV_DS_LIMIT_MAX 500

/* LIKE pattern "<q with \ % _ escaped>%", malloc'd. */
static char *srv_ds_pattern(const char *q)
{
  char *p = malloc(2 * strlen(q) + 2), *o = p;

  if (!p)
    return NULL;
  for (; *q; q++) {
    if (*q == '\\' || *q == '%' || *q == '_')
      *o++ = '\\';
    *o++ = *q;
  }
  *o++ = '%';
  *o = '\0';
  return p;
}

struct srv_ds {
  struct srv_request *req;
  const char *q;
  char *pat, *pat_key, limit[8];
  json_t *list;
};

static json_t *srv_ds_json_col(const PGresult *r, int row, int col)
{
  json_error_t e;

  if (PQgetisnull(r, row, col))
    return json_array();
  return json_loads(PQgetvalue(r, row, col), 0, &e);
}

static enum srv_db_status srv_ds_txn(struct srv_db *db, void *cls)
{
  struct srv_ds *s = cls;
  const char *p3[3] = {s->pat, s->pat_key, s->limit};
  enum srv_db_status st;
  PGresult *r;
  json_t *d;
  struct srv_audit_event ev;

  json_decref(s->list);
  if (!(s->list = json_array()))
    return SRV_DB_ERROR;
  if (!(r = srv_db_exec(db, SRV_STMT_DEVICE_SEARCH, p3, &st)))
    return st;
  for (int i = 0; i < PQntuples(r); i++) {
    /* id, hostname, serial, os, group, enrolled, last_checkin, disabled,
     * matched (json array), matching records (json array) */
    json_t *e = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:o,s:b,s:o,s:o}", "device_id",
                          PQgetvalue(r, i, 0), "hostname", PQgetvalue(r, i, 1), "serial",
                          PQgetvalue(r, i, 2), "os", PQgetvalue(r, i, 3), "group",
                          PQgetvalue(r, i, 4), "enrolled", PQgetvalue(r, i, 5), "last_checkin",
                          srv_account_col_str(r, i, 6), "disabled",
                          strcmp(PQgetvalue(r, i, 7), "t") == 0, "matched",
                          srv_ds_json_col(r, i, 8), "records", srv_ds_json_col(r, i, 9));
    if (!e || json_array_append_new(s->list, e)) {
      PQclear(r);
      return SRV_DB_ERROR;
    }
  }
  PQclear(r);
  d = json_pack("{s:s,s:I}", "q", s->q, "results", (json_int_t)json_array_size(s->list));
  if (!d)
    return SRV_DB_ERROR;
  ev = (struct srv_audit_event){"device.search", NULL, "success", d, NULL};
  st = srv_audit_append(db, s->req, &ev);
  json_decref(d);
  return st;
}

enum MHD_Result srv_ep_devices_search(struct srv_request *req)
{
  struct srv_ds s;
  const char *lim = srv_request_query(req, "limit");
  enum srv_db_status st;
  unsigned long n = SRV_DS_LIMIT_DEFAULT;
  const char *key;

  memset(&s, 0, sizeof s);
  s.req = req;
  s.q = srv_request_query(req, "q");
  if (!srv_text_ok(s.q, 1, SRV_DS_Q_MAX))
    return srv_ep_bad(req, "q: 1 to 128 bytes of text (a hostname, serial or Key ID "
                               "prefix)");
  if (lim) {
    char *end;
    size_t ll = strlen(lim);
    n = strtoul(lim, &end, 10);
    if (ll == 0 || ll > 3 || strspn(lim, "0123456789") != ll || n < 1 ||
        n > SRV_DS_LIMIT_MAX)
      return srv_ep_bad(req, "limit: 1 to 500");
  }
  snprintf(s.limit, sizeof s.limit, "%lu", n);
  /* "{8F3A2B1C" and "8f3a2b1c" both find "{8F3A2B1C-...}". */
  for (key = s.q; *key == '{'; key++)
    ;
  s.pat = srv_ds_pattern(s.q);
  s.pat_key = srv_ds_pattern(key);
  if (!s.pat || !s.pat_key) {
    free(s.pat);
    free(s.pat_key);
    return srv_reply_error(req, SRV_ERR_INTERNAL, NULL);
  }
  st = srv_db_txn(SRV_DB_SERIALIZABLE, srv_ds_txn, &s);
  free(s.pat);
  free(s.pat_key);
  if (st != SRV_DB_OK) {
    json_decref(s.list);
    return srv_ep_db_error(req, st);
  }
  return srv_reply_json(req, MHD_HTTP_OK, json_pack("{s:o}", "devices", s.list));
}

/* ---- one device ------------------------------------------------------------ */

struct srv_dg {
  struct srv_request *req;
  const char *id;
  json_t *out;
};

static json_t *srv_dg_device(const PGresult *r)
{
  json_error_t e;
  json_t *hw = json_loads(PQgetvalue(r, 0, 4), 0, &e);

  /* id, hostname, serial, os, hardware, group, enrolled, last_checkin,
   * agent_version, escrow_key_status, disabled, enrollment_token,
   * disabled_at, disabled_by, disabled_reason */
  if (!hw)
    return NULL;
  return json_pack("{s:s,s:s,s:s,s:s,s:o,s:s,s:s,s:o,s:o,s:o,s:b,s:I,s:o,s:o,s:o}", "device_id",
                   PQgetvalue(r, 0, 0), "hostname", PQgetvalue(r, 0, 1), "serial",
                   PQgetvalue(r, 0, 2), "os", PQgetvalue(r, 0, 3), "hardware", hw, "group",
                   PQgetvalue(r, 0, 5), "enrolled", PQgetvalue(r, 0, 6), "last_checkin",
                   srv_account_col_str(r, 0, 7), "agent_version", srv_account_col_str(r, 0, 8),
                   "escrow_key_status", srv_account_col_str(r, 0, 9), "disabled",
                   strcmp(PQgetvalue(r, 0, 10), "t") == 0, "enroll_token",
                   (json_int_t)strtoll(PQgetvalue(r, 0, 11), NULL, 10), "disabled_at",
                   srv_account_col_str(r, 0, 12), "disabled_by", srv_account_col_str(r, 0, 13),
                   "disabled_reason", srv_account_col_str(r, 0, 14));
}

static json_t *srv_dg_bool(const PGresult *r, int row, int col)
{
  if (PQgetisnull(r, row, col))
    return json_null();
  return json_boolean(strcmp(PQgetvalue(r, row, col), "t") == 0);
}

static json_t *srv_dg_records(const PGresult *r)
{
  json_t *list = json_array();

  for (int i = 0; list && i < PQntuples(r); i++) {
    /* id, volume_id, key_type, key_id, state, created, superseded_at,
     * superseded_by, escrow_fingerprint, envelope_sha256, leaf_index,
     * last_verifier_match, last_verifier_at, last_unlock_check,
     * last_unlock_at, rotate_requested, rotate_requested_by, rotate_reason */
    json_t *e = json_pack(
        "{s:s,s:s,s:s,s:s,s:s,s:s,s:o,s:o,s:s,s:s,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "record_id",
        PQgetvalue(r, i, 0), "volume_id", PQgetvalue(r, i, 1), "key_type", PQgetvalue(r, i, 2),
        "key_id", PQgetvalue(r, i, 3), "state", PQgetvalue(r, i, 4), "created",
        PQgetvalue(r, i, 5), "superseded_at", srv_account_col_str(r, i, 6), "superseded_by",
        srv_account_col_str(r, i, 7), "escrow_fingerprint", PQgetvalue(r, i, 8),
        "envelope_sha256", PQgetvalue(r, i, 9), "leaf_index",
        PQgetisnull(r, i, 10) ? json_null()
                              : json_integer(strtoll(PQgetvalue(r, i, 10), NULL, 10)),
        "last_verifier_match", srv_dg_bool(r, i, 11), "last_verifier_at",
        srv_account_col_str(r, i, 12), "last_unlock_check", srv_account_col_str(r, i, 13),
        "last_unlock_at", srv_account_col_str(r, i, 14), "rotate_requested",
        srv_account_col_str(r, i, 15), "rotate_requested_by", srv_account_col_str(r, i, 16),
        "rotate_reason", srv_account_col_str(r, i, 17));
    /* A record disclosed by a drill rather than (or as well as) a
     * retrieval names the drill (schema 014). */
    if (e && json_object_set_new(e, "disclosed_by_drill", srv_account_col_str(r, i, 18))) {
      json_decref(e);
      e = NULL;
    }
    if (!e || json_array_append_new(list, e)) {
      json_decref(list);
      list = NULL;
    }
  }
  return list;
}

static enum srv_db_status srv_dg_txn(struct srv_db *db, void *cls)
{
  struct srv_dg *g = cls;
  const char *p1[1] = {g->id};
  enum srv_db_status st;
  PGresult *r;
  json_t *dev, *recs, *d;
  char object[48];
  struct srv_audit_event ev;

  json_decref(g->out);
  g->out = NULL;
  if (!(r = srv_db_exec(db, SRV_STMT_DEVICE_GET, p1, &st)))
    return st;
  if (PQntuples(r) != 1) {
    PQclear(r);
    return SRV_DB_ABORT;
  }
  dev = srv_dg_device(r);
  PQclear(r);
  if (!dev)
    return SRV_DB_ERROR;
  if (!(r = srv_db_exec(db, SRV_STMT_DEVICE_RECORDS, p1, &st))) {
    json_decref(dev);
    return st;
  }
  recs = srv_dg_records(r);
  PQclear(r);
  g->out = recs ? json_pack("{s:o,s:o}", "device", dev, "records", recs) : NULL;
  if (!recs)
    json_decref(dev);
  if (!g->out)
    return SRV_DB_ERROR;
  d = json_pack("{s:I}", "records", (json_int_t)json_array_size(recs));
  if (!d)
    return SRV_DB_ERROR;
  snprintf(object, sizeof object, "device:%s", g->id);
  ev = (struct srv_audit_event){"device.read", object, "success", d, NULL};
  st = srv_audit_append(db, g->req, &ev);
  json_decref(d);
  return st;
}

enum MHD_Result srv_ep_devices_get(struct srv_request *req)
{
  struct srv_dg g = {req, srv_request_param(req, "id"), NULL};
  enum srv_db_status st;

  if (!srv_device_id_ok(g.id, "dev-"))
    return srv_reply_error(req, SRV_ERR_NOT_FOUND, "No such device");
  st = srv_db_txn(SRV_DB_SERIALIZABLE, srv_dg_txn, &g);
  if (st == SRV_DB_ABORT)
    return srv_reply_error(req, SRV_ERR_NOT_FOUND, "No such device");
  if (st != SRV_DB_OK) {
    json_decref(g.out);
    return srv_ep_db_error(req, st);
  }
  return srv_reply_json(req, MHD_HTTP_OK, g.out);
}
