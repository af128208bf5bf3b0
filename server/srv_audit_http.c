/*
 * srv_audit_http.c - what the audit endpoints share: strict parsing of
 * their numeric query parameters, hashes as JSON, and the body of the two
 * proof endpoints.
 */
#include "srv_audit_http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ke_note.h"
#include "srv_ep.h"

int srv_audit_query_index(struct srv_request *req, const char *name, int required, int64_t *out,
                          enum MHD_Result *ret)
{
  const char *v = srv_request_query(req, name);
  char msg[160];
  int64_t n = 0;
  size_t len;

  if (!v) {
    if (!required)
      return 0;
    snprintf(msg, sizeof msg, "Missing query parameter '%s'", name);
    *ret = srv_reply_error(req, SRV_ERR_BAD_REQUEST, msg);
    return -1;
  }
  len = strlen(v);
  /* Decimal, no sign, no leading zeros, at most 2^53 - 1: one spelling per
   * number, and no integer the leaves could not hold. */
  if (len == 0 || len > 16 || (v[0] == '0' && len > 1))
    goto bad;
  for (size_t i = 0; i < len; i++) {
    if (v[i] < '0' || v[i] > '9')
      goto bad;
    n = n * 10 + (v[i] - '0');
  }
  if (n > SRV_AUDIT_MAX_INDEX)
    goto bad;
  *out = n;
  return 1;
bad:
  snprintf(msg, sizeof msg,
           "Query parameter '%s' must be a decimal integer in [0, 2^53-1] without leading zeros",
           name);
  *ret = srv_reply_error(req, SRV_ERR_BAD_REQUEST, msg);
  return -1;
}

json_t *srv_audit_b64_json(const uint8_t *data, size_t len)
{
  char *b = ke_note_b64_encode(data, len);
  json_t *s = b ? json_string(b) : NULL;

  free(b);
  return s;
}

json_t *srv_audit_path_json(const ke_merkle_path *path)
{
  json_t *a = json_array();

  for (size_t i = 0; a && i < path->len; i++) {
    json_t *h = srv_audit_b64_json(path->hash[i], KE_MERKLE_HASH_LEN);
    if (!h || json_array_append_new(a, h) != 0) {
      json_decref(a);
      return NULL;
    }
  }
  return a;
}

struct srv_audit_proof_q {
  const srv_audit_proof_ep *ep;
  int64_t first, size;
  int beyond;
  ke_merkle_path path;
};

static enum srv_db_status srv_audit_proof_body(struct srv_db *db, void *cls)
{
  struct srv_audit_proof_q *q = cls;
  struct srv_audit_head head;
  enum srv_db_status st = srv_audit_head_read(db, &head);

  if (st != SRV_DB_OK)
    return st;
  q->beyond = q->size > head.size;
  if (q->beyond)
    return SRV_DB_OK;
  return q->ep->proof(db, (uint64_t)q->first, (uint64_t)q->size, &q->path);
}

enum MHD_Result srv_audit_reply_proof(struct srv_request *req, const srv_audit_proof_ep *ep)
{
  struct srv_audit_proof_q q;
  enum MHD_Result ret;
  enum srv_db_status st;
  json_t *path;

  q.ep = ep;
  q.beyond = 0;
  if (srv_audit_query_index(req, ep->q_first, 1, &q.first, &ret) < 0 ||
      srv_audit_query_index(req, ep->q_size, 1, &q.size, &ret) < 0)
    return ret;
  if (ep->strict ? q.first >= q.size : q.first > q.size)
    return srv_reply_error(req, SRV_ERR_BAD_REQUEST, ep->order_msg);
  st = srv_db_txn(SRV_DB_READ_ONLY, srv_audit_proof_body, &q);
  if (st != SRV_DB_OK)
    return srv_ep_db_error(req, st);
  if (q.beyond)
    return srv_reply_error(req, SRV_ERR_BEYOND_TREE, NULL);
  path = srv_audit_path_json(&q.path);
  if (!path)
    return srv_reply_error(req, SRV_ERR_INTERNAL, NULL);
  return srv_reply_json(req, MHD_HTTP_OK,
                        json_pack("{s:I,s:I,s:o}", ep->j_first, (json_int_t)q.first, ep->j_size,
                                  (json_int_t)q.size, ep->j_path, path));
}
