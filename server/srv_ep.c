/*
 * srv_ep.c - the endpoint kit (srv_ep.h): outcomes, bodies, query strings
 * and the value rules endpoints share.
 */
#include "srv_ep.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ke_files.h"
#include "ke_log.h"
#include "ke_util.h"
#include "srv_rows.h"

/* ---- outcomes -------------------------------------------------------- */

enum srv_db_status srv_ep_fail_extra(struct srv_ep_fail *f, enum srv_error_code code,
                                     const char *message, json_t *extra)
{
  f->set = 1;
  f->code = code;
  snprintf(f->message, sizeof f->message, "%s", message ? message : srv_error_info(code)->message);
  json_decref(f->extra); /* a body that fails twice keeps the last word */
  f->extra = extra;
  return SRV_DB_ABORT;
}

enum srv_db_status srv_ep_fail(struct srv_ep_fail *f, enum srv_error_code code, const char *message)
{
  return srv_ep_fail_extra(f, code, message, NULL);
}

enum MHD_Result srv_ep_db_error(struct srv_request *req, enum srv_db_status st)
{
  switch (st) {
    case SRV_DB_RETRY: return srv_reply_error(req, SRV_ERR_DB_CONFLICT, NULL);
    case SRV_DB_UNAVAILABLE: return srv_reply_error(req, SRV_ERR_DB_UNAVAILABLE, NULL);
    default: return srv_reply_error(req, SRV_ERR_INTERNAL, NULL);
  }
}

enum MHD_Result srv_ep_bad(struct srv_request *req, const char *what)
{
  return srv_reply_error(req, SRV_ERR_BAD_REQUEST, what);
}

/* The recorded failure as the error reply, with its extra members. */
static enum MHD_Result srv_ep_fail_reply(struct srv_request *req, struct srv_ep_fail *f)
{
  json_t *body = srv_error_json(f->code, f->message);
  json_t *err = body ? json_object_get(body, "error") : NULL;

  if (f->extra && err && json_object_update(err, f->extra) != 0) {
    json_decref(body);
    body = NULL;
  }
  json_decref(f->extra);
  f->extra = NULL;
  if (!body)
    return srv_reply_error(req, SRV_ERR_INTERNAL, NULL);
  return srv_reply_json(req, srv_error_info(f->code)->http_status, body);
}

enum MHD_Result srv_ep_txn_reply(struct srv_request *req, enum srv_db_status st,
                                 struct srv_ep_fail *f)
{
  enum MHD_Result ret;

  if (f && st == SRV_DB_ABORT && f->set)
    return srv_ep_fail_reply(req, f);
  if (f && st == SRV_DB_CONSTRAINT && f->constraint_message)
    ret = srv_reply_error(req, f->constraint_code, f->constraint_message);
  else
    ret = srv_ep_db_error(req, st);
  if (f) {
    json_decref(f->extra);
    f->extra = NULL;
  }
  return ret;
}

int srv_ep_txn(struct srv_request *req, enum srv_db_isolation iso, srv_db_txn_fn fn, void *cls,
               struct srv_ep_fail *f, enum MHD_Result *ret)
{
  enum srv_db_status st;

  if (f) {
    f->set = 0;
    f->extra = NULL;
  }
  st = srv_db_txn(iso, fn, cls);
  if (st == SRV_DB_OK) {
    if (f) { /* a failure recorded by an attempt that was then retried */
      json_decref(f->extra);
      f->extra = NULL;
    }
    return 0;
  }
  *ret = srv_ep_txn_reply(req, st, f);
  return 1;
}

struct srv_ep_list_q {
  enum srv_stmt stmt;
  const char *const *params;
  const struct srv_jcol *cols;
  json_t *list;
};

static enum srv_db_status srv_ep_list_txn(struct srv_db *db, void *cls)
{
  struct srv_ep_list_q *q = cls;
  return srv_db_rows_json(db, q->stmt, q->params, q->cols, &q->list);
}

enum MHD_Result srv_ep_list(struct srv_request *req, enum srv_stmt stmt, const char *const *params,
                            const struct srv_jcol *cols, const char *member)
{
  struct srv_ep_list_q q = {stmt, params, cols, NULL};
  enum MHD_Result ret;

  if (srv_ep_txn(req, SRV_DB_READ_ONLY, srv_ep_list_txn, &q, NULL, &ret)) {
    json_decref(q.list);
    return ret;
  }
  return srv_reply_json(req, MHD_HTTP_OK, json_pack("{s:o}", member, q.list));
}

/* ---- the request body ------------------------------------------------- */

int srv_ep_body_parse(struct srv_request *req, const struct ke_jspec *spec, void *out,
                      struct ke_jerr *err)
{
  const struct srv_route *route = srv_request_route(req);

  /* The route table names each route's spec so that the fuzz target
   * checks what the handlers run: a handler parsing with another spec is a
   * bug the first test of that route finds. */
  if (!route || route->body_spec != spec) {
    ke_logf(KE_LOG_ERROR, "route %s: the handler's body spec is not the route table's",
            route ? route->pattern : "?");
    memset(err, 0, sizeof *err);
    return -1;
  }
  return ke_json_spec_parse(srv_request_json(req), spec, out, err);
}

