/*
 * srv_rows.c - typed rows (srv_rows.h).
 */
#include "srv_rows.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ke_log.h"
#include "ke_util.h"

void srv_bytea_param(char *out, const uint8_t *in, size_t len)
{
  out[0] = '\\';
  out[1] = 'x';
  ke_hex_encode(out + 2, in, len);
}

static int srv_bytea_text(uint8_t *out, size_t len, const char *v)
{
  if (strncmp(v, "\\x", 2) != 0 || strlen(v + 2) != 2 * len)
    return -1;
  return ke_hex_decode(out, len, v + 2) == KE_OK ? 0 : -1;
}

int srv_bytea_get(uint8_t *out, size_t len, const PGresult *r, int row, int col)
{
  if (PQgetisnull(r, row, col))
    return -1;
  return srv_bytea_text(out, len, PQgetvalue(r, row, col));
}

const char *srv_row_text(const PGresult *r, const char *name)
{
  int c = PQfnumber(r, name);

  if (c < 0 || PQntuples(r) < 1 || PQgetisnull(r, 0, c))
    return NULL;
  return PQgetvalue(r, 0, c);
}

static int srv_col_int64(const char *v, int64_t *out)
{
  char *end;
  long long n;

  errno = 0;
  n = strtoll(v, &end, 10);
  if (errno || end == v || *end)
    return -1;
  *out = (int64_t)n;
  return 0;
}

/* Find the column and handle NULL: 1 = a value to read at *c, 0 = NULL
 * (allowed), -1 = an error, logged. */
static int srv_col_find(const PGresult *r, int row, const char *name, unsigned flags, int *c)
{
  *c = PQfnumber(r, name);
  if (*c < 0) {
    ke_logf(KE_LOG_ERROR, "result has no column \"%s\"", name);
    return -1;
  }
  if (!PQgetisnull(r, row, *c))
    return 1;
  if (flags & SRV_COL_NULLABLE)
    return 0;
  ke_logf(KE_LOG_ERROR, "column \"%s\" is NULL", name);
  return -1;
}

int srv_row_read(const PGresult *r, int row, const struct srv_col *cols, void *out)
{
  for (const struct srv_col *k = cols; k->name; k++) {
    void *dst = (char *)out + k->offset;
    const char *v;
    int c, have = srv_col_find(r, row, k->name, k->flags, &c);

    if (have < 0)
      return -1;
    v = have ? PQgetvalue(r, row, c) : NULL;
    switch (k->type) {
      case SRV_CT_BOOL: *(int *)dst = v && v[0] == 't'; break;
      case SRV_CT_INT64:
        *(int64_t *)dst = 0;
        if (v && srv_col_int64(v, dst) != 0)
          goto bad;
        break;
      case SRV_CT_BYTEA:
        if (!v || srv_bytea_text(dst, k->size, v) != 0)
          goto bad;
        break;
      default: /* TEXT, TIME, JSON: the text */ *(const char **)dst = v; break;
    }
    continue;
  bad:
    ke_logf(KE_LOG_ERROR, "column \"%s\" is not of its type", k->name);
    return -1;
  }
  return 0;
}

static json_t *srv_jcol_value(const struct srv_jcol *k, const char *v)
{
  int64_t n;

  switch (k->type) {
    case SRV_CT_BOOL: return json_boolean(v[0] == 't');
    case SRV_CT_INT64: return srv_col_int64(v, &n) == 0 ? json_integer((json_int_t)n) : NULL;
    case SRV_CT_JSON: return json_loads(v, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
    case SRV_CT_BYTEA: {
      uint8_t *b = NULL;
      size_t len = 0;
      json_t *j = NULL;
      char *s;
      if (strncmp(v, "\\x", 2) != 0 || ke_hex_decode_alloc(&b, &len, v + 2) != KE_OK)
        return NULL;
      if (k->flags & SRV_COL_B64) {
        if ((s = ke_b64url_encode(b, len)))
          j = json_string(s);
        free(s);
      } else {
        j = json_string(v + 2);
      }
      free(b);
      return j;
    }
    default: return json_string(v);
  }
}

/* The column numbers of `cols` in r, looked up once for all its rows:
 * PQfnumber per row and column was a third of a large list's cost.  0, or
 * -1 (logged) when one is missing or the table is too long. */
#define SRV_JCOLS_MAX 64
static int srv_jcols_find(const PGresult *r, const struct srv_jcol *cols, int idx[SRV_JCOLS_MAX])
{
  for (size_t i = 0; cols[i].json; i++) {
    const char *name = cols[i].col ? cols[i].col : cols[i].json;
    if (i == SRV_JCOLS_MAX) {
      ke_logf(KE_LOG_ERROR, "a column table of over %d columns", SRV_JCOLS_MAX);
      return -1;
    }
    if ((idx[i] = PQfnumber(r, name)) < 0) {
      ke_logf(KE_LOG_ERROR, "result has no column \"%s\"", name);
      return -1;
    }
  }
  return 0;
}

static json_t *srv_row_json_at(const PGresult *r, int row, const struct srv_jcol *cols,
                               const int idx[SRV_JCOLS_MAX])
{
  json_t *o = json_object();

  for (size_t i = 0; o && cols[i].json; i++) {
    const struct srv_jcol *k = &cols[i];
    const char *name = k->col ? k->col : k->json;
    int null = PQgetisnull(r, row, idx[i]);
    json_t *v = null ? (k->flags & SRV_COL_NULLABLE ? json_null() : NULL)
                     : srv_jcol_value(k, PQgetvalue(r, row, idx[i]));

    if (!v)
      ke_logf(KE_LOG_ERROR, null ? "column \"%s\" is NULL" : "column \"%s\" is not of its type",
              name);
    if (!v || json_object_set_new(o, k->json, v) != 0) {
      json_decref(o);
      o = NULL;
    }
  }
  return o;
}

json_t *srv_row_json(const PGresult *r, int row, const struct srv_jcol *cols)
{
  int idx[SRV_JCOLS_MAX];

  return srv_jcols_find(r, cols, idx) == 0 ? srv_row_json_at(r, row, cols, idx) : NULL;
}

json_t *srv_rows_json(const PGresult *r, const struct srv_jcol *cols)
{
  int idx[SRV_JCOLS_MAX];
  json_t *a = srv_jcols_find(r, cols, idx) == 0 ? json_array() : NULL;

  for (int i = 0; a && i < PQntuples(r); i++) {
    json_t *o = srv_row_json_at(r, i, cols, idx);
    if (!o || json_array_append_new(a, o) != 0) {
      json_decref(a);
      a = NULL;
    }
  }
  return a;
}

enum srv_db_status srv_db_rows_json(struct srv_db *db, enum srv_stmt stmt,
                                    const char *const *params, const struct srv_jcol *cols,
                                    json_t **list)
{
  enum srv_db_status st;
  PGresult *r = srv_db_exec(db, stmt, params, &st);

  if (!r)
    return st;
  json_decref(*list);
  *list = srv_rows_json(r, cols);
  PQclear(r);
  return *list ? SRV_DB_OK : SRV_DB_ERROR;
}
