/*
 * GET /v1/audit/entries?start=S[&end=E] (auditor) - the leaves [S, E) of
 * the audit log, exactly the bytes that were hashed, in base64 (a leaf is
 * UTF-8 canonical JSON, but a tampered row need not be, and a verifier must
 * see what is stored).  E defaults to, and is capped at, S + 1000 and the
 * current tree size; S equal to the tree size gives an empty page.
 *
 *   {"start":S,"end":E',"tree_size":N,"entries":[{"index":S,"leaf":"<base64>"},...]}
 */
#include <stdio.h>
#include <stdlib.h>

#include "srv_audit_http.h"
#include "srv_ep.h"
#include "srv_routes.h"
#include "srv_rows.h"

struct srv_ep_entries {
  int64_t start, end;
  struct srv_audit_head head;
  json_t *entries;
  int beyond;
};

struct srv_ep_entry {
  int64_t seq;
  const char *leaf; /* bytea text: a tampered leaf need not be UTF-8 */
};
static const struct srv_col srv_ep_entry_cols[] = {
  SRV_COL_INT64(struct srv_ep_entry, seq), SRV_COL_TEXT(struct srv_ep_entry, leaf), SRV_COL_END};

static enum srv_db_status srv_ep_entries_body(struct srv_db *db, void *cls)
{
  struct srv_ep_entries *q = cls;
  char a[24], b[24];
  const char *params[2] = {a, b};
  enum srv_db_status st;
  PGresult *r;

  json_decref(q->entries);
  q->entries = NULL;
  if ((st = srv_audit_head_read(db, &q->head)) != SRV_DB_OK)
    return st;
  q->beyond = q->start > q->head.size;
  if (q->beyond)
    return SRV_DB_OK;
  if (q->end > q->head.size)
    q->end = q->head.size;
  if (!(q->entries = json_array()))
    return SRV_DB_ERROR;
  snprintf(a, sizeof a, "%lld", (long long)q->start);
  snprintf(b, sizeof b, "%lld", (long long)q->end);
  r = srv_db_exec(db, SRV_STMT_AUDIT_ENTRIES, params, &st);
  if (!r)
    return st;
  /* Rows are returned as stored, holes included: the verifier, not the
   * server, decides what is wrong, and names the index. */
  for (int i = 0; st == SRV_DB_OK && i < PQntuples(r); i++) {
    struct srv_ep_entry row;
    uint8_t *leaf;
    size_t len;
    json_t *e;
    if (srv_row_read(r, i, srv_ep_entry_cols, &row) != 0 ||
        srv_audit_bytea_parse(row.leaf, &leaf, &len) != 0) {
      st = SRV_DB_ERROR;
      break;
    }
    e = json_pack("{s:I,s:o}", "index", (json_int_t)row.seq, "leaf", srv_audit_b64_json(leaf, len));
    free(leaf);
    if (!e || json_array_append_new(q->entries, e) != 0)
      st = SRV_DB_ERROR;
  }
  PQclear(r);
  return st;
}

enum MHD_Result srv_ep_audit_entries(struct srv_request *req)
{
  struct srv_ep_entries q = {0, 0, {0, {0}}, NULL, 0};
  enum MHD_Result ret;
  int has_end;

  if (srv_audit_query_index(req, "start", 1, &q.start, &ret) < 0 ||
      (has_end = srv_audit_query_index(req, "end", 0, &q.end, &ret)) < 0)
    return ret;
  if (has_end && q.end <= q.start)
    return srv_reply_error(req, SRV_ERR_BAD_REQUEST, "'end' must be greater than 'start'");
  if (!has_end || q.end - q.start > SRV_AUDIT_PAGE_MAX)
    q.end = q.start + SRV_AUDIT_PAGE_MAX;
  if (srv_ep_txn(req, SRV_DB_READ_ONLY, srv_ep_entries_body, &q, NULL, &ret)) {
    json_decref(q.entries);
    return ret;
  }
  if (q.beyond)
    return srv_reply_error(req, SRV_ERR_BEYOND_TREE, NULL);
  return srv_reply_json(req, MHD_HTTP_OK,
                        json_pack("{s:I,s:I,s:I,s:o}", "start", (json_int_t)q.start, "end",
                                  (json_int_t)q.end, "tree_size", (json_int_t)q.head.size,
                                  "entries", q.entries));
}