enum MHD_Result srv_ep_body_reply(struct srv_request *req, const struct ke_jerr *err)
{
  if (err->kind == KE_JE_NONE)
    return srv_reply_error(req, SRV_ERR_INTERNAL, NULL);
  return srv_reply_error(req,
                         err->field && err->field->code ? (enum srv_error_code)err->field->code
                                                        : SRV_ERR_BAD_REQUEST,
                         err->text);
}

int srv_ep_body(struct srv_request *req, const struct ke_jspec *spec, void *out,
                enum MHD_Result *ret)
{
  struct ke_jerr err;

  if (srv_ep_body_parse(req, spec, out, &err) == 0)
    return 0;
  *ret = srv_ep_body_reply(req, &err);
  return 1;
}

/* ---- the query string ------------------------------------------------- */

/* Decimal, no sign, no leading zeros: one spelling per number. */
static int srv_query_uint(const char *v, int64_t min, int64_t max, int64_t *out)
{
  size_t len = strlen(v);
  int64_t n = 0;

  if (len == 0 || len > 18 || (v[0] == '0' && len > 1))
    return -1;
  for (size_t i = 0; i < len; i++) {
    if (v[i] < '0' || v[i] > '9')
      return -1;
    n = n * 10 + (v[i] - '0');
  }
  if (n < min || n > max)
    return -1;
  *out = n;
  return 0;
}

static int srv_query_field(const struct srv_qfield *f, const char *v, void *dst)
{
  size_t n = strlen(v);

  switch (f->type) {
    case SRV_Q_BOOL:
      if (strcmp(v, "true") != 0 && strcmp(v, "false") != 0)
        return -1;
      *(int *)dst = v[0] == 't';
      return 0;
    case SRV_Q_UINT: return srv_query_uint(v, f->min, f->max, (int64_t *)dst);
    default:
      if (n < (size_t)f->min || n > (size_t)f->max || (f->check && !f->check(v)))
        return -1;
      *(const char **)dst = v;
      return 0;
  }
}

int srv_query_parse(const struct srv_qspec *spec, srv_query_lookup lookup, void *cls, void *out,
                    char *err, size_t errlen)
{
  memset(out, 0, spec->size);
  for (const struct srv_qfield *f = spec->fields; f->name; f++) {
    void *dst = (char *)out + f->offset;
    const char *v = lookup(cls, f->name);

    if (!v) {
      if (f->flags & SRV_Q_REQUIRED) {
        if (f->error)
          snprintf(err, errlen, "%s", f->error);
        else
          snprintf(err, errlen, "Missing query parameter '%s'", f->name);
        return -1;
      }
      if (f->type == SRV_Q_BOOL)
        *(int *)dst = f->def ? 1 : 0;
      else if (f->type == SRV_Q_UINT)
        *(int64_t *)dst = f->def;
      continue;
    }
    if (srv_query_field(f, v, dst) != 0) {
      if (f->error)
        snprintf(err, errlen, "%s", f->error);
      else
        snprintf(err, errlen, "query parameter '%s' is invalid", f->name);
      return -1;
    }
  }
  return 0;
}

static const char *srv_ep_query_lookup(void *cls, const char *name)
{
  return srv_request_query(cls, name);
}

int srv_ep_query(struct srv_request *req, const struct srv_qspec *spec, void *out,
                 enum MHD_Result *ret)
{
  const struct srv_route *route = srv_request_route(req);
  char err[240];

  if (!route || route->query_spec != spec) {
    ke_logf(KE_LOG_ERROR, "route %s: the handler's query spec is not the route table's",
            route ? route->pattern : "?");
    *ret = srv_reply_error(req, SRV_ERR_INTERNAL, NULL);
    return 1;
  }
  if (srv_query_parse(spec, srv_ep_query_lookup, req, out, err, sizeof err) == 0)
    return 0;
  *ret = srv_reply_error(req, SRV_ERR_BAD_REQUEST, err);
  return 1;
}

/* ---- shared value rules ------------------------------------------------ */

int srv_ascii_ok(const char *s, size_t max)
{
  size_t n = s ? strlen(s) : 0;

  if (n < 1 || n > max)
    return 0;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
      return 0;
  return 1;
}

int srv_text_ok(const char *s, size_t min, size_t max)
{
  size_t n = s ? strlen(s) : 0;

  if (!s || n < min || n > max)
    return 0;
  return n == 0 || ke_text_valid((const uint8_t *)s, n);
}

char *srv_like_prefix(const char *s)
{
  char *p = malloc(2 * strlen(s) + 2), *o = p;

  if (!p)
    return NULL;
  for (; *s; s++) {
    if (*s == '\\' || *s == '%' || *s == '_')
      *o++ = '\\';
    *o++ = *s;
  }
  *o++ = '%';
  *o = '\0';
  return p;
}
