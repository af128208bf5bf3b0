/*
 * srv_ep_retrievals_parts.c - POST /v1/retrievals/{id}/parts (custodian).
 *
 * Body {"part": "<base64url of the 161-byte sealed part>"}.  The index is
 * the caller's own custodian index, never the client's word.  Refused: a
 * second part for the index (409), an expired request (410), a
 * custodian who is the requester or the same person (users.person) as the
 * requester (403).  The server cannot check the part's proof (it never
 * sees P_i): the requester does, and names a bad custodian.
 *
 * Disclosure happens here, at the T-th part: from then on the requester can
 * fetch T parts whenever they like, so the record is treated as disclosed
 * at once (the device is told to rotate at its next check-in) rather than
 * at the fetch, which the requester could postpone.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ke_crypto.h"
#include "ke_util.h"
#include "srv_account.h"
#include "srv_audit.h"
#include "srv_auth.h"
#include "srv_device.h"
#include "srv_ep.h"
#include "srv_longpoll.h"
#include "srv_metrics.h"
#include "srv_retrieval.h"
#include "srv_routes.h"

struct srv_rp {
  struct srv_request *req;
  const char *id;
  char part_hex[2 * KE_PART_LEN + 1], idx[8];
  struct srv_ep_fail fail;
  long long count, needed;
  int completed;
  double time_to_key; /* > 0 when this part completed the request */
};

static enum srv_db_status srv_rp_audit(struct srv_db *db, struct srv_rp *s, const char *action,
                                       const char *object, json_t *d)
{
  struct srv_audit_event ev = {action, object, "success", d, NULL};
  enum srv_db_status st = d ? srv_audit_append(db, s->req, &ev) : SRV_DB_ERROR;

  json_decref(d);
  return st;
}

/* The request is open and this custodian may add to it (not its
 * requester, under any account).  Fills the facts the rest needs. */
static enum srv_db_status srv_rp_check(struct srv_db *db, struct srv_rp *s, char rec[64],
                                       char dev[64], char vol[160], int *was_pending_out)
{
  const struct srv_principal *p = srv_request_principal(s->req);
  enum srv_db_status st;
  PGresult *r, *q;
  char state[16];

  if ((st = srv_ret_lock(db, s->req, s->id, state)) != SRV_DB_OK)
    return st;
  if (!state[0])
    return srv_ep_fail(&s->fail, SRV_ERR_NOT_FOUND, "No such retrieval request");
  if ((st = srv_ret_get(db, s->id, &r)) != SRV_DB_OK)
    return st;
  /* A completed request still takes parts until it expires: a bad part is
   * only found by the requester, who then needs one more custodian. */
  if (strcmp(PQgetvalue(r, 0, SRV_RC_STATE), "expired") == 0 ||
      strcmp(PQgetvalue(r, 0, SRV_RC_PAST_EXPIRY), "t") == 0) {
    PQclear(r);
    return srv_ep_fail(&s->fail, SRV_ERR_RETRIEVAL_CLOSED,
                       "The request has expired: it takes no more parts");
  }
  int was_pending = strcmp(PQgetvalue(r, 0, SRV_RC_STATE), "pending") == 0;
  if (srv_ret_is_requester(s->req, r)) {
    PQclear(r);
    return srv_ep_fail(&s->fail, SRV_ERR_FORBIDDEN, "You made this request: you may not approve it");
  }
  {
    const char *pid[1] = {p->id};
    if (!(q = srv_db_exec(db, SRV_STMT_RET_CUSTODIAN_PERSON, pid, &st))) {
      PQclear(r);
      return st;
    }
    int same = PQntuples(q) == 1 && !PQgetisnull(q, 0, 0) && !PQgetisnull(r, 0, SRV_RC_PERSON) &&
               strcmp(PQgetvalue(q, 0, 0), PQgetvalue(r, 0, SRV_RC_PERSON)) == 0;
    PQclear(q);
    if (same) {
      PQclear(r);
      return srv_ep_fail(&s->fail, SRV_ERR_FORBIDDEN,
                         "This custodian account belongs to the requester: it may not approve "
                         "the request");
    }
  }
  s->needed = strtoll(PQgetvalue(r, 0, SRV_RC_THRESHOLD), NULL, 10);
  snprintf(rec, 64, "%s", PQgetvalue(r, 0, SRV_RC_RECORD));
  snprintf(dev, 64, "%s", PQgetvalue(r, 0, SRV_RC_DEVICE));
  snprintf(vol, 160, "%s", PQgetvalue(r, 0, SRV_RC_VOLUME));
  PQclear(r);
  *was_pending_out = was_pending;
  return SRV_DB_OK;
}

/* The part that completed the request: its state, the disclosure of the
 * record, their audit events and hooks. */
