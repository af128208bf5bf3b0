/*
 * srv_ep_reports.c - compliance reports for auditors (docs/api.yaml):
 *   GET /v1/reports/coverage[?group=G][&os=OS][&stale_days=N][&format=json|csv]
 *
 * One row per enrolled device: escrowed (current records by key type),
 * last check-in and whether it is stale, verifier and provider unlock
 * checks (and the oldest of each), records under an old escrow key,
 * records disclosed but not yet rotated.  Totals and percentages come
 * first, the rows after.
 *
 * Speed: the database does one set-based pass (REPORT_COVERAGE: the
 * current records aggregated per device from a covering index, merged with
 * devices in id order), and the rows are written as text while they are
 * sent (srv_report_stream) rather than built as a jansson tree or one
 * 50 MB buffer, either of which at 100,000 devices costs more than the
 * query itself.
 *
 * Every report carries the audit checkpoint it was computed at: the report
 * is itself audited (report.coverage), then sequenced, then a checkpoint
 * is signed that covers that event, so the checkpoint commits to a log in
 * which this report's computation is the last thing the caller did.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ke_util.h"
#include "srv_audit.h"
#include "srv_audit_http.h"
#include "srv_device.h"
#include "srv_auth.h"
#include "srv_ep.h"
#include "srv_report.h"
#include "srv_routes.h"
#include "srv_rows.h"

#define SRV_RP_STALE_DEFAULT 30
#define SRV_RP_STALE_MAX 3650

/* ---- the report -------------------------------------------------------------- */
enum {
  SRV_RP_DEVICES,
  SRV_RP_DISABLED,
  SRV_RP_ESCROWED,
  SRV_RP_NEVER,
  SRV_RP_VERIFIED,
  SRV_RP_MISMATCH,
  SRV_RP_UNVERIFIED,
  SRV_RP_UNLOCK_OK,
  SRV_RP_UNLOCK_FAILED,
  SRV_RP_OLD_KEY,
  SRV_RP_DISCLOSED,
  SRV_RP_STALE,
  SRV_RP_BL,
  SRV_RP_FV,
  SRV_RP_LK,
  SRV_RP_OT,
  SRV_RP_NTOTALS
};
/* Names in the answer; the key types count devices with at least one. */
static const char *const srv_rp_total_names[SRV_RP_NTOTALS] = {"devices",
                                                               "disabled",
                                                               "escrowed",
                                                               "enrolled_never_escrowed",
                                                               "verified",
                                                               "verifier_mismatch",
                                                               "not_verified",
                                                               "unlock_ok",
                                                               "unlock_failed",
                                                               "old_escrow_key",
                                                               "disclosed_not_rotated",
                                                               "stale",
                                                               "bitlocker",
                                                               "filevault",
                                                               "luks",
                                                               "other"};

struct srv_rp_query {
  const char *group, *os, *format, *stale_days;
};

struct srv_rp {
  struct srv_rp_query q;
  char stale_days[8];
  int csv;
  long long totals[SRV_RP_NTOTALS];
  PGresult *res; /* the rows, formatted while they are sent */
  char *fingerprint, *generated;
  json_t *custodians; /* {"threshold", "attested_90_days", "warning", "shares"} */
  const char *scope;  /* the caller's (srv_principal_scope), NULL: every group */
  char scope_text[2200];
};

static const struct srv_jcol srv_rp_share_cols[] = {
  SRV_JCOL("index", SRV_CT_INT64), SRV_JCOL_NULL("last_attestation", SRV_CT_TIME),
  SRV_JCOL_NULL("by", SRV_CT_TEXT), SRV_JCOL("within_90_days", SRV_CT_BOOL), SRV_JCOL_END};

/* Custodian health of the current key: each share's last attestation, and
 * a warning when fewer than T + 1 shares were attested within 90 days (T
 * alone leaves no margin: one lost share and the key cannot be opened). */
static enum srv_db_status srv_rp_custodians(struct srv_db *db, struct srv_rp *s)
{
  enum srv_db_status st;
  PGresult *r;
  json_t *shares, *e;
  const char *th;
  long long t, fresh = 0;
  size_t i;
  char warn[160];

