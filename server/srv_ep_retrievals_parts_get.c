/*
 * srv_ep_retrievals_parts_get.c - GET /v1/retrievals/{id}/parts
 * (helpdesk): the sealed parts of the caller's own request, nobody else's.
 * They are sealed to the requester's one-time key E, so even this answer
 * is useless without e.  Each fetch is audited (retrieval.fetch).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ke_crypto.h"
#include "ke_util.h"
#include "srv_audit.h"
#include "srv_ep.h"
#include "srv_retrieval.h"
#include "srv_routes.h"
#include "srv_rows.h"

struct srv_rf_part {
  int64_t custodian_index;
  const char *part; /* hex */
};
static const struct srv_col srv_rf_part_cols[] = {
  SRV_COL_INT64(struct srv_rf_part, custodian_index), SRV_COL_TEXT(struct srv_rf_part, part),
  SRV_COL_END};

struct srv_rf {
  struct srv_request *req;
  const char *id;
  json_t *parts;
  struct srv_ep_fail fail;
};

static enum srv_db_status srv_rf_txn(struct srv_db *db, void *cls)
{
  struct srv_rf *s = cls;
  const char *p1[1] = {s->id};
  enum srv_db_status st;
  PGresult *r;
  int found;

  json_decref(s->parts);
  s->parts = NULL;
  /* A request for a device the caller's scope no longer covers gives no
   * parts, even to its requester. */
  if (!srv_ret_in_scope(db, s->req, s->id, &st))
    return st != SRV_DB_OK ? st : srv_ep_fail(&s->fail, SRV_ERR_NOT_FOUND, NULL);
  if ((st = srv_ret_get(db, s->id, &r)) != SRV_DB_OK)
    return st;
  found = PQntuples(r) == 1 && srv_ret_is_requester(s->req, r);
  PQclear(r);
  if (!found)
    return srv_ep_fail(&s->fail, SRV_ERR_NOT_FOUND, NULL);
  if (!(r = srv_db_exec(db, SRV_STMT_RET_PARTS, p1, &st)))
    return st;
  s->parts = json_array();
  for (int i = 0; s->parts && i < PQntuples(r); i++) {
    uint8_t part[KE_PART_LEN];
    struct srv_rf_part p;
    char *b64 = NULL;
    if (srv_row_read(r, i, srv_rf_part_cols, &p) != 0 ||
        ke_hex_decode(part, sizeof part, p.part) != KE_OK ||
        !(b64 = ke_b64url_encode(part, sizeof part)) ||
        json_array_append_new(
          s->parts, json_pack("{s:I,s:s}", "index", (json_int_t)p.custodian_index, "part", b64))) {
      json_decref(s->parts);
      s->parts = NULL;
    }
    free(b64);
  }
  PQclear(r);
  if (!s->parts)
    return SRV_DB_ERROR;
  return srv_audit_success(db, s->req, "retrieval.fetch", "retrieval", s->id,
                           json_pack("{s:I}", "parts", (json_int_t)json_array_size(s->parts)));
}

enum MHD_Result srv_ep_retrievals_parts_get(struct srv_request *req)
{
  struct srv_rf s = {.req = req, .id = srv_request_param(req, "id")};
  enum MHD_Result ret;

  if (!srv_ret_id_ok(s.id))
    return srv_reply_error(req, SRV_ERR_NOT_FOUND, NULL);
  if (srv_ep_txn(req, SRV_DB_SERIALIZABLE, srv_rf_txn, &s, &s.fail, &ret)) {
    json_decref(s.parts);
    return ret;
  }
  return srv_reply_json(req, MHD_HTTP_OK,
                        json_pack("{s:s,s:o}", "request_id", s.id, "parts", s.parts));
}
