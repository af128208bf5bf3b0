/*
 * srv_report.c - what the report endpoints share (srv_report.h): the text
 * buffer their answers are written into, JSON and RFC 4180 CSV fields, and
 * pinning a report to the audit log.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "srv_report.h"

/* ---- a growing text buffer -------------------------------------------------- */
void srv_rp_put(struct srv_rp_buf *b, const char *s, size_t n)
{
  if (b->len + n + 1 <= b->cap) { /* the common case: it fits */
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return;
  }
  if (b->oom)
    return;
  {
    size_t cap = b->cap ? b->cap : 65536;
    char *p;
    while (cap < b->len + n + 1)
      cap *= 2;
    if (!(p = realloc(b->p, cap))) {
      b->oom = 1;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

void srv_rp_str(struct srv_rp_buf *b, const char *s) { srv_rp_put(b, s, strlen(s)); }

void srv_rp_fmt(struct srv_rp_buf *b, const char *fmt, ...)
{
  char tmp[256];
  va_list ap;
  int n;

  va_start(ap, fmt);
  n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= sizeof tmp)
    b->oom = 1;
  else
    srv_rp_put(b, tmp, (size_t)n);
}

/* A JSON string (s NULL: null).  Text columns are valid UTF-8 without
 * control characters by their CHECKs, but escape fully anyway. */
void srv_rp_jstr(struct srv_rp_buf *b, const char *s)
{
  const char *run;

  if (!s) {
    srv_rp_str(b, "null");
    return;
  }
  srv_rp_put(b, "\"", 1);
  for (run = s; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c >= 0x20 && c != '"' && c != '\\')
      continue;
    srv_rp_put(b, run, (size_t)(s - run));
    if (c == '"' || c == '\\') {
      char e[2] = {'\\', (char)c};
      srv_rp_put(b, e, 2);
    } else {
      srv_rp_fmt(b, "\\u%04x", c);
    }
    run = s + 1;
  }
  srv_rp_put(b, run, (size_t)(s - run));
  srv_rp_put(b, "\"", 1);
}

/* An RFC 4180 field: quoted (with "" for ") when it holds a comma, a quote,
 * CR or LF; as is otherwise.  NULL is the empty field. */
void srv_rp_cstr(struct srv_rp_buf *b, const char *s)
{
  if (!s)
    return;
  if (!strpbrk(s, ",\"\r\n")) {
    srv_rp_str(b, s);
    return;
  }
  srv_rp_put(b, "\"", 1);
  for (const char *q; (q = strchr(s, '"')) != NULL; s = q + 1) {
    srv_rp_put(b, s, (size_t)(q - s));
    srv_rp_put(b, "\"\"", 2);
  }
  srv_rp_str(b, s);
  srv_rp_put(b, "\"", 1);
}

/* ---- the audit checkpoint ----------------------------------------------------- */
int srv_report_audit(struct srv_request *req, const char *action, json_t *d,
                     struct srv_audit_cp *cp, int64_t *leaf)
{
  struct srv_audit_event ev = {action, NULL, "success", d, NULL};
  int rc = -1;

  *leaf = -1;
  memset(cp, 0, sizeof *cp);
  if (d && srv_audit_record(req, &ev) == 0 && srv_audit_sequence_mine(leaf) == 0 &&
      srv_audit_checkpoint_make(cp) == 0)
    rc = 0;
  json_decref(d);
  return rc;
}

/* ---- streaming --------------------------------------------------------------- */
struct srv_rp_stream {
  struct srv_rp_buf out; /* formatted and not yet sent: out.p[off, len) */
  size_t off;
  PGresult *res;
  int row, nrows;
  srv_rp_row_fn fn;
  const char *tail;
  int tail_done;
};

static ssize_t srv_rp_stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
  struct srv_rp_stream *st = cls;
  size_t n;

  (void)pos;
  if (st->off == st->out.len) {
    /* Refill from the start of the same buffer: about one block of rows. */
    st->out.len = st->off = 0;
    while (st->out.len < max && st->row < st->nrows) {
      st->fn(&st->out, st->res, st->row, st->row == 0);
      st->row++;
    }
    if (st->row == st->nrows && !st->tail_done && st->out.len < max) {
      srv_rp_str(&st->out, st->tail);
      st->tail_done = 1;
    }
    if (st->out.oom)
      return MHD_CONTENT_READER_END_WITH_ERROR;
    if (st->out.len == 0)
      return MHD_CONTENT_READER_END_OF_STREAM;
  }
  n = st->out.len - st->off < max ? st->out.len - st->off : max;
  memcpy(buf, st->out.p + st->off, n);
  st->off += n;
  return (ssize_t)n;
}

static void srv_rp_stream_free(void *cls)
{
  struct srv_rp_stream *st = cls;

  PQclear(st->res);
  free(st->out.p);
  free(st);
}

enum MHD_Result srv_report_stream(struct srv_request *req, const char *content_type,
                                  struct srv_rp_buf *head, PGresult *res, srv_rp_row_fn row,
                                  const char *tail)
{
  struct srv_rp_stream *st = calloc(1, sizeof *st);

  if (!st || head->oom) {
    free(st);
    free(head->p);
    PQclear(res);
    *head = (struct srv_rp_buf){0};
    return srv_reply_error(req, SRV_ERR_INTERNAL, NULL);
  }
  st->out = *head;
  *head = (struct srv_rp_buf){0};
  st->res = res;
  st->nrows = res ? PQntuples(res) : 0;
  st->fn = row;
  st->tail = tail;
  return srv_reply_stream(req, MHD_HTTP_OK, content_type, srv_rp_stream_read, srv_rp_stream_free,
                          st);
}
