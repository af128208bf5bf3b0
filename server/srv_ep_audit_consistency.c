/*
 * GET /v1/audit/proof/consistency?from=M&to=N (public) - RFC 9162
 * PROOF(M, D[N]): the proof that the tree of N leaves extends the tree of
 * M leaves, as standard base64.  Empty when M = 0 or M = N.
 *
 *   {"from":M,"to":N,"consistency_path":["<base64>",...]}
 *
 * 400 bad_request unless M <= N; 404 beyond_tree if N exceeds the log.
 */
#include "srv_audit_http.h"
#include "srv_routes.h"

struct srv_ep_cons {
  int64_t from, to;
  int beyond;
  ke_merkle_path path;
};

static enum srv_db_status srv_ep_cons_body(struct srv_db *db, void *cls)
{
  struct srv_ep_cons *q = cls;
  struct srv_audit_head head;
  enum srv_db_status st = srv_audit_head_read(db, &head);

  if (st != SRV_DB_OK)
    return st;
  q->beyond = q->to > head.size;
  if (q->beyond)
    return SRV_DB_OK;
  return srv_audit_consistency(db, (uint64_t)q->from, (uint64_t)q->to, &q->path);
}

enum MHD_Result srv_ep_audit_consistency(struct srv_request *req)
{
  struct srv_ep_cons q;
  enum MHD_Result ret;
  enum srv_db_status st;
  json_t *path;

  q.beyond = 0;
  if (srv_audit_query_index(req, "from", 1, &q.from, &ret) < 0 ||
      srv_audit_query_index(req, "to", 1, &q.to, &ret) < 0)
    return ret;
  if (q.from > q.to)
    return srv_reply_error(req, SRV_ERR_BAD_REQUEST, "'from' must not exceed 'to'");
  st = srv_db_txn(SRV_DB_READ_ONLY, srv_ep_cons_body, &q);
  if (st != SRV_DB_OK)
    return srv_audit_reply_db(req, st);
  if (q.beyond)
    return srv_reply_error(req, SRV_ERR_BEYOND_TREE, NULL);
  path = srv_audit_path_json(&q.path);
  if (!path)
    return srv_reply_error(req, SRV_ERR_INTERNAL, NULL);
  return srv_reply_json(req, MHD_HTTP_OK,
                        json_pack("{s:I,s:I,s:o}", "from", (json_int_t)q.from, "to",
                                  (json_int_t)q.to, "consistency_path", path));
}
