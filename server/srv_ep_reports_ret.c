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

#include "srv_account.h"
#include "srv_device.h"
#include "srv_ep.h"
#include "srv_report.h"
#include "srv_routes.h"

#define SRV_RR_COLS 11

static const char *const srv_rr_names[SRV_RR_COLS] = {
    "retrieval_id", "requester", "device_id", "hostname", "volume_id", "key_type",
    "reason", "ticket", "state", "created", "completed"};

/* "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM:SSZ" (UTC) as Unix seconds; -1 if it
 * is not one (checked by the round trip through timegm). */
static long long srv_rr_since(const char *s)
{
  struct tm tm, back;
  time_t t;
  size_t n = strlen(s);
  int y, mo, d, h = 0, mi = 0, sec = 0;
  char tail;

  memset(&tm, 0, sizeof tm);
  if (n == 10) {
    if (sscanf(s, "%4d-%2d-%2d%c", &y, &mo, &d, &tail) != 3)
      return -1;
  } else if (n == 20) {
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%c", &y, &mo, &d, &h, &mi, &sec, &tail) != 7 ||
        tail != 'Z')
      return -1;
  } else {
    return -1;
  }
  if (strspn(s, "0123456789-:TZ") != n || y < 1970 || y > 9999)
    return -1;
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  t = timegm(&tm); /* normalises tm: compare with the inputs below */
  if (t == (time_t)-1 || !gmtime_r(&t, &back) || back.tm_year != y - 1900 ||
      back.tm_mon != mo - 1 || back.tm_mday != d || back.tm_hour != h ||
      back.tm_min != mi || back.tm_sec != sec)
    return -1;
  return (long long)t;
}

struct srv_rr {
  struct srv_request *req;
  char since[24];
  PGresult *rows;
};

static enum srv_db_status srv_rr_txn(struct srv_db *db, void *cls)
{
  struct srv_rr *s = cls;
  const char *p1[1] = {s->since};
  enum srv_db_status st;

  PQclear(s->rows);
  s->rows = srv_db_exec(db, SRV_STMT_REPORT_RETRIEVALS, p1, &st);
  return s->rows ? SRV_DB_OK : st;
}

/* The rotation of the record after its disclosure: "rotated" (and when),
 * "not_rotated" (still disclosed), or NULL (nothing was disclosed). */
static const char *srv_rr_rotation(const PGresult *r, int i)
{
  const char *st = PQgetvalue(r, i, 12);

  if (strcmp(st, "rotated") == 0)
    return "rotated";
  if (strcmp(st, "disclosed") == 0)
    return "not_rotated";
  return strcmp(PQgetvalue(r, i, 8), "completed") == 0 ? "superseded" : NULL;
}

