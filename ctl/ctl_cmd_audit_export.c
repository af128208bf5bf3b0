/*
 * escrowctl audit export - the audit log for a SIEM (auditor role).
 *
 *   jsonl  one leaf per line, the exact bytes that were hashed (canonical
 *          JSON never contains a raw newline), so a SIEM can re-hash them;
 *   csv    RFC 4180: a header, then seq,time,actor,action,outcome,object,
 *          src,request_id,details (details as canonical JSON), CRLF line
 *          ends, fields quoted when they hold a comma, quote, CR or LF.
 *
 * --since INDEX starts at that leaf index (for incremental exports: pass
 * the last exported seq + 1); --since TIME (RFC 3339, e.g.
 * 2024-05-01T00:00:00Z) keeps events whose time is at or after it.  Export
 * does not verify the log: run `escrowctl audit verify` for that.  Entries
 * that are not valid events are skipped and reported (exit 1).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl_audit.h"
#include "ctl_cmd.h"
#include "ke_canon.h"

const char ctl_usage_audit_export[] =
  "usage: escrowctl audit export --format jsonl|csv [--since INDEX|TIME] [--out FILE]\n"
  "\n"
  "Writes the audit log's entries for a SIEM (auditor role).  jsonl: each leaf\n"
  "exactly as hashed, one per line; csv: RFC 4180 with the columns seq, time,\n"
  "actor, action, outcome, object, src, request_id, details.\n"
  "\n"
  "  --format F        jsonl or csv\n"
  "  --since INDEX     start at this leaf index (last exported seq + 1)\n"
  "  --since TIME      only events at or after this RFC 3339 UTC time\n"
  "                    (e.g. 2024-05-01T00:00:00Z)\n"
  "  --out FILE        write to a new FILE (mode 0600, never replaced)\n"
  "                    instead of standard output\n"
  "  --server URL, --cacert PEM   as for every online command\n";

typedef struct export_opts {
  ctl_http_target t;
  const char *format, *since, *out;
} export_opts;

static const struct option export_options[] = {
  CTL_HTTP_OPTIONS,
  {"format", required_argument, 0, CTL_OPT_ARG(export_opts, format)},
  {"since", required_argument, 0, CTL_OPT_ARG(export_opts, since)},
  {"out", required_argument, 0, CTL_OPT_ARG(export_opts, out)},
  CTL_OPT_END};

typedef struct exporter {
  FILE *f;
  int csv;
  char since_time[40]; /* "" = no time filter */
  int64_t written, skipped, first_skipped;
} exporter;

/* RFC 4180 field: quoted only when needed, quotes doubled. */
static void csv_field(FILE *f, const char *s, int last)
{
  if (s && strpbrk(s, ",\"\r\n")) {
    fputc('"', f);
    for (; *s; s++) {
      if (*s == '"')
        fputc('"', f);
      fputc(*s, f);
    }
    fputc('"', f);
  } else if (s) {
    fputs(s, f);
  }
  fputs(last ? "\r\n" : ",", f);
}

/* Event times are all "YYYY-MM-DDTHH:MM:SS.mmmZ"; a shorter or coarser
 * --since compares correctly as a string once normalised to that form. */
static int parse_since_time(char out[40], const char *s)
{
  size_t n = strlen(s);
  if (n < 20 || n > 24 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
      s[16] != ':' || s[n - 1] != 'Z')
    return -1;
  for (size_t i = 0; i < n - 1; i++)
    if (i != 4 && i != 7 && i != 10 && i != 13 && i != 16 && i != 19 && (s[i] < '0' || s[i] > '9'))
      return -1;
  if (n == 20) {
    snprintf(out, 40, "%.19s.000Z", s);
  } else {
    if (s[19] != '.' || n != 24)
      return -1;
    snprintf(out, 40, "%s", s);
  }
  return 0;
}

static const char *str_or_empty(const json_t *ev, const char *key)
{
  const char *s = ctl_jstr(ev, key);
  return s ? s : "";
}

