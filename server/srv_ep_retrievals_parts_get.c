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
#include "srv_account.h"
#include "srv_audit.h"
#include "srv_ep.h"
#include "srv_retrieval.h"
#include "srv_routes.h"

struct srv_rf {
  struct srv_request *req;
  const char *id;
  json_t *parts;
  int found;
};

static enum srv_db_status srv_rf_txn(struct srv_db *db, void *cls)
{
  struct srv_rf *s = cls;
  const char *p1[1] = {s->id};
  enum srv_db_status st;
  PGresult *r;
  char obj[64];

  json_decref(s->parts);
  s->parts = NULL;
  s->found = 0;
  if ((st = srv_ret_get(db, s->id, &r)) != SRV_DB_OK)
    return st;
  s->found = PQntuples(r) == 1 && srv_ret_is_requester(s->req, r);
  PQclear(r);
  if (!s->found)
    return SRV_DB_ABORT;
  if (!(r = srv_db_exec(db, SRV_STMT_RET_PARTS, p1, &st)))
    return st;
  if (!(s->parts = json_array())) {
    PQclear(r);
    return SRV_DB_ERROR;
  }
  for (int i = 0; i < PQntuples(r); i++) {
    uint8_t part[KE_PART_LEN];
    char *b64;
    if (ke_hex_decode(part, sizeof part, PQgetvalue(r, i, 1)) != KE_OK ||
        !(b64 = ke_b64url_encode(part, sizeof part))) {
      PQclear(r);
      return SRV_DB_ERROR;
    }
    json_array_append_new(s->parts, json_pack("{s:i,s:s}", "index",
                                              atoi(PQgetvalue(r, i, 0)), "part", b64));
    free(b64);
  }
  PQclear(r);
  snprintf(obj, sizeof obj, "retrieval:%s", s->id);
  {
    json_t *d = json_pack("{s:I}", "parts", (json_int_t)json_array_size(s->parts));
    struct srv_audit_event ev = {"retrieval.fetch", obj, "success", d, NULL};
    st = d ? srv_audit_append(db, s->req, &ev) : SRV_DB_ERROR;
    json_decref(d);
  }
  return st;
}

enum MHD_Result srv_ep_retrievals_parts_get(struct srv_request *req)
{
  struct srv_rf s = {req, srv_request_param(req, "id"), NULL, 0};
  enum srv_db_status st;

  if (!srv_ret_id_ok(s.id))
    return srv_reply_error(req, SRV_ERR_NOT_FOUND, NULL);
  st = srv_db_txn(SRV_DB_SERIALIZABLE, srv_rf_txn, &s);
  if (st == SRV_DB_ABORT)
    return srv_reply_error(req, SRV_ERR_NOT_FOUND, NULL);
  if (st != SRV_DB_OK) {
    json_decref(s.parts);
    return srv_ep_db_error(req, st);
  }
  return srv_reply_json(req, MHD_HTTP_OK,
                        json_pack("{s:s,s:o}", "request_id", s.id, "parts", s.parts));
}