static void srv_rr_json(struct srv_rp_buf *b, const PGresult *r)
{
  srv_rp_str(b, ",\"retrievals\":[");
  for (int i = 0; i < PQntuples(r); i++) {
    srv_rp_str(b, i ? ",\n{" : "\n{");
    for (int c = 0; c < SRV_RR_COLS; c++) {
      srv_rp_fmt(b, "%s\"%s\":", c ? "," : "", srv_rr_names[c]);
      srv_rp_jstr(b, PQgetisnull(r, i, c) ? NULL : PQgetvalue(r, i, c));
    }
    srv_rp_str(b, ",\"custodians\":[");
    {
      /* "1:ana 3:cy" -> [{"index":1,"name":"ana"},...] */
      const char *p = PQgetvalue(r, i, 11);
      int first = 1;
      while (*p) {
        size_t n = strcspn(p, " ");
        const char *colon = memchr(p, ':', n);
        char name[160];
        if (colon && (size_t)(p + n - colon - 1) < sizeof name) {
          memcpy(name, colon + 1, (size_t)(p + n - colon - 1));
          name[p + n - colon - 1] = '\0';
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
    srv_rp_jstr(b, PQgetvalue(r, i, 14));
    srv_rp_str(b, ",\"rotation\":");
    srv_rp_jstr(b, srv_rr_rotation(r, i));
    srv_rp_str(b, ",\"rotated_at\":");
    srv_rp_jstr(b, PQgetisnull(r, i, 13) ? NULL : PQgetvalue(r, i, 13));
    srv_rp_str(b, "}");
  }
  srv_rp_str(b, "\n]}\n");
}

static void srv_rr_csv(struct srv_rp_buf *b, const PGresult *r)
{
  for (int c = 0; c < SRV_RR_COLS; c++)
    srv_rp_fmt(b, "%s,", srv_rr_names[c]);
  srv_rp_str(b, "custodians,record_id,rotation,rotated_at\r\n");
  for (int i = 0; i < PQntuples(r); i++) {
    for (int c = 0; c < SRV_RR_COLS; c++) {
      srv_rp_cstr(b, PQgetisnull(r, i, c) ? NULL : PQgetvalue(r, i, c));
      srv_rp_put(b, ",", 1);
    }
    srv_rp_cstr(b, PQgetvalue(r, i, 11));
    srv_rp_put(b, ",", 1);
    srv_rp_cstr(b, PQgetvalue(r, i, 14));
    srv_rp_put(b, ",", 1);
    srv_rp_cstr(b, srv_rr_rotation(r, i));
    srv_rp_put(b, ",", 1);
    srv_rp_cstr(b, PQgetisnull(r, i, 13) ? NULL : PQgetvalue(r, i, 13));
    srv_rp_put(b, "\r\n", 2);
  }
}

enum MHD_Result srv_ep_reports_retrievals(struct srv_request *req)
{
  const char *since = srv_request_query(req, "since");
  const char *fmt = srv_request_query(req, "format");
  struct srv_rr s;
  struct srv_rp_buf out = {0};
  struct srv_audit_cp cp;
  struct srv_audit_event ev;
  enum srv_db_status st;
  enum MHD_Result ret;
  long long t;
  int64_t leaf = -1;
  json_t *d, *root;
  int csv;

  if (!since || (t = srv_rr_since(since)) < 0)
    return srv_ep_bad(req, "since: a UTC date YYYY-MM-DD or time YYYY-MM-DDTHH:MM:SSZ");
  if (fmt && strcmp(fmt, "json") != 0 && strcmp(fmt, "csv") != 0)
    return srv_ep_bad(req, "format: json or csv");
  csv = fmt && strcmp(fmt, "csv") == 0;
  memset(&s, 0, sizeof s);
  s.req = req;
  snprintf(s.since, sizeof s.since, "%lld", t);
  st = srv_db_txn(SRV_DB_READ_ONLY, srv_rr_txn, &s);
  if (st != SRV_DB_OK) {
    PQclear(s.rows);
    return srv_ep_db_error(req, st);
  }
  d = json_pack("{s:s,s:I,s:s}", "since", since, "retrievals", (json_int_t)PQntuples(s.rows),
                "format", csv ? "csv" : "json");
  ev = (struct srv_audit_event){"report.retrievals", NULL, "success", d, NULL};
  if (!d || srv_report_audit(req, &ev, &cp, &leaf) != 0) {
    json_decref(d);
    PQclear(s.rows);
    return srv_reply_error(req, SRV_ERR_AUDIT_UNAVAILABLE, NULL);
  }
  json_decref(d);
  root = srv_audit_b64_json(cp.root, sizeof cp.root);
  if (csv) {
    /* The checkpoint first, as a row of the same 15 columns. */
    srv_rr_csv(&out, s.rows);
    {
      struct srv_rp_buf head = {0};
      srv_rp_fmt(&head, "audit,%lld,%lld,", (long long)leaf, (long long)cp.size);
      srv_rp_cstr(&head, root ? json_string_value(root) : NULL);
      srv_rp_put(&head, ",", 1);
      srv_rp_cstr(&head, cp.note);
      srv_rp_str(&head, ",,,,,,,,,,\r\n");
      /* header line first, then the audit row, then the retrievals */
      {
        const char *nl = strstr(out.p ? out.p : "", "\r\n");
        struct srv_rp_buf all = {0};
        size_t hl = nl ? (size_t)(nl - out.p) + 2 : 0;
        srv_rp_put(&all, out.p, hl);
        srv_rp_put(&all, head.p ? head.p : "", head.len);
        srv_rp_put(&all, out.p + hl, out.len - hl);
        free(out.p);
        out = all;
        if (head.oom)
          out.oom = 1;
      }
      free(head.p);
    }
  } else {
    srv_rp_str(&out, "{\"report\":\"retrievals\",\"since\":");
    srv_rp_jstr(&out, since);
    srv_rp_fmt(&out, ",\"audit\":{\"leaf_index\":%lld,\"tree_size\":%lld,\"root\":",
               (long long)leaf, (long long)cp.size);
    srv_rp_jstr(&out, root ? json_string_value(root) : NULL);
    srv_rp_str(&out, ",\"checkpoint\":");
    srv_rp_jstr(&out, cp.note);
    srv_rp_str(&out, "}");
    srv_rr_json(&out, s.rows);
  }
  json_decref(root);
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
