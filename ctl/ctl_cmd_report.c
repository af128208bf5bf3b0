/*
 * escrowctl report coverage - the coverage report (auditor role): which
 * devices have their keys escrowed, current and verified
 * (GET /v1/reports/coverage).  json and csv are the server's bytes, as
 * they came (the CSV is RFC 4180, made by the server); table is for people.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_cmd.h"
#include "ctl_http.h"

const char ctl_usage_report_coverage[] =
  "usage: escrowctl report coverage [--format table|json|csv] [--group G] [--os OS]\n"
  "                                 [--stale-days N]\n"
  "\n"
  "Prints the coverage report (auditor only): totals and percentages first,\n"
  "then one row per enrolled device: escrowed (current records by key type),\n"
  "last check-in and whether it is stale, verifier and unlock checks, escrowed\n"
  "under the current or an old escrow key, disclosed but not yet rotated.\n"
  "Every report names the audit checkpoint it was computed at.\n"
  "\n"
  "  --format F      table (default), json or csv (RFC 4180, CRLF)\n"
  "  --group G       only devices of that enrolment group\n"
  "  --os OS         only devices reporting exactly that OS\n"
  "  --stale-days N  no check-in within N days is stale (default 30)\n"
  "  --server URL, --cacert PEM   as for every online command\n";

const char ctl_usage_report_retrievals[] =
  "usage: escrowctl report retrievals --since DATE [--format table|json|csv]\n"
  "\n"
  "Lists every retrieval created since DATE (auditor only): who asked, for\n"
  "which device and volume, the reason and ticket, which custodians\n"
  "contributed, when it completed, and whether the disclosed key was rotated\n"
  "afterwards.  The report names the audit checkpoint it was computed at.\n"
  "\n"
  "  --since DATE    YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (UTC)\n"
  "  --format F      table (default), json or csv (RFC 4180, CRLF)\n"
  "  --server URL, --cacert PEM   as for every online command\n";

typedef struct report_opts {
  ctl_http_target t;
  const char *format, *group, *os, *since;
  unsigned stale_days;
} report_opts;

enum { O_FORMAT = 256, O_STALE };

static const struct option report_options[] = {
  {"format", required_argument, 0, O_FORMAT},
  {"group", required_argument, 0, CTL_OPT_ARG(report_opts, group)},
  {"os", required_argument, 0, CTL_OPT_ARG(report_opts, os)},
  {"stale-days", required_argument, 0, O_STALE},
  CTL_HTTP_OPTIONS,
  CTL_OPT_END,
};

static int on_opt(void *ctx, int opt, const char *arg)
{
  report_opts *o = ctx;

  if (ctl_http_opt(&o->t, opt, arg))
    return CTL_OK;
  switch (opt) {
    case O_FORMAT:
      if (strcmp(arg, "table") && strcmp(arg, "json") && strcmp(arg, "csv"))
        return ctl_err(CTL_USAGE, "--format: table, json or csv");
      o->format = arg;
      return CTL_OK;
    case O_STALE: return ctl_parse_uint(&o->stale_days, arg, "--stale-days", 1, 3650);
  }
  return CTL_USAGE;
}

/* Append "&name=<escaped value>" (or "?..." first) to path. */
static int add_query(char *path, size_t len, const char *name, const char *value)
{
  char esc[600];
  size_t n = strlen(path);
  int rc;

  if (!value)
    return CTL_OK;
  if ((rc = ctl_http_escape(esc, sizeof esc, value)))
    return rc;
  if ((size_t)snprintf(path + n, len - n, "%c%s=%s", strchr(path, '?') ? '&' : '?', name, esc) >=
      len - n)
    return ctl_err(CTL_USAGE, "--%s is too long", name);
  return CTL_OK;
}

static const char *jstr(const json_t *o, const char *k, const char *dflt)
{
  const char *s = ctl_jstr(o, k);
  return s ? s : dflt;
}