  json_decref(s->custodians);
  s->custodians = NULL;
  if (!(r = srv_db_exec(db, SRV_STMT_REPORT_CUSTODIANS, NULL, &st)))
    return st;
  shares = srv_rows_json(r, srv_rp_share_cols);
  t = (th = srv_row_text(r, "threshold")) ? strtoll(th, NULL, 10) : 0;
  PQclear(r);
  if (!shares)
    return SRV_DB_ERROR;
  json_array_foreach (shares, i, e)
    fresh += json_is_true(json_object_get(e, "within_90_days"));
  snprintf(warn, sizeof warn,
           "only %lld of the current escrow key's shares were attested within 90 days; "
           "threshold %lld needs at least %lld",
           fresh, t, t + 1);
  s->custodians = json_pack(
    "{s:I,s:I,s:o,s:o}", "threshold", (json_int_t)t, "attested_90_days", (json_int_t)fresh,
    "warning", t > 0 && fresh < t + 1 ? json_string(warn) : json_null(), "shares", shares);
  return s->custodians ? SRV_DB_OK : SRV_DB_ERROR;
}

/* Unix seconds (column text) as YYYY-MM-DDTHH:MM:SSZ in out; NULL for SQL
 * NULL. */
static const char *srv_rp_time(char out[24], const PGresult *r, int row, int col)
{
  time_t t;
  struct tm tm;

  if (PQgetisnull(r, row, col))
    return NULL;
  t = (time_t)strtoll(PQgetvalue(r, row, col), NULL, 10);
  if (!gmtime_r(&t, &tm) || strftime(out, 24, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
    return NULL;
  return out;
}

/* REPORT_COVERAGE's rows are read by position, not srv_row_read: finding
 * 21 columns by name costs ~1 s per 100,000 rows, more than the query. */
#define COL(i) PQgetvalue(r, row, (i))
#define NUM(i) srv_rp_num(PQgetvalue(r, row, (i)))

/* A count column (non-negative decimal): read often, so no strtoll. */
static long long srv_rp_num(const char *s)
{
  long long v = 0;

  for (; *s >= '0' && *s <= '9'; s++)
    v = v * 10 + (*s - '0');
  return v;
}

static void srv_rp_count(struct srv_rp *s, const PGresult *r, int row)
{
  long long *t = s->totals;
  long long n = NUM(8);

  t[SRV_RP_DEVICES]++;
  t[SRV_RP_DISABLED] += COL(6)[0] == 't';
  t[SRV_RP_STALE] += COL(7)[0] == 't';
  t[SRV_RP_ESCROWED] += n > 0;
  t[SRV_RP_NEVER] += n == 0;
  t[SRV_RP_MISMATCH] += NUM(13) > 0;
  t[SRV_RP_VERIFIED] += n > 0 && NUM(13) == 0 && NUM(14) == 0;
  t[SRV_RP_UNVERIFIED] += n > 0 && NUM(13) == 0 && NUM(14) > 0;
  t[SRV_RP_UNLOCK_OK] += n > 0 && NUM(17) == n;
  t[SRV_RP_UNLOCK_FAILED] += NUM(16) > 0;
  t[SRV_RP_OLD_KEY] += NUM(19) > 0;
  t[SRV_RP_DISCLOSED] += NUM(20) > 0;
  for (int k = 0; k < 4; k++)
    t[SRV_RP_BL + k] += NUM(9 + k) > 0;
}

/* A device's 19 cells, as both formats write them (t: room for the times);
 * verifier, unlock check and escrow key say what its current records are. */
#define SRV_RP_CELLS 19
static void srv_rp_cells(const char **v, char t[4][24], const PGresult *r, int row)
{
  long long n = NUM(8);
  const char *c[SRV_RP_CELLS] = {COL(0),
                                 COL(1),
                                 COL(2),
                                 COL(3),
                                 srv_rp_time(t[0], r, row, 4),
                                 srv_rp_time(t[1], r, row, 5),
                                 COL(6)[0] == 't' ? "true" : "false",
                                 COL(7)[0] == 't' ? "true" : "false",
                                 n ? "true" : "false",
                                 COL(9),
                                 COL(10),
                                 COL(11),
                                 COL(12),
                                 !n        ? NULL
                                 : NUM(13) ? "mismatch"
                                 : NUM(14) ? "not_verified"
                                           : "match",
                                 srv_rp_time(t[2], r, row, 15),
                                 !n             ? NULL
                                 : NUM(16)      ? "failed"
                                 : NUM(17) == n ? "ok"
                                                : "incomplete",
                                 srv_rp_time(t[3], r, row, 18),
                                 !n        ? NULL
                                 : NUM(19) ? "old"
                                           : "current",
                                 NUM(20) ? "true" : "false"};

  memcpy(v, c, sizeof c);
}

/* JSON: each cell after its key, as a string or (booleans, counts) as is. */
static void srv_rp_row_json(struct srv_rp_buf *b, const PGresult *r, int row, int first)
{
  static const char *const keys[SRV_RP_CELLS] = {"{\"device_id\":",
                                                 ",\"hostname\":",
                                                 ",\"os\":",
                                                 ",\"group\":",
                                                 ",\"enrolled\":",
                                                 ",\"last_checkin\":",
                                                 ",\"disabled\":",
                                                 ",\"stale\":",
                                                 ",\"escrowed\":",
                                                 ",\"key_types\":{\"bitlocker\":",
                                                 ",\"filevault\":",
                                                 ",\"luks\":",
                                                 ",\"other\":",
                                                 "},\"verifier\":",
                                                 ",\"verified_at\":",
                                                 ",\"unlock_check\":",
                                                 ",\"unlock_checked_at\":",
                                                 ",\"escrow_key\":",
                                                 ",\"disclosed_not_rotated\":"};
  const char *v[SRV_RP_CELLS];
  char t[4][24];

  srv_rp_cells(v, t, r, row);
  srv_rp_str(b, first ? "\n" : ",\n");
  for (int k = 0; k < SRV_RP_CELLS; k++) {
    srv_rp_str(b, keys[k]);
    ((k >= 6 && k <= 12) || k == 18 ? srv_rp_str : srv_rp_jstr)(b, v[k]);
  }
  srv_rp_str(b, "}");
}

static void srv_rp_row_csv(struct srv_rp_buf *b, const PGresult *r, int row, int first)
{
  const char *v[SRV_RP_CELLS];
  char t[4][24];

  (void)first;
  srv_rp_cells(v, t, r, row);
  for (int k = 0; k < SRV_RP_CELLS; k++) {
    srv_rp_str(b, k == 0 ? "device," : k == 1 ? ",,," : ","); /* value, percent empty */
    srv_rp_cstr(b, v[k]);
  }
  srv_rp_put(b, "\r\n", 2);
}

#undef COL
#undef NUM

static enum srv_db_status srv_rp_txn(struct srv_db *db, void *cls)
{
  struct srv_rp *s = cls;
  /* A scoped auditor's report covers its groups only (and says so). */
  const char *p3[4] = {s->q.group, s->q.os, s->stale_days, s->scope};
  enum srv_db_status st;
  PGresult *r;

  /* A retry starts over. */
  memset(s->totals, 0, sizeof s->totals);
  PQclear(s->res);
  s->res = NULL;
  free(s->fingerprint);
  free(s->generated);
  s->fingerprint = s->generated = NULL;
  if (!(r = srv_db_exec(db, SRV_STMT_REPORT_ESCROW_KEY, NULL, &st)))
    return st;
  if (PQntuples(r) == 1 && srv_row_text(r, "generated")) {
    const char *fp = srv_row_text(r, "fingerprint");
    s->fingerprint = fp ? strdup(fp) : NULL;
    s->generated = strdup(srv_row_text(r, "generated"));
  }
  PQclear(r);
  if (!s->generated)
    return SRV_DB_ERROR;
  if ((st = srv_rp_custodians(db, s)) != SRV_DB_OK)
    return st;
  if (!(r = srv_db_exec(db, SRV_STMT_REPORT_WORK_MEM, NULL, &st)))
    return st;
  PQclear(r);
  if (!(r = srv_db_exec(db, SRV_STMT_REPORT_COVERAGE, p3, &st)))
    return st;
  /* Totals come first in the answer, so they are counted here; the rows
   * are formatted later, while they are sent (srv_report_stream). */
  for (int i = 0; i < PQntuples(r); i++)
    srv_rp_count(s, r, i);
  s->res = r;
  return SRV_DB_OK;
}

/* Percent of all devices in the report, one decimal. */
static double srv_rp_pct(const struct srv_rp *s, int k)
{
  long long n = s->totals[SRV_RP_DEVICES];

  return n ? (double)(s->totals[k] * 1000 / n) / 10.0 : 0.0;
}

static void srv_rp_head_json(struct srv_rp_buf *b, const struct srv_rp *s,
                             const struct srv_audit_cp *cp, int64_t leaf)
{
  json_t *root = srv_audit_b64_json(cp->root, sizeof cp->root);

  srv_rp_str(b, "{\"report\":\"coverage\",\"generated\":");
  srv_rp_jstr(b, s->generated);
  srv_rp_fmt(b, ",\"audit\":{\"leaf_index\":%lld,\"tree_size\":%lld,\"root\":", (long long)leaf,
             (long long)cp->size);
  srv_rp_jstr(b, root ? json_string_value(root) : NULL);
  json_decref(root);
  srv_rp_str(b, ",\"checkpoint\":");
  srv_rp_jstr(b, cp->note);
  srv_rp_str(b, "},\"parameters\":{\"group\":");
  srv_rp_jstr(b, s->q.group);
  srv_rp_str(b, ",\"os\":");
  srv_rp_jstr(b, s->q.os);
  srv_rp_fmt(b, ",\"stale_days\":%s,\"scope\":", s->stale_days);
  srv_rp_jstr(b, s->scope ? s->scope_text : NULL);
  srv_rp_str(b, "},\"escrow_key\":");
  srv_rp_jstr(b, s->fingerprint);
  srv_rp_str(b, ",\"totals\":{");
  for (int k = 0; k < SRV_RP_NTOTALS; k++)
    srv_rp_fmt(b, "%s\"%s\":%lld", k ? "," : "", srv_rp_total_names[k], s->totals[k]);
  srv_rp_str(b, "},\"percent\":{");
  for (int k = 1; k < SRV_RP_NTOTALS; k++)
    srv_rp_fmt(b, "%s\"%s\":%.1f", k > 1 ? "," : "", srv_rp_total_names[k], srv_rp_pct(s, k));
  srv_rp_str(b, "},\"custodians\":");
  {
    char *c = json_dumps(s->custodians, JSON_COMPACT | JSON_PRESERVE_ORDER);
    srv_rp_str(b, c ? c : "null");
    if (!c)
      b->oom = 1;
    free(c);
  }
  srv_rp_str(b, ",\"devices\":[");
}

static const char srv_rp_csv_header[] =
  "row,name,value,percent,hostname,os,group,enrolled,last_checkin,disabled,stale,"
  "escrowed,bitlocker,filevault,luks,other,verifier,verified_at,unlock_check,"
  "unlock_checked_at,escrow_key,disclosed_not_rotated\r\n";

/* CSV: one table; the rows before the devices say what the report is
 * (row = audit, parameter, escrow_key, total) in name/value/percent. */
static void srv_rp_head_csv(struct srv_rp_buf *b, const struct srv_rp *s,
                            const struct srv_audit_cp *cp, int64_t leaf)
{
  json_t *root = srv_audit_b64_json(cp->root, sizeof cp->root);
  const char *pad = ",,,,,,,,,,,,,,,,,,\r\n"; /* the 18 device columns */

  srv_rp_str(b, srv_rp_csv_header);
  srv_rp_str(b, "report,generated,");
  srv_rp_cstr(b, s->generated);
  srv_rp_fmt(b, ",%saudit,leaf_index,%lld,%saudit,tree_size,%lld,%saudit,root,", pad,
             (long long)leaf, pad, (long long)cp->size, pad);
  srv_rp_cstr(b, root ? json_string_value(root) : NULL);
  json_decref(root);
  srv_rp_fmt(b, ",%saudit,checkpoint,", pad);
  srv_rp_cstr(b, cp->note);
  srv_rp_fmt(b, ",%sparameter,group,", pad);
  srv_rp_cstr(b, s->q.group);
  srv_rp_fmt(b, ",%sparameter,os,", pad);
  srv_rp_cstr(b, s->q.os);
  srv_rp_fmt(b, ",%sparameter,stale_days,%s,%sescrow_key,fingerprint,", pad, s->stale_days, pad);
  srv_rp_cstr(b, s->fingerprint);
  srv_rp_fmt(b, ",%s", pad);
  for (int k = 0; k < SRV_RP_NTOTALS; k++) {
    srv_rp_fmt(b, "total,%s,%lld,", srv_rp_total_names[k], s->totals[k]);
    if (k)
      srv_rp_fmt(b, "%.1f", srv_rp_pct(s, k));
    srv_rp_str(b, pad);
  }
  /* custodian rows: name = share index, value = last attestation, percent
   * empty; then the warning, if any. */
  for (size_t i = 0; i < json_array_size(json_object_get(s->custodians, "shares")); i++) {
    const json_t *e = json_array_get(json_object_get(s->custodians, "shares"), i);
    srv_rp_fmt(b, "custodian,%lld,", (long long)json_integer_value(json_object_get(e, "index")));
    srv_rp_cstr(b, json_string_value(json_object_get(e, "last_attestation")));
    srv_rp_fmt(b, ",%s", pad);
  }
  if (json_is_string(json_object_get(s->custodians, "warning"))) {
    srv_rp_str(b, "warning,custodians,");
    srv_rp_cstr(b, json_string_value(json_object_get(s->custodians, "warning")));
    srv_rp_fmt(b, ",%s", pad);
  }
}

static int srv_rp_os_ok(const char *s) { return srv_text_ok(s, 1, 128); }

int srv_report_format_ok(const char *s) { return strcmp(s, "json") == 0 || strcmp(s, "csv") == 0; }

/* Leading zeros have always been accepted: SRV_QF_UINT refuses them. */
static int srv_rp_days_ok(const char *s)
{
  unsigned long d = strtoul(s, NULL, 10);

  return strspn(s, "0123456789") == strlen(s) && d >= 1 && d <= SRV_RP_STALE_MAX;
}

static const struct srv_qfield srv_rp_query_fields[] = {
  SRV_QF_STR(struct srv_rp_query, group, 1, INT64_MAX, srv_device_group_ok, "group: a group name"),
  SRV_QF_STR(struct srv_rp_query, os, 1, 128, srv_rp_os_ok, "os: 1 to 128 bytes of text"),
  SRV_QF_STR(struct srv_rp_query, format, 1, 4, srv_report_format_ok, "format: json or csv"),
  SRV_QF_STR(struct srv_rp_query, stale_days, 1, 4, srv_rp_days_ok, "stale_days: 1 to 3650"),
  SRV_QF_END};
const struct srv_qspec srv_ep_reports_coverage_query =
  SRV_QSPEC(struct srv_rp_query, srv_rp_query_fields);

enum MHD_Result srv_ep_reports_coverage(struct srv_request *req)
{
  struct srv_rp s;
  struct srv_rp_buf out = {0};
  struct srv_audit_cp cp = {0};
  enum MHD_Result ret;
  int64_t leaf = -1;
  json_t *d;

  memset(&s, 0, sizeof s);
  if (srv_ep_query(req, &srv_ep_reports_coverage_query, &s.q, &ret))
    return ret;
  s.csv = s.q.format && strcmp(s.q.format, "csv") == 0;
  s.scope = srv_principal_scope(srv_request_principal(req));
  srv_principal_scope_text(srv_request_principal(req), s.scope_text, sizeof s.scope_text);
  snprintf(s.stale_days, sizeof s.stale_days, "%lu",
           s.q.stale_days ? strtoul(s.q.stale_days, NULL, 10) : SRV_RP_STALE_DEFAULT);
  if (srv_ep_txn(req, SRV_DB_READ_ONLY, srv_rp_txn, &s, NULL, &ret))
    goto out;
  d = json_pack("{s:o,s:o,s:I,s:I,s:s}", "group", s.q.group ? json_string(s.q.group) : json_null(),
                "os", s.q.os ? json_string(s.q.os) : json_null(), "stale_days",
                (json_int_t)strtol(s.stale_days, NULL, 10), "devices",
                (json_int_t)s.totals[SRV_RP_DEVICES], "format", s.csv ? "csv" : "json");
  if (d && s.scope)
    json_object_set_new(d, "scope", json_string(s.scope_text));
  if (srv_report_audit(req, "report.coverage", d, &cp, &leaf) != 0) {
    ret = srv_reply_error(req, SRV_ERR_AUDIT_UNAVAILABLE, NULL);
    goto out;
  }
  (s.csv ? srv_rp_head_csv : srv_rp_head_json)(&out, &s, &cp, leaf);
  ret =
    srv_report_stream(req, s.csv ? "text/csv; charset=utf-8; header=present" : "application/json",
                      &out, s.res, s.csv ? srv_rp_row_csv : srv_rp_row_json, s.csv ? "" : "\n]}\n");
  s.res = NULL; /* the stream owns it now */
out:
  free(cp.note);
  free(out.p);
  PQclear(s.res);
  free(s.fingerprint);
  free(s.generated);
  json_decref(s.custodians);
  return ret;
}
