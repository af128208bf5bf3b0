/*
 * srv_ep.h - the endpoint kit: what every handler of srv_ep_*.c does the
 * same way.
 *
 *   body      srv_ep_body() checks the request body against the route's
 *             ke_jspec (lib/ke_json_spec.h) and answers 400 naming the
 *             failing member;
 *   query     srv_ep_query() does the same for the query string with a
 *             srv_qspec table (srv_query_parse() is the HTTP-free core,
 *             which the fuzz target drives);
 *   txn       srv_ep_txn() runs the handler's transaction and turns its
 *             outcome into the reply: a failure a body recorded with
 *             srv_ep_fail(), or the database's own trouble;
 *   values    the value rules several endpoints share (text, ASCII).
 *
 * The database layer (srv_db.h) stays free of HTTP: this file is where
 * its statuses meet replies.
 */
#ifndef SRV_EP_H
#define SRV_EP_H

#include <stddef.h>
#include <stdint.h>

#include "ke_json_spec.h"
#include "srv_db.h"
#include "srv_http.h"

struct srv_jcol; /* srv_rows.h */

/* ---- outcomes -------------------------------------------------------- */
/* What a transaction body reports instead of a plain SRV_DB_ABORT: the
 * error the client gets.  Handlers keep one in their transaction state. */
struct srv_ep_fail {
  int set;
  enum srv_error_code code;
  char message[240];
  json_t *extra; /* members added to the error object (owned), or NULL */
  /* When not NULL: a constraint violation (a concurrent insert of the same
   * unique value) is answered with this code and message. */
  const char *constraint_message;
  enum srv_error_code constraint_code;
};

/* Record the failure and return SRV_DB_ABORT, for `return srv_ep_fail(...)`
 * inside a transaction body.  `message` NULL = the registry default. */
enum srv_db_status srv_ep_fail(struct srv_ep_fail *f, enum srv_error_code code,
                               const char *message);
/* The same with extra members for the error object (stolen, may be NULL). */
enum srv_db_status srv_ep_fail_extra(struct srv_ep_fail *f, enum srv_error_code code,
                                     const char *message, json_t *extra);

/* Run `fn` in one transaction (srv_db_txn: retried on serialization
 * failures).  0 when it committed; 1 when the request was answered with
 * the failure `fn` recorded in `f` (or, with f NULL or nothing recorded, the
 * database's status) and *ret holds the reply. */
int srv_ep_txn(struct srv_request *req, enum srv_db_isolation iso, srv_db_txn_fn fn, void *cls,
               struct srv_ep_fail *f, enum MHD_Result *ret);

/* A whole list endpoint: the rows of stmt (params) by cols (srv_rows.h),
 * read in one read-only transaction and answered as {member: [...]}. */
enum MHD_Result srv_ep_list(struct srv_request *req, enum srv_stmt stmt, const char *const *params,
                            const struct srv_jcol *cols, const char *member);

/* The reply for a transaction that did not commit (st != SRV_DB_OK): the
 * failure recorded in `f` (may be NULL), else the database's trouble.  For
 * handlers that must free their state between srv_db_txn and the reply. */
enum MHD_Result srv_ep_txn_reply(struct srv_request *req, enum srv_db_status st,
                                 struct srv_ep_fail *f);

/* The reply for a transaction that failed on the database's side:
 * 503 db_conflict, 503 db_unavailable or 500. */
enum MHD_Result srv_ep_db_error(struct srv_request *req, enum srv_db_status st);

/* 400 bad_request with `what`: for validation chains that end a handler. */
enum MHD_Result srv_ep_bad(struct srv_request *req, const char *what);

/* ---- the request body ------------------------------------------------- */
/* Check the JSON body against `spec` into `out`.  0, or 1 when answered
 * (400 with the spec's message, or the failing field's `code`). */
int srv_ep_body(struct srv_request *req, const struct ke_jspec *spec, void *out,
                enum MHD_Result *ret);
/* The two halves, for a handler whose message for one member depends on
 * the configuration: parse (0, or -1 with *err; nothing is answered), then
 * answer a failure (a handler bug - a spec not in the route table - is a
 * 500, anything else the failing member's 400). */
int srv_ep_body_parse(struct srv_request *req, const struct ke_jspec *spec, void *out,
                      struct ke_jerr *err);
enum MHD_Result srv_ep_body_reply(struct srv_request *req, const struct ke_jerr *err);

/* ---- the query string ------------------------------------------------- */
enum srv_qtype {
  SRV_Q_BOOL, /* "true" or "false" into int */
  SRV_Q_UINT, /* decimal, no sign, no leading zero, min..max, into int64_t */
  SRV_Q_STR,  /* min..max bytes, check() if set, into const char * */
};

#define SRV_Q_REQUIRED 1u

struct srv_qfield {
  const char *name; /* NULL ends the table */
  enum srv_qtype type;
  unsigned flags; /* SRV_Q_REQUIRED */
  size_t offset;  /* of the value in the caller's struct */
  int64_t min, max, def;
  int (*check)(const char *s);
  const char *error; /* the message when wrong (or missing, if required) */
};

struct srv_qspec {
  const struct srv_qfield *fields;
  size_t size; /* sizeof the caller's struct */
};

#define SRV_QSPEC(T, fields) \
  {                          \
    (fields), sizeof(T)      \
  }
#define SRV_QF_(T, m, ty, fl, lo, hi, d, chk, msg)                \
  {                                                               \
#m, (ty), (fl), offsetof(T, m), (lo), (hi), (d), (chk), (msg) \
  }
#define SRV_QF_BOOL(T, m, d, msg) SRV_QF_(T, m, SRV_Q_BOOL, 0, 0, 1, d, NULL, msg)
#define SRV_QF_UINT(T, m, lo, hi, d, msg) SRV_QF_(T, m, SRV_Q_UINT, 0, lo, hi, d, NULL, msg)
#define SRV_QF_STR(T, m, lo, hi, chk, msg) SRV_QF_(T, m, SRV_Q_STR, 0, lo, hi, 0, chk, msg)
#define SRV_QF_END                              \
  {                                             \
    NULL, SRV_Q_BOOL, 0, 0, 0, 0, 0, NULL, NULL \
  }

/* Where the query values come from: srv_request_query in escrowd. */
typedef const char *(*srv_query_lookup)(void *cls, const char *name);

/* Parse into `out` (zeroed, then defaults and values).  0, or -1 with the
 * message in err.  No HTTP: the fuzz target calls this. */
int srv_query_parse(const struct srv_qspec *spec, srv_query_lookup lookup, void *cls, void *out,
                    char *err, size_t errlen);
/* The request's query string through `spec`.  0, or 1 when answered 400. */
int srv_ep_query(struct srv_request *req, const struct srv_qspec *spec, void *out,
                 enum MHD_Result *ret);

/* ---- shared value rules ------------------------------------------------ */
/* UTF-8 text without control characters, min..max bytes. */
int srv_text_ok(const char *s, size_t min, size_t max);
/* Printable ASCII, 1..max bytes. */
int srv_ascii_ok(const char *s, size_t max);
/* The LIKE pattern of the values that start with s (its backslashes, "%" and
 * "_" escaped), malloc'd; NULL when out of memory. */
char *srv_like_prefix(const char *s);

#endif