/* "bl:1 luks:2" into out. */
static void key_types(char *out, size_t len, const json_t *kt)
{
  static const char *const names[] = {"bitlocker", "filevault", "luks", "other"};
  static const char *const shrt[] = {"bl", "fv", "luks", "other"};
  size_t n = 0;

  out[0] = '\0';
  for (size_t i = 0; i < 4 && n < len; i++) {
    long long c = ctl_jint(kt, names[i]);
    if (c > 0)
      n += (size_t)snprintf(out + n, len - n, "%s%s:%lld", n ? " " : "", shrt[i], c);
  }
  if (!out[0])
    snprintf(out, len, "-");
}

static void print_table(const json_t *ans)
{
  const json_t *tot = json_object_get(ans, "totals"), *pct = json_object_get(ans, "percent");
  const json_t *audit = json_object_get(ans, "audit"), *par = json_object_get(ans, "parameters");
  const json_t *devs = json_object_get(ans, "devices"), *c = json_object_get(ans, "custodians");
  const json_t *sh = json_object_get(c, "shares");
  const char *key;
  json_t *v;

  printf("Coverage report, generated %s\n", jstr(ans, "generated", "?"));
  printf("Audit checkpoint: tree size %lld, root %s (report event at leaf %lld)\n",
         ctl_jint(audit, "tree_size"), jstr(audit, "root", "?"), ctl_jint(audit, "leaf_index"));
  printf("Escrow key: %s\n", jstr(ans, "escrow_key", "(none published)"));
  printf("Filters: group %s, os %s; stale after %lld days without check-in\n\n",
         jstr(par, "group", "(all)"), jstr(par, "os", "(all)"), ctl_jint(par, "stale_days"));
  printf("%-26s %8s %7s\n", "TOTAL", "DEVICES", "PERCENT");
  json_object_foreach ((json_t *)tot, key, v) {
    const json_t *p = json_object_get(pct, key);
    if (p)
      printf("%-26s %8lld %6.1f%%\n", key, (long long)json_integer_value(v), json_number_value(p));
    else
      printf("%-26s %8lld\n", key, (long long)json_integer_value(v));
  }
  printf("\nCustodians (threshold %lld): %lld share(s) attested within 90 days\n",
         ctl_jint(c, "threshold"), ctl_jint(c, "attested_90_days"));
  for (size_t i = 0; i < json_array_size(sh); i++) {
    const json_t *e = json_array_get(sh, i);
    printf("  share %-3lld last attested %s%s%s\n", ctl_jint(e, "index"),
           jstr(e, "last_attestation", "never"),
           json_is_string(json_object_get(e, "by")) ? " by " : "", jstr(e, "by", ""));
  }
  if (json_is_string(json_object_get(c, "warning")))
    printf("WARNING: %s\n", jstr(c, "warning", ""));
  printf("\n%-30s %-20s %-12s %-20s %-5s %-14s %-12s %-10s %-7s %s\n", "DEVICE", "HOSTNAME",
         "GROUP", "LAST CHECK-IN", "STALE", "ESCROWED", "VERIFIER", "UNLOCK", "KEY", "DISCLOSED");
  for (size_t i = 0; i < json_array_size(devs); i++) {
    const json_t *d = json_array_get(devs, i);
    char kt[64];
    key_types(kt, sizeof kt, json_object_get(d, "key_types"));
    printf("%-30s %-20.20s %-12.12s %-20s %-5s %-14s %-12s %-10s %-7s %s\n",
           jstr(d, "device_id", "?"), jstr(d, "hostname", "?"), jstr(d, "group", "?"),
           jstr(d, "last_checkin", "never"),
           json_is_true(json_object_get(d, "stale")) ? "yes" : "no", kt, jstr(d, "verifier", "-"),
           jstr(d, "unlock_check", "-"), jstr(d, "escrow_key", "-"),
           json_is_true(json_object_get(d, "disclosed_not_rotated")) ? "not rotated" : "-");
  }
}

/* GET path (with &format=csv for csv) and print the report: json and csv
 * as the server's bytes, table by print(). */
