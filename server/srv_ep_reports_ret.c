/*
 * srv_ep_reports_ret.c - the retrieval report (auditor, by the route table):
 *   GET /v1/reports/retrievals?since=YYYY-MM-DD[THH:MM:SSZ][&format=json|csv]
 *
 * Every retrieval created since then: who asked, for which device and
 * volume, the reason and ticket, which custodians contributed a part, when
 * it completed, and whether the disclosed key was rotated afterwards.  One
 * statement (REPORT_RETRIEVALS); audited (report.retrievals) and pinned to
 * the audit checkpoint made after that event, like the coverage report.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "srv_auth.h"
#include "srv_ep.h"
#include "srv_report.h"
#include "srv_routes.h"
#include "srv_rows.h"

#define SRV_RR_COLS 11

/* REPORT_RETRIEVALS: SRV_RR_COLS columns written as they are, then the rest. */
struct srv_rr_row {
  const char *v[SRV_RR_COLS], *custodians, *record_state, *rotated_at, *record_id;
};
#define SRV_RR_V(i, n)                                                        \
  {                                                                           \
    n, SRV_CT_TEXT, SRV_COL_NULLABLE, offsetof(struct srv_rr_row, v[i]), 0, 0 \
  }
static const struct srv_col srv_rr_cols[] = {SRV_RR_V(0, "retrieval_id"),
                                             SRV_RR_V(1, "requester"),
                                             SRV_RR_V(2, "device_id"),
                                             SRV_RR_V(3, "hostname"),
                                             SRV_RR_V(4, "volume_id"),
                                             SRV_RR_V(5, "key_type"),
                                             SRV_RR_V(6, "reason"),
                                             SRV_RR_V(7, "ticket"),
                                             SRV_RR_V(8, "state"),
                                             SRV_RR_V(9, "created"),
                                             SRV_RR_V(10, "completed"),
                                             SRV_COL_TEXT(struct srv_rr_row, custodians),
                                             SRV_COL_TEXT(struct srv_rr_row, record_state),
                                             SRV_COL_TIME_NULL(struct srv_rr_row, rotated_at),
                                             SRV_COL_TEXT(struct srv_rr_row, record_id),
                                             SRV_COL_END};
#undef SRV_RR_V

/* "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM:SSZ" (UTC) as Unix seconds; -1 if it
 * is not one (checked by the round trip through timegm). */
static long long srv_rr_since(const char *s)
{
  struct tm tm = {0}, in;
  size_t n = strlen(s);
  char tail;
  time_t t;

  if (n == 10 ? sscanf(s, "%4d-%2d-%2d%c", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tail) != 3
              : n != 20 ||
                  sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%c", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                         &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &tail) != 7 ||
                  tail != 'Z')
    return -1;
  if (strspn(s, "0123456789-:TZ") != n || tm.tm_year < 1970 || tm.tm_year > 9999)
    return -1;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  in = tm;
  t = timegm(&tm); /* normalises tm: compare with the inputs */
  if (t == (time_t)-1 || !gmtime_r(&t, &tm) || tm.tm_year != in.tm_year || tm.tm_mon != in.tm_mon ||
      tm.tm_mday != in.tm_mday || tm.tm_hour != in.tm_hour || tm.tm_min != in.tm_min ||
      tm.tm_sec != in.tm_sec)
    return -1;
  return (long long)t;
}

static int srv_rr_since_ok(const char *s) { return srv_rr_since(s) >= 0; }

struct srv_rr_query {
  const char *since, *format;
};
static const struct srv_qfield srv_rr_query_fields[] = {
  SRV_QF_(struct srv_rr_query, since, SRV_Q_STR, SRV_Q_REQUIRED, 10, 20, 0, srv_rr_since_ok,
          "since: a UTC date YYYY-MM-DD or time YYYY-MM-DDTHH:MM:SSZ"),
  SRV_QF_STR(struct srv_rr_query, format, 1, 4, srv_report_format_ok, "format: json or csv"),
  SRV_QF_END};
const struct srv_qspec srv_ep_reports_retrievals_query =
  SRV_QSPEC(struct srv_rr_query, srv_rr_query_fields);

struct srv_rr {
  char since[24];
  const char *scope; /* the caller's (srv_principal_scope), NULL: every group */
  char scope_text[2200];
  PGresult *rows;
};

static enum srv_db_status srv_rr_txn(struct srv_db *db, void *cls)
{
  struct srv_rr *s = cls;
  const char *p2[2] = {s->since, s->scope};
  enum srv_db_status st;

  PQclear(s->rows);
  s->rows = srv_db_exec(db, SRV_STMT_REPORT_RETRIEVALS, p2, &st);
  return s->rows ? SRV_DB_OK : st;
}

/* The rotation of the record after its disclosure: "rotated" (and when),
 * "not_rotated" (still disclosed), or NULL (nothing was disclosed). */
static const char *srv_rr_rotation(const struct srv_rr_row *w)
{
  if (strcmp(w->record_state, "rotated") == 0)
    return "rotated";
  if (strcmp(w->record_state, "disclosed") == 0)
    return "not_rotated";
  return w->v[8] && strcmp(w->v[8], "completed") == 0 ? "superseded" : NULL;
}

