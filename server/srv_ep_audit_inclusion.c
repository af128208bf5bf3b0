/*
 * GET /v1/audit/proof/inclusion?index=I&size=N (public) - RFC 9162
 * PATH(I, D[N]): the proof that leaf I is in the tree of N leaves, from the
 * leaf up, as standard base64.  N may be any size up to the current tree
 * (a client checks it against a checkpoint of size N it has verified).
 *
 *   {"index":I,"tree_size":N,"inclusion_path":["<base64>",...]}
 *
 * 400 bad_request unless 0 <= I < N; 404 beyond_tree if N exceeds the log.
 */
#include "srv_audit_http.h"
#include "srv_routes.h"

struct srv_ep_incl {
  int64_t index, size;
  int beyond;
  ke_merkle_path path;
};

static enum srv_db_status srv_ep_incl_body(struct srv_db *db, void *cls)
{
  struct srv_ep_incl *q = cls;
  struct srv_audit_head head;
  enum srv_db_status st = srv_audit_head_read(db, &head);

  if (st != SRV_DB_OK)
    return st;
  q->beyond = q->size > head.size;
  if (q->beyond)
    return SRV_DB_OK;
  return srv_audit_inclusion(db, (uint64_t)q->index, (uint64_t)q->size, &q->path);
}

enum MHD_Result srv_ep_audit_inclusion(struct srv_request *req)
{
  struct srv_ep_incl q;
  enum MHD_Result ret;
  enum srv_db_status st;
  json_t *path;

  q.beyond = 0;
  if (srv_audit_query_index(req, "index", 1, &q.index, &ret) < 0 ||
      srv_audit_query_index(req, "size", 1, &q.size, &ret) < 0)
    return ret;
  if (q.index >= q.size)
    return srv_reply_error(req, SRV_ERR_BAD_REQUEST, "'index' must be smaller than 'size'");
  st = srv_db_txn(SRV_DB_READ_ONLY, srv_ep_incl_body, &q);
  if (st != SRV_DB_OK)
    return srv_audit_reply_db(req, st);
  if (q.beyond)
    return srv_reply_error(req, SRV_ERR_BEYOND_TREE, NULL);
  path = srv_audit_path_json(&q.path);
  if (!path)
    return srv_reply_error(req, SRV_ERR_INTERNAL, NULL);
  return srv_reply_json(req, MHD_HTTP_OK,
                        json_pack("{s:I,s:I,s:o}", "index", (json_int_t)q.index, "tree_size",
                                  (json_int_t)q.size, "inclusion_path", path));
}