static int report_run(const report_opts *o, char *path, size_t len,
                      void (*print)(const json_t *ans))
{
  ctl_http *h = NULL;
  ke_buf raw = {0};
  json_t *ans = NULL;
  json_error_t e;
  int rc;

  if ((rc =
         add_query(path, len, "format", o->format && strcmp(o->format, "csv") == 0 ? "csv" : NULL)))
    return rc;
  if ((rc = ctl_http_open(&h, &o->t, 1)) || (rc = ctl_http_get_raw(h, path, &raw, NULL)))
    goto out;
  if (o->format && strcmp(o->format, "table") != 0) {
    if (fwrite(raw.p, 1, raw.len, stdout) != raw.len || fflush(stdout) != 0)
      rc = ctl_err(CTL_FAIL, "writing the report failed");
    goto out;
  }
  if (!(ans = json_loadb(raw.p, raw.len, 0, &e)) || !json_is_object(ans)) {
    rc = ctl_err(CTL_NET, "the server's report is not JSON: %s", e.text);
    goto out;
  }
  print(ans);
out:
  json_decref(ans);
  ke_buf_free(&raw);
  ctl_http_free(h);
  return rc;
}

int ctl_cmd_report_coverage(const ctl_cmd *cmd, int argc, char **argv)
{
  report_opts o = {0};
  char path[2048] = "/v1/reports/coverage", num[16];
  int rc;

  if ((rc = ctl_getopt(cmd, argc, argv, report_options, on_opt, &o, NULL)))
    return rc;
  snprintf(num, sizeof num, "%u", o.stale_days);
  if ((rc = add_query(path, sizeof path, "group", o.group)) ||
      (rc = add_query(path, sizeof path, "os", o.os)) ||
      (rc = add_query(path, sizeof path, "stale_days", o.stale_days ? num : NULL)))
    return rc;
  return report_run(&o, path, sizeof path, print_table);
}

static void print_retrievals(const json_t *ans)
{
  const json_t *audit = json_object_get(ans, "audit"), *list = json_object_get(ans, "retrievals");

  printf("Retrievals since %s\n", jstr(ans, "since", "?"));
  printf("Audit checkpoint: tree size %lld, root %s (report event at leaf %lld)\n\n",
         ctl_jint(audit, "tree_size"), jstr(audit, "root", "?"), ctl_jint(audit, "leaf_index"));
  printf("%-20s %-30s %-14s %-16s %-10s %-14s %-9s %-20s %-28s %-11s %s\n", "CREATED", "RETRIEVAL",
         "REQUESTER", "HOSTNAME", "VOLUME", "TICKET", "STATE", "COMPLETED", "CUSTODIANS",
         "ROTATION", "REASON");
  for (size_t i = 0; i < json_array_size(list); i++) {
    const json_t *r = json_array_get(list, i), *cs = json_object_get(r, "custodians");
    char cust[128] = "-";
    size_t n = 0;
    for (size_t k = 0; k < json_array_size(cs) && n < sizeof cust; k++)
      n += (size_t)snprintf(cust + n, sizeof cust - n, "%s%lld:%s", k ? "," : "",
                            ctl_jint(json_array_get(cs, k), "index"),
                            jstr(json_array_get(cs, k), "name", "?"));
    printf("%-20s %-30s %-14.14s %-16.16s %-10.10s %-14.14s %-9s %-20s %-28s %-11s %s\n",
           jstr(r, "created", "?"), jstr(r, "retrieval_id", "?"), jstr(r, "requester", "?"),
           jstr(r, "hostname", "?"), jstr(r, "volume_id", "?"), jstr(r, "ticket", "?"),
           jstr(r, "state", "?"), jstr(r, "completed", "-"), cust, jstr(r, "rotation", "-"),
           jstr(r, "reason", ""));
  }
}

int ctl_cmd_report_retrievals(const ctl_cmd *cmd, int argc, char **argv)
{
  static const struct option opts[] = {
    {"since", required_argument, 0, CTL_OPT_ARG(report_opts, since)},
    {"format", required_argument, 0, O_FORMAT},
    CTL_HTTP_OPTIONS,
    CTL_OPT_END,
  };
  report_opts o = {0};
  char path[1024] = "/v1/reports/retrievals";
  int rc;

  if ((rc = ctl_getopt(cmd, argc, argv, opts, on_opt, &o, NULL)))
    return rc;
  if (!o.since)
    return ctl_missing_opt("--since");
  if ((rc = add_query(path, sizeof path, "since", o.since)))
    return rc;
  return report_run(&o, path, sizeof path, print_retrievals);
}