static void srv_rr_json(struct srv_rp_buf *b, const PGresult *r)
{
  struct srv_rr_row w;

  srv_rp_str(b, ",\"retrievals\":[");
  for (int i = 0; i < PQntuples(r); i++) {
    if (srv_row_read(r, i, srv_rr_cols, &w) != 0) {
      b->oom = 1;
      return;
    }
    srv_rp_str(b, i ? ",\n{" : "\n{");
    for (int c = 0; c < SRV_RR_COLS; c++) {
      srv_rp_fmt(b, "%s\"%s\":", c ? "," : "", srv_rr_cols[c].name);
      srv_rp_jstr(b, w.v[c]);
    }
    srv_rp_str(b, ",\"custodians\":[");
    {
      /* "1:ana 3:cy" -> [{"index":1,"name":"ana"},...] */
      const char *p = w.custodians;
      int first = 1;
      while (*p) {
        size_t n = strcspn(p, " ");
        const char *colon = memchr(p, ':', n);
        char name[160];
        if (colon && (size_t)(p + n - colon - 1) < sizeof name) {
          snprintf(name, sizeof name, "%.*s", (int)(p + n - colon - 1), colon + 1);
          srv_rp_fmt(b, "%s{\"index\":%d,\"name\":", first ? "" : ",", atoi(p));
          srv_rp_jstr(b, name);
          srv_rp_str(b, "}");
          first = 0;
        }
        p += n;
        p += *p == ' ';
      }
    }
    srv_rp_str(b, "],\"record_id\":");
    srv_rp_jstr(b, w.record_id);
    srv_rp_str(b, ",\"rotation\":");
    srv_rp_jstr(b, srv_rr_rotation(&w));
    srv_rp_str(b, ",\"rotated_at\":");
    srv_rp_jstr(b, w.rotated_at);
    srv_rp_str(b, "}");
  }
  srv_rp_str(b, "\n]}\n");
}

static void srv_rr_csv(struct srv_rp_buf *b, const PGresult *r)
{
  struct srv_rr_row w;

  for (int i = 0; i < PQntuples(r); i++) {
    if (srv_row_read(r, i, srv_rr_cols, &w) != 0) {
      b->oom = 1;
      return;
    }
    const char *tail[4] = {w.custodians, w.record_id, srv_rr_rotation(&w), w.rotated_at};
    for (int c = 0; c < SRV_RR_COLS + 4; c++) {
      srv_rp_cstr(b, c < SRV_RR_COLS ? w.v[c] : tail[c - SRV_RR_COLS]);
      srv_rp_str(b, c < SRV_RR_COLS + 3 ? "," : "\r\n");
    }
  }
}

/* What comes before the rows: in CSV the header line, then the checkpoint
 * as a row of the same 15 columns. */
static void srv_rr_head(struct srv_rp_buf *b, int csv, const char *since,
                        const struct srv_audit_cp *cp, int64_t leaf)
{
  json_t *root = srv_audit_b64_json(cp->root, sizeof cp->root);
  const char *rs = root ? json_string_value(root) : NULL;

  if (csv) {
    for (int c = 0; c < SRV_RR_COLS; c++)
      srv_rp_fmt(b, "%s,", srv_rr_cols[c].name);
    srv_rp_fmt(b, "custodians,record_id,rotation,rotated_at\r\naudit,%lld,%lld,", (long long)leaf,
               (long long)cp->size);
    srv_rp_cstr(b, rs);
    srv_rp_put(b, ",", 1);
    srv_rp_cstr(b, cp->note);
    srv_rp_str(b, ",,,,,,,,,,\r\n");
  } else {
    srv_rp_str(b, "{\"report\":\"retrievals\",\"since\":");
    srv_rp_jstr(b, since);
    srv_rp_fmt(b, ",\"audit\":{\"leaf_index\":%lld,\"tree_size\":%lld,\"root\":", (long long)leaf,
               (long long)cp->size);
    srv_rp_jstr(b, rs);
    srv_rp_str(b, ",\"checkpoint\":");
    srv_rp_jstr(b, cp->note);
    srv_rp_str(b, "}");
  }
  json_decref(root);
}

enum MHD_Result srv_ep_reports_retrievals(struct srv_request *req)
{
  struct srv_rr_query q;
  struct srv_rr s = {0};
  struct srv_rp_buf out = {0};
  struct srv_audit_cp cp;
  enum MHD_Result ret;
  int64_t leaf = -1;
  int csv;

  if (srv_ep_query(req, &srv_ep_reports_retrievals_query, &q, &ret))
    return ret;
  csv = q.format && strcmp(q.format, "csv") == 0;
  snprintf(s.since, sizeof s.since, "%lld", srv_rr_since(q.since));
  s.scope = srv_principal_scope(srv_request_principal(req));
  srv_principal_scope_text(srv_request_principal(req), s.scope_text, sizeof s.scope_text);
  if (srv_ep_txn(req, SRV_DB_READ_ONLY, srv_rr_txn, &s, NULL, &ret)) {
    PQclear(s.rows);
    return ret;
  }
  if (srv_report_audit(req, "report.retrievals",
                       json_pack("{s:s,s:I,s:s,s:s?}", "since", q.since, "retrievals",
                                 (json_int_t)PQntuples(s.rows), "format", csv ? "csv" : "json",
                                 "scope", s.scope ? s.scope_text : NULL),
                       &cp, &leaf) != 0) {
    PQclear(s.rows);
    return srv_reply_error(req, SRV_ERR_AUDIT_UNAVAILABLE, NULL);
  }
  srv_rr_head(&out, csv, q.since, &cp, leaf);
  (csv ? srv_rr_csv : srv_rr_json)(&out, s.rows);
  free(cp.note);
  PQclear(s.rows);
  if (out.oom || !out.p)
    ret = srv_reply_error(req, SRV_ERR_INTERNAL, NULL);
  else
    ret = srv_reply_text(req, MHD_HTTP_OK,
                         csv ? "text/csv; charset=utf-8; header=present" : "application/json",
                         out.p, out.len);
  free(out.p);
  return ret;
}
