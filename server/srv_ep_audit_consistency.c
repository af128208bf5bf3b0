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

enum MHD_Result srv_ep_audit_consistency(struct srv_request *req)
{
  static const srv_audit_proof_ep ep = {
    .q_first = "from", .q_size = "to", .strict = 0,
    .order_msg = "'from' must not exceed 'to'",
    .j_first = "from", .j_size = "to", .j_path = "consistency_path",
    .proof = srv_audit_consistency,
  };
  return srv_audit_reply_proof(req, &ep);
}
