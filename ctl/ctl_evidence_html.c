/*
 * ctl_evidence_html.c - the evidence bundle's index.html (ctl_evidence.h):
 * for people, so it opens offline and prints; the JSON files are the
 * evidence, this is their rendition.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_evidence.h"
#include "ctl_util.h"

/* Text, escaped for HTML (element content and quoted attributes). */
static void esc(FILE *f, const char *s)
{
  for (; s && *s; s++)
    switch (*s) {
      case '&': fputs("&amp;", f); break;
      case '<': fputs("&lt;", f); break;
      case '>': fputs("&gt;", f); break;
      case '"': fputs("&quot;", f); break;
      case '\'': fputs("&#39;", f); break;
      default: fputc(*s, f);
    }
}

/* A JSON value as text: strings as they are, others dumped. */
static void cell(FILE *f, const json_t *v)
{
  char *t;

  if (!v || json_is_null(v)) {
    fputs("<td>-</td>", f);
    return;
  }
  fputs("<td>", f);
  if (json_is_string(v)) {
    esc(f, json_string_value(v));
  } else if ((t = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT))) {
    esc(f, t);
    free(t);
  }
  fputs("</td>", f);
}

static void coverage(FILE *f, const json_t *cov)
{
  const json_t *tot = json_object_get(cov, "totals"), *pct = json_object_get(cov, "percent");
  const json_t *c = json_object_get(cov, "custodians"), *sh = json_object_get(c, "shares");
  const char *key;
  json_t *v;
  size_t i;

  fputs("<h2>Coverage</h2>\n<table><tr><th>Total</th><th>Devices</th><th>Percent</th></tr>\n", f);
  json_object_foreach ((json_t *)tot, key, v) {
    fputs("<tr><td>", f);
    esc(f, key);
    fputs("</td>", f);
    cell(f, v);
    cell(f, json_object_get(pct, key));
    fputs("</tr>\n", f);
  }
  fputs("</table>\n<h2>Custodian attestations</h2>\n<p>Threshold ", f);
  fprintf(f, "%lld; shares attested within 90 days: %lld</p>\n", ctl_jint(c, "threshold"),
          ctl_jint(c, "attested_90_days"));
  fputs("<table><tr><th>Share</th><th>Last attested</th><th>By</th></tr>\n", f);
  json_array_foreach (sh, i, v) {
    fputs("<tr>", f);
    cell(f, json_object_get(v, "index"));
    cell(f, json_object_get(v, "last_attestation"));
    cell(f, json_object_get(v, "by"));
    fputs("</tr>\n", f);
  }
  fputs("</table>\n", f);
}

static void retrievals(FILE *f, const json_t *ret, const json_t *proofs)
{
  static const char *const cols[] = {"created",   "retrieval_id", "requester", "hostname",
                                     "volume_id", "reason",       "ticket",    "state",
                                     "completed", "custodians",   "rotation"};
  const json_t *rows = json_object_get(ret, "retrievals"), *evs = json_object_get(proofs, "events");
  json_t *r, *e;
  size_t i, k;

  fputs("<h2>Retrievals</h2>\n<table><tr>", f);
  for (k = 0; k < sizeof cols / sizeof *cols; k++)
    fprintf(f, "<th>%s</th>", cols[k]);
  fputs("<th>log leaf</th></tr>\n", f);
  json_array_foreach (rows, i, r) {
    const json_t *leaf = NULL;
    fputs("<tr>", f);
    for (k = 0; k < sizeof cols / sizeof *cols; k++)
      cell(f, json_object_get(r, cols[k]));
    json_array_foreach (evs, k, e)
      if (json_equal(json_object_get(e, "retrieval_id"), json_object_get(r, "retrieval_id")))
        leaf = json_object_get(e, "leaf_index");
    cell(f, leaf);
    fputs("</tr>\n", f);
  }
  fputs("</table>\n", f);
}

/* One row per drill: its id, state, selection and records, and its audit
 * events by leaf. */
static void drills_table(FILE *f, const json_t *drills, const json_t *proofs)
{
  static const char *const cols[] = {"id", "state", "selection", "records", "created", "closed"};
  const json_t *dl = json_object_get(drills, "drills"),
               *evs = json_object_get(proofs, "drill_events");
  json_t *d, *e;
  size_t i, k;

  if (!json_array_size(dl))
    return;
  fputs("<h2>Drills</h2>\n<table><tr>", f);
  for (k = 0; k < sizeof cols / sizeof *cols; k++)
    fprintf(f, "<th>%s</th>", cols[k]);
  fputs("<th>log events</th></tr>\n", f);
  json_array_foreach (dl, i, d) {
    fputs("<tr>", f);
    for (k = 0; k < sizeof cols / sizeof *cols; k++)
      cell(f, json_object_get(d, cols[k]));
    fputs("<td>", f);
    json_array_foreach (evs, k, e)
      if (json_equal(json_object_get(e, "drill_id"), json_object_get(d, "id"))) {
        esc(f, ctl_jstr(e, "action"));
        fprintf(f, " at leaf %lld<br>", ctl_jint(e, "leaf_index"));
      }
    fputs("</td></tr>\n", f);
  }
  fputs("</table>\n", f);
}

int ctl_evidence_html(ke_buf *out, const char *from, const char *to, const json_t *cov,
                      const json_t *ret, const json_t *drills, const json_t *proofs,
                      const char *checkpoint)
{
  char *p = NULL;
  size_t n = 0;
  FILE *f = open_memstream(&p, &n);

  if (!f)
    return ctl_oom();
  fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
        "<title>keyescrow evidence</title>\n<style>\n"
        "body{font:11pt sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}\n"
        "th,td{border:1px solid #888;padding:2px 6px;text-align:left;vertical-align:top}\n"
        "pre{white-space:pre-wrap;word-break:break-all}\n"
        "@media print{body{margin:0;font-size:9pt}h2{break-after:avoid}tr{break-inside:avoid}}\n"
        "</style></head><body>\n<h1>keyescrow evidence, ",
        f);
  esc(f, from);
  fputs(" to ", f);
  esc(f, to);
  fputs("</h1>\n<p>Generated ", f);
  esc(f, ctl_jstr(cov, "generated"));
  fputs(". The JSON and CSV files beside this page are the evidence; manifest.json lists their "
        "SHA-256 and is signed by the auditor. Check with <code>escrowctl report "
        "verify-evidence</code>.</p>\n",
        f);
  coverage(f, cov);
  retrievals(f, ret, proofs);
  drills_table(f, drills, proofs);
  fputs("<h2>Audit checkpoint</h2>\n<pre>", f);
  esc(f, checkpoint);
  fputs("</pre>\n</body></html>\n", f);
  if (fclose(f) != 0 || !p) {
    free(p);
    return ctl_oom();
  }
  out->p = p;
  out->len = n;
  out->cap = n + 1;
  return CTL_OK;
}
