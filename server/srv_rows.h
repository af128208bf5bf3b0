/*
 * srv_rows.h - typed rows: result columns read by name and type, and rows
 * as JSON for the list endpoints.
 *
 * A column is found with PQfnumber, so a statement's SELECT list can gain
 * or reorder columns without a reader silently taking the wrong one; the
 * names are the SQL output names (give expressions an AS).  Timestamps
 * arrive as RFC 3339 text from the SQL function ke_time() (schema 019).
 *
 *   struct tok { const char *id; int revoked; };
 *   static const struct srv_col tok_cols[] = {
 *     SRV_COL_TEXT(struct tok, id), SRV_COL_BOOL(struct tok, revoked), SRV_COL_END};
 *   if (srv_row_read(r, 0, tok_cols, &t) != 0) -> SRV_DB_ERROR (logged)
 *
 * A NULL in a column not marked nullable is an error: the schema says
 * NOT NULL, and reading "" instead would hide a broken row.
 */
#ifndef SRV_ROWS_H
#define SRV_ROWS_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "srv_db.h"

enum srv_ctype {
  SRV_CT_TEXT,  /* const char * into the result (valid until PQclear) */
  SRV_CT_BOOL,  /* int */
  SRV_CT_INT64, /* int64_t */
  SRV_CT_BYTEA, /* exactly `size` bytes into uint8_t[size] */
  SRV_CT_TIME,  /* RFC 3339 text (ke_time()), as TEXT */
  SRV_CT_JSON,  /* JSON text; in JSON output, the parsed value */
};

#define SRV_COL_NULLABLE 1u /* SQL NULL: TEXT/TIME NULL, numbers 0, JSON null */
#define SRV_COL_B64 2u      /* BYTEA in JSON output: base64url, not hex */

struct srv_col {
  const char *name; /* the SQL output column; NULL ends the table */
  enum srv_ctype type;
  unsigned flags;   /* SRV_COL_* */
  size_t offset;    /* of the value in the caller's struct */
  size_t size;      /* SRV_CT_BYTEA: bytes */
  const char *json; /* the member name in JSON output (NULL: `name`) */
};

#define SRV_COL_(T, m, ty, fl)              \
  {                                         \
#m, (ty), (fl), offsetof(T, m), 0, NULL \
  }
#define SRV_COL_TEXT(T, m) SRV_COL_(T, m, SRV_CT_TEXT, 0)
#define SRV_COL_TEXT_NULL(T, m) SRV_COL_(T, m, SRV_CT_TEXT, SRV_COL_NULLABLE)
#define SRV_COL_TIME(T, m) SRV_COL_(T, m, SRV_CT_TIME, 0)
#define SRV_COL_TIME_NULL(T, m) SRV_COL_(T, m, SRV_CT_TIME, SRV_COL_NULLABLE)
#define SRV_COL_BOOL(T, m) SRV_COL_(T, m, SRV_CT_BOOL, 0)
#define SRV_COL_INT64(T, m) SRV_COL_(T, m, SRV_CT_INT64, 0)
#define SRV_COL_INT64_NULL(T, m) SRV_COL_(T, m, SRV_CT_INT64, SRV_COL_NULLABLE)
#define SRV_COL_BYTEA(T, m)                                        \
  {                                                                \
#m, SRV_CT_BYTEA, 0, offsetof(T, m), sizeof(((T *)0)->m), NULL \
  }
#define SRV_COL_END                  \
  {                                  \
    NULL, SRV_CT_TEXT, 0, 0, 0, NULL \
  }

/* Columns straight to JSON, for list and detail answers (no struct):
 * {"json_name", "column", type, flags}. */
struct srv_jcol {
  const char *json; /* the member; NULL ends the table */
  const char *col;  /* the SQL output column (NULL: the same as json) */
  enum srv_ctype type;
  unsigned flags;
};
#define SRV_JCOL(name, ty) \
  {                        \
    name, NULL, (ty), 0    \
  }
#define SRV_JCOL_NULL(name, ty)        \
  {                                    \
    name, NULL, (ty), SRV_COL_NULLABLE \
  }
#define SRV_JCOL_END           \
  {                            \
    NULL, NULL, SRV_CT_TEXT, 0 \
  }

/* Read row `row` of `r` into `out` by `cols`.  0, or -1 (logged, naming
 * the column) when a column is missing, NULL but not nullable, or not of
 * its type. */
int srv_row_read(const PGresult *r, int row, const struct srv_col *cols, void *out);

/* Row `row` as a JSON object of `cols` (new reference), or NULL (logged). */
json_t *srv_row_json(const PGresult *r, int row, const struct srv_jcol *cols);
/* Every row as a JSON array of such objects, or NULL (logged). */
json_t *srv_rows_json(const PGresult *r, const struct srv_jcol *cols);
/* A list endpoint's query: run stmt and replace *list by its rows as
 * srv_rows_json makes them (SRV_DB_ERROR if that fails). */
enum srv_db_status srv_db_rows_json(struct srv_db *db, enum srv_stmt stmt,
                                    const char *const *params, const struct srv_jcol *cols,
                                    json_t **list);

/* "\\x<hex>" for a bytea parameter (out: 2 * len + 3 bytes). */
void srv_bytea_param(char *out, const uint8_t *in, size_t len);
/* Parse a bytea column of exactly `len` bytes.  0 on success. */
int srv_bytea_get(uint8_t *out, size_t len, const PGresult *r, int row, int col);

/* One text column of the first row by name (NULL when absent, NULL or no
 * row): for the single-value statements (counts, ids, RETURNING). */
const char *srv_row_text(const PGresult *r, const char *name);

#endif
