/*
 * srv_ep_audit_proofs.c - the RFC 9162 proofs of the audit log (public),
 * as standard base64 from the leaf (or the older tree) up:
 *
 *   GET /v1/audit/proof/inclusion?index=I&size=N
 *       PATH(I, D[N]): leaf I is in the tree of N leaves.  N may be any size
 *       up to the current tree (a client checks it against a checkpoint of
 *       size N it has verified).  400 bad_request unless 0 <= I < N.
 *       {"index":I,"tree_size":N,"inclusion_path":["<base64>",...]}
 *
 *   GET /v1/audit/proof/consistency?from=M&to=N
 *       PROOF(M, D[N]): the tree of N leaves extends the tree of M leaves;
 *       empty when M = 0 or M = N.  400 bad_request unless M <= N.
 *       {"from":M,"to":N,"consistency_path":["<base64>",...]}
 *
 * Both: 404 beyond_tree if N exceeds the log.
 */
#include "srv_audit_http.h"
#include "srv_routes.h"

static const srv_audit_proof_ep srv_proof_inclusion = {
  .q_first = "index",
  .q_size = "size",
  .strict = 1,
  .order_msg = "'index' must be smaller than 'size'",
  .j_first = "index",
  .j_size = "tree_size",
  .j_path = "inclusion_path",
  .proof = srv_audit_inclusion,
};

static const srv_audit_proof_ep srv_proof_consistency = {
  .q_first = "from",
  .q_size = "to",
  .strict = 0,
  .order_msg = "'from' must not exceed 'to'",
  .j_first = "from",
  .j_size = "to",
  .j_path = "consistency_path",
  .proof = srv_audit_consistency,
};

enum MHD_Result srv_ep_audit_inclusion(struct srv_request *req)
{
  return srv_audit_reply_proof(req, &srv_proof_inclusion);
}

enum MHD_Result srv_ep_audit_consistency(struct srv_request *req)
{
  return srv_audit_reply_proof(req, &srv_proof_consistency);
}
