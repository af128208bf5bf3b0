/*
 * srv_report.h - shared by the report endpoints (srv_ep_reports*.c).
 *
 * Reports are written as text with the field writers below, never as a
 * jansson tree (100,000 rows of it cost more than the query that made
 * them): small ones into one buffer, the coverage report block by block
 * while it is sent (srv_report_stream).  Every report is audited and
 * carries the signed checkpoint made right after its event was sequenced.
 */
#ifndef SRV_REPORT_H
#define SRV_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "srv_audit.h"
#include "srv_audit_http.h"

struct srv_rp_buf {
  char *p; /* NUL terminated, malloc'd (free it) */
  size_t len, cap;
  int oom; /* an allocation failed: the content is incomplete */
};

void srv_rp_put(struct srv_rp_buf *b, const char *s, size_t n);
void srv_rp_str(struct srv_rp_buf *b, const char *s);
void srv_rp_fmt(struct srv_rp_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A JSON string, fully escaped; NULL writes null. */
void srv_rp_jstr(struct srv_rp_buf *b, const char *s);
/* An RFC 4180 field: quoted (quotes doubled) when it holds a comma, a
 * quote, CR or LF; NULL is the empty field. */
void srv_rp_cstr(struct srv_rp_buf *b, const char *s);

/* ---- streaming a report ----------------------------------------------------- */
/* A report whose rows come from one PGresult is sent while it is written:
 * the head (already formatted), then row(b, res, i, i == 0) for every row,
 * then the tail.  Rows are formatted a block at a time into one reused
 * buffer, so a 100,000-device answer never exists in memory at once (it
 * is ~50 MB of JSON: building it, copying it into the response and the
 * page faults of fresh memory cost more than the query).  Takes ownership
 * of head->p and res, on every path. */
typedef void (*srv_rp_row_fn)(struct srv_rp_buf *b, const PGresult *res, int row, int first);
enum MHD_Result srv_report_stream(struct srv_request *req, const char *content_type,
                                  struct srv_rp_buf *head, PGresult *res, srv_rp_row_fn row,
                                  const char *tail);

/* Record the report's success event `action` with details d (taken over;
 * NULL fails), sequence it, and sign a checkpoint that covers it: *leaf is
 * the event's index, *cp the checkpoint (free cp->note).
 * 0, or -1 (the audit log is unavailable). */
int srv_report_audit(struct srv_request *req, const char *action, json_t *d,
                     struct srv_audit_cp *cp, int64_t *leaf);
/* The ?format= values of both reports: "json" or "csv". */
int srv_report_format_ok(const char *s);

#endif
