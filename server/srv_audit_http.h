/*
 * srv_audit_http.h - helpers shared by the srv_ep_audit_*.c endpoints.
 */
#ifndef SRV_AUDIT_HTTP_H
#define SRV_AUDIT_HTTP_H

#include <jansson.h>
#include <stdint.h>

#include "srv_audit_int.h"
#include "srv_http.h"

/* Parse query parameter `name` as an index or size (strict decimal,
 * <= SRV_AUDIT_MAX_INDEX).  1 = parsed into *out; 0 = absent and not
 * required; -1 = a 400 bad_request was queued, its result in *ret. */
int srv_audit_query_index(struct srv_request *req, const char *name, int required, int64_t *out,
                          enum MHD_Result *ret);
/* Standard base64 with padding (as in checkpoints) as a JSON string. */
json_t *srv_audit_b64_json(const uint8_t *data, size_t len);
/* A proof as a JSON array of base64 hashes. */
json_t *srv_audit_path_json(const ke_merkle_path *path);

/* A proof endpoint (inclusion, consistency): two query indices, the
 * second a tree size no larger than the log, and a proof between them. */
typedef struct srv_audit_proof_ep {
  const char *q_first, *q_size;          /* query names ("index", "size") */
  int strict;                            /* first < size (else first <= size) */
  const char *order_msg;                 /* the 400 message when it is not */
  const char *j_first, *j_size, *j_path; /* the answer's member names */
  enum srv_db_status (*proof)(struct srv_db *db, uint64_t first, uint64_t size,
                              ke_merkle_path *out);
} srv_audit_proof_ep;
/* Parse, compute in a read-only transaction, and answer
 * {j_first:F, j_size:N, j_path:[base64...]}; 404 beyond_tree when N
 * exceeds the log. */
enum MHD_Result srv_audit_reply_proof(struct srv_request *req, const srv_audit_proof_ep *ep);

#endif