static int on_leaf(void *ctx, int64_t index, const uint8_t *leaf, size_t len)
{
  exporter *x = ctx;
  json_t *ev = NULL;

  if (ke_canon_parse(&ev, (const char *)leaf, len) != KE_OK ||
      ke_canon_event_check(ev, (uint64_t)index) != KE_OK) {
    json_decref(ev);
    if (x->skipped++ == 0)
      x->first_skipped = index;
    return CTL_OK;
  }
  if (x->since_time[0] && strcmp(str_or_empty(ev, "time"), x->since_time) < 0) {
    json_decref(ev);
    return CTL_OK;
  }
  if (!x->csv) {
    fwrite(leaf, 1, len, x->f);
    fputc('\n', x->f);
  } else {
    char seq[24], *details = NULL;
    json_t *d = json_object_get(ev, "details");
    snprintf(seq, sizeof seq, "%lld", (long long)index);
    if (d && ke_canon_dump(d, &details, NULL) != KE_OK) {
      json_decref(ev);
      return CTL_FAIL;
    }
    csv_field(x->f, seq, 0);
    csv_field(x->f, str_or_empty(ev, "time"), 0);
    csv_field(x->f, str_or_empty(ev, "actor"), 0);
    csv_field(x->f, str_or_empty(ev, "action"), 0);
    csv_field(x->f, str_or_empty(ev, "outcome"), 0);
    csv_field(x->f, str_or_empty(ev, "object"), 0);
    csv_field(x->f, str_or_empty(ev, "src"), 0);
    csv_field(x->f, str_or_empty(ev, "request_id"), 0);
    csv_field(x->f, details ? details : "", 1);
    free(details);
  }
  json_decref(ev);
  x->written++;
  return ferror(x->f) ? CTL_FAIL : CTL_OK;
}

int ctl_cmd_audit_export(const ctl_cmd *cmd, int argc, char **argv)
{
  export_opts o = {0};
  exporter x = {NULL, 0, "", 0, 0, -1};
  int64_t start = 0;
  ctl_http *h = NULL;
  int rc, fd = -1;

  if ((rc = ctl_getopt(cmd, argc, argv, export_options, ctl_http_on_opt, &o, NULL)))
    return rc;
  if (!o.format)
    return ctl_missing_opt("--format");
  if (strcmp(o.format, "csv") == 0)
    x.csv = 1;
  else if (strcmp(o.format, "jsonl") != 0) {
    return ctl_err(CTL_USAGE, "--format must be jsonl or csv");
  }
  if (o.since) {
    char *end;
    errno = 0;
    if (o.since[0] >= '0' && o.since[0] <= '9' && strchr(o.since, '-') == NULL) {
      long long v = strtoll(o.since, &end, 10);
      if (errno || *end || v < 0)
        return ctl_err(CTL_USAGE, "--since must be a leaf index or an RFC 3339 UTC time");
      start = v;
    } else if (parse_since_time(x.since_time, o.since) != 0) {
      return ctl_err(CTL_USAGE, "--since must be a leaf index or an RFC 3339 UTC time such as "
                                "2024-05-01T00:00:00Z");
    }
  }
  if ((rc = ctl_http_open(&h, &o.t, 1)))
    return rc;
  if (o.out) {
    /* Exports name people and addresses: private, and never clobbered. */
    fd = open(o.out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 || !(x.f = fdopen(fd, "w"))) {
      ctl_errf("cannot create %s: %s", o.out, strerror(errno));
      if (fd >= 0)
        close(fd);
      rc = CTL_FAIL;
      goto out;
    }
  } else {
    x.f = stdout;
  }
  if (x.csv)
    fputs("seq,time,actor,action,outcome,object,src,request_id,details\r\n", x.f);
  rc = ctl_audit_fetch(h, start, -1, on_leaf, &x, NULL);
  if (rc == CTL_OK && fflush(x.f) != 0)
    rc = CTL_FAIL;
  if (rc == CTL_OK && x.skipped)
    rc = ctl_err(CTL_FAIL,
                 "%lld entries are not valid events and were skipped (first: index "
                 "%lld); run escrowctl audit verify",
                 (long long)x.skipped, (long long)x.first_skipped);
  if (rc == CTL_OK)
    ctl_notef("exported %lld events", (long long)x.written);
out:
  if (x.f && x.f != stdout && fclose(x.f) != 0 && rc == CTL_OK)
    rc = ctl_err(CTL_FAIL, "cannot write %s", o.out);
  ctl_http_free(h);
  return rc;
}
