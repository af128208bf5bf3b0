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

enum MHD_Result srv_ep_audit_inclusion(struct srv_request *req)
{
  static const srv_audit_proof_ep ep = {
    .q_first = "index", .q_size = "size", .strict = 1,
    .order_msg = "'index' must be smaller than 'size'",
    .j_first = "index", .j_size = "tree_size", .j_path = "inclusion_path",
    .proof = srv_audit_inclusion,
  };
  return srv_audit_reply_proof(req, &ep);
}