static enum srv_db_status srv_rp_complete(struct srv_db *db, struct srv_rp *s, char *obj,
                                          size_t objlen, const char *rec, const char *dev,
                                          const char *vol)
{
  const char *p1[1] = {s->id};
  enum srv_db_status st;
  PGresult *r;

  if (!(r = srv_db_exec(db, SRV_STMT_RET_COMPLETE, p1, &st)))
    return st;
  s->time_to_key = PQntuples(r) == 1 ? strtod(PQgetvalue(r, 0, 0), NULL) : 0;
  PQclear(r);
  if ((st = srv_rp_audit(db, s, "retrieval.complete", obj,
                         json_pack("{s:s,s:I}", "record", rec, "parts", (json_int_t)s->count))))
    return st;
  {
    const char *pr[1] = {rec};
    if (!(r = srv_db_exec(db, SRV_STMT_RET_DISCLOSE, pr, &st)))
      return st;
    PQclear(r);
  }
  snprintf(obj, objlen, "record:%s", rec);
  if ((st = srv_rp_audit(db, s, "escrow.disclose", obj,
                         json_pack("{s:s,s:s,s:s}", "device", dev, "volume", vol, "retrieval",
                                   s->id))))
    return st;
  if ((st = srv_ret_hook(db, "request.completed", s->id, dev, vol, s->count, s->needed)) ||
      (st = srv_ret_hook(db, "key.disclosed", s->id, dev, vol, s->count, s->needed)))
    return st;
  s->completed = 1;
  return SRV_DB_OK;
}

static enum srv_db_status srv_rp_txn(struct srv_db *db, void *cls)
{
  struct srv_rp *s = cls;
  const struct srv_principal *p = srv_request_principal(s->req);
  const char *p1[1] = {s->id};
  enum srv_db_status st;
  PGresult *r;
  char obj[200], rec[64], dev[64], vol[160];
  int was_pending = 0;

  s->time_to_key = 0; /* a retried transaction starts over */
  s->completed = 0;
  if ((st = srv_rp_check(db, s, rec, dev, vol, &was_pending)) != SRV_DB_OK)
    return st;
  {
    const char *p4[4] = {s->id, s->idx, p->id, s->part_hex};
    if (!(r = srv_db_exec(db, SRV_STMT_RET_PART_INSERT, p4, &st)))
      return st;
    int dup = PQntuples(r) == 0;
    PQclear(r);
    if (dup)
      return srv_ep_fail(&s->fail, SRV_ERR_CONFLICT,
                         "A part of your custodian index is stored for this request already");
  }
  if (!(r = srv_db_exec(db, SRV_STMT_RET_COUNT, p1, &st)))
    return st;
  s->count = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
  PQclear(r);
  snprintf(obj, sizeof obj, "retrieval:%s", s->id);
  if ((st = srv_rp_audit(db, s, "retrieval.part", obj,
                         json_pack("{s:i,s:I,s:I}", "custodian_index", atoi(s->idx), "parts",
                                   (json_int_t)s->count, "needed", (json_int_t)s->needed))))
    return st;
  if ((st = srv_ret_hook(db, "part.added", s->id, dev, vol, s->count, s->needed)))
    return st;
  if (s->count < s->needed || !was_pending) {
    s->completed = !was_pending;
    return SRV_DB_OK;
  }
  return srv_rp_complete(db, s, obj, sizeof obj, rec, dev, vol);
}

enum MHD_Result srv_ep_retrievals_parts(struct srv_request *req)
{
  struct srv_rp s;
  const struct srv_principal *p = srv_request_principal(req);
  const char *b64 = srv_device_str(srv_request_json(req), "part");
  uint8_t part[KE_PART_LEN];
  enum srv_db_status st;

  memset(&s, 0, sizeof s);
  s.req = req;
  s.id = srv_request_param(req, "id");
  if (!srv_ret_id_ok(s.id))
    return srv_reply_error(req, SRV_ERR_NOT_FOUND, NULL);
  if (p->custodian_index < 1 || p->custodian_index > 255)
    return srv_reply_error(req, SRV_ERR_FORBIDDEN, "You hold no custodian index");
  /* Only the shape is checkable: magic, version and a valid Re. */
  if (!b64 || ke_b64url_decode_fixed(part, sizeof part, b64) != KE_OK || part[0] != 'K' ||
      part[1] != 'P' || part[2] != 1)
    return srv_ep_bad(req, "part: base64url of a 161-byte sealed part (KP 01 ...)");
  {
    ke_point Re;
    if (ke_point_parse(&Re, part + 3, KE_POINT_LEN) != KE_OK)
      return srv_ep_bad(req, "part: its Re is not a valid P-256 point");
  }
  ke_hex_encode(s.part_hex, part, sizeof part);
  snprintf(s.idx, sizeof s.idx, "%d", p->custodian_index);
  st = srv_db_txn(SRV_DB_SERIALIZABLE, srv_rp_txn, &s);
  if (st == SRV_DB_OK && s.time_to_key > 0)
    srv_metrics_time_to_key(s.time_to_key); /* committed: observed once */
  if (st != SRV_DB_OK)
    return srv_ep_txn_reply(req, st, &s.fail);
  srv_longpoll_notify(s.id);
  srv_longpoll_notify("retrievals");
  return srv_reply_json(req, MHD_HTTP_CREATED,
                        json_pack("{s:s,s:i,s:I,s:I,s:s}", "request_id", s.id, "custodian_index",
                                  p->custodian_index, "parts", (json_int_t)s.count, "needed",
                                  (json_int_t)s.needed, "state",
                                  s.completed ? "completed" : "pending"));
}
