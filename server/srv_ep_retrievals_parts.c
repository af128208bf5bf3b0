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
#include "srv_audit.h"
#include "srv_auth.h"
#include "srv_ep.h"
#include "srv_longpoll.h"
#include "srv_metrics.h"
#include "srv_retrieval.h"
#include "srv_routes.h"
#include "srv_rows.h"

#define SRV_RP_PART_MSG "part: base64url of a 161-byte sealed part (KP 01 ...)"

struct srv_rp_body {
  uint8_t part[KE_PART_LEN];
};
static const struct ke_jfield srv_rp_fields[] = {
  KE_JF_B64_FIXED(struct srv_rp_body, part, SRV_RP_PART_MSG), KE_JF_END};
const struct ke_jspec srv_ep_retrievals_parts_body = KE_JSPEC(struct srv_rp_body, srv_rp_fields, 0);

/* RET_GET: what a part is checked against. */
struct srv_rp_row {
  const char *state, *person, *record_id, *device_id, *volume_id;
  int past_expiry;
  int64_t threshold;
};
#define SRV_RP_COL(m) SRV_COL_TEXT(struct srv_rp_row, m)
static const struct srv_col srv_rp_row_cols[] = {SRV_RP_COL(state),
                                                 SRV_RP_COL(record_id),
                                                 SRV_RP_COL(device_id),
                                                 SRV_RP_COL(volume_id),
                                                 SRV_COL_TEXT_NULL(struct srv_rp_row, person),
                                                 SRV_COL_BOOL(struct srv_rp_row, past_expiry),
                                                 SRV_COL_INT64(struct srv_rp_row, threshold),
                                                 SRV_COL_END};

struct srv_rp {
  struct srv_request *req;
  const char *id;
  char part_hex[2 * KE_PART_LEN + 1], idx[8];
  struct srv_ep_fail fail;
  PGresult *r;         /* RET_GET, while the transaction runs */
  struct srv_rp_row w; /* read from r; w.threshold is the parts needed */
  long long count;
  int completed;
  double time_to_key; /* > 0 when this part completed the request */
};

/* The request is open and this custodian may add to it (not its
 * requester, under any account): SRV_DB_OK with s->r and s->w. */
static enum srv_db_status srv_rp_check(struct srv_db *db, struct srv_rp *s)
{
  const char *pid[1] = {srv_request_principal(s->req)->id};
  enum srv_db_status st;
  PGresult *q;
  char state[16];
  int same;

  if ((st = srv_ret_lock(db, s->req, s->id, state)) != SRV_DB_OK)
    return st;
  if (!state[0])
    return srv_ep_fail(&s->fail, SRV_ERR_NOT_FOUND, "No such retrieval request");
  if ((st = srv_ret_get(db, s->id, &s->r)) != SRV_DB_OK)
    return st;
  if (srv_row_read(s->r, 0, srv_rp_row_cols, &s->w) != 0)
    return SRV_DB_ERROR;
  /* A completed request still takes parts until it expires: a bad part is
   * only found by the requester, who then needs one more custodian. */
  if (strcmp(s->w.state, "expired") == 0 || s->w.past_expiry)
    return srv_ep_fail(&s->fail, SRV_ERR_RETRIEVAL_CLOSED,
                       "The request has expired: it takes no more parts");
  if (srv_ret_is_requester(s->req, s->r))
    return srv_ep_fail(&s->fail, SRV_ERR_FORBIDDEN,
                       "You made this request: you may not approve it");
  if (!(q = srv_db_exec(db, SRV_STMT_RET_CUSTODIAN_PERSON, pid, &st)))
    return st;
  same =
    srv_row_text(q, "person") && s->w.person && strcmp(srv_row_text(q, "person"), s->w.person) == 0;
  PQclear(q);
  return same ? srv_ep_fail(&s->fail, SRV_ERR_FORBIDDEN,
                            "This custodian account belongs to the requester: it may not "
                            "approve the request")
              : SRV_DB_OK;
}

/* The part that completed the request: its state, the disclosure of the
 * record, their audit events and hooks. */
static enum srv_db_status srv_rp_complete(struct srv_db *db, struct srv_rp *s)
{
  const char *p1[1] = {s->id}, *pr[1] = {s->w.record_id}, *dev = s->w.device_id,
             *vol = s->w.volume_id;
  enum srv_db_status st;
  PGresult *r;

  if (!(r = srv_db_exec(db, SRV_STMT_RET_COMPLETE, p1, &st)))
    return st;
  s->time_to_key = strtod(srv_row_text(r, "time_to_key") ?: "0", NULL);
  PQclear(r);
  if ((st =
         srv_audit_success(db, s->req, "retrieval.complete", "retrieval", s->id,
                           json_pack("{s:s,s:I}", "record", pr[0], "parts", (json_int_t)s->count))))
    return st;
  if (!(r = srv_db_exec(db, SRV_STMT_RET_DISCLOSE, pr, &st)))
    return st;
  PQclear(r);
  if ((st = srv_audit_success(
         db, s->req, "escrow.disclose", "record", pr[0],
         json_pack("{s:s,s:s,s:s}", "device", dev, "volume", vol, "retrieval", s->id))))
    return st;
  if ((st = srv_ret_hook(db, "request.completed", s->id, dev, vol, s->count, s->w.threshold)) ||
      (st = srv_ret_hook(db, "key.disclosed", s->id, dev, vol, s->count, s->w.threshold)))
    return st;
  s->completed = 1;
  return SRV_DB_OK;
}

static enum srv_db_status srv_rp_txn(struct srv_db *db, void *cls)
{
  struct srv_rp *s = cls;
  const char *p1[1] = {s->id};
  const char *p4[4] = {s->id, s->idx, srv_request_principal(s->req)->id, s->part_hex};
  enum srv_db_status st;
  PGresult *r;
  int was_pending, dup;

  s->time_to_key = 0; /* a retried transaction starts over */
  s->completed = 0;
  PQclear(s->r);
  s->r = NULL;
  if ((st = srv_rp_check(db, s)) != SRV_DB_OK)
    return st;
  was_pending = strcmp(s->w.state, "pending") == 0;
  if (!(r = srv_db_exec(db, SRV_STMT_RET_PART_INSERT, p4, &st)))
    return st;
  dup = PQntuples(r) == 0;
  PQclear(r);
  if (dup)
    return srv_ep_fail(&s->fail, SRV_ERR_CONFLICT,
                       "A part of your custodian index is stored for this request already");
  if (!(r = srv_db_exec(db, SRV_STMT_RET_COUNT, p1, &st)))
    return st;
  s->count = strtoll(srv_row_text(r, "count") ?: "0", NULL, 10);
  PQclear(r);
  if ((st =
         srv_audit_success(db, s->req, "retrieval.part", "retrieval", s->id,
                           json_pack("{s:i,s:I,s:I}", "custodian_index", atoi(s->idx), "parts",
                                     (json_int_t)s->count, "needed", (json_int_t)s->w.threshold))))
    return st;
  if ((st = srv_ret_hook(db, "part.added", s->id, s->w.device_id, s->w.volume_id, s->count,
                         s->w.threshold)))
    return st;
  if (s->count < s->w.threshold || !was_pending) {
    s->completed = !was_pending;
    return SRV_DB_OK;
  }
  return srv_rp_complete(db, s);
}

enum MHD_Result srv_ep_retrievals_parts(struct srv_request *req)
{
  struct srv_rp s = {.req = req, .id = srv_request_param(req, "id")};
  const struct srv_principal *p = srv_request_principal(req);
  struct srv_rp_body b;
  enum MHD_Result ret;
  enum srv_db_status st;
  ke_point Re;

  if (!srv_ret_id_ok(s.id))
    return srv_reply_error(req, SRV_ERR_NOT_FOUND, NULL);
  if (p->custodian_index < 1 || p->custodian_index > 255)
    return srv_reply_error(req, SRV_ERR_FORBIDDEN, "You hold no custodian index");
  if (srv_ep_body(req, &srv_ep_retrievals_parts_body, &b, &ret))
    return ret;
  /* Only the shape is checkable: magic, version and a valid Re. */
  if (b.part[0] != 'K' || b.part[1] != 'P' || b.part[2] != 1)
    return srv_ep_bad(req, SRV_RP_PART_MSG);
  if (ke_point_parse(&Re, b.part + 3, KE_POINT_LEN) != KE_OK)
    return srv_ep_bad(req, "part: its Re is not a valid P-256 point");
  ke_hex_encode(s.part_hex, b.part, sizeof b.part);
  snprintf(s.idx, sizeof s.idx, "%d", p->custodian_index);
  st = srv_db_txn(SRV_DB_SERIALIZABLE, srv_rp_txn, &s);
  PQclear(s.r);
  if (st == SRV_DB_OK && s.time_to_key > 0)
    srv_metrics_time_to_key(s.time_to_key); /* committed: observed once */
  if (st != SRV_DB_OK)
    return srv_ep_txn_reply(req, st, &s.fail);
  srv_longpoll_notify(s.id);
  srv_longpoll_notify("retrievals");
  return srv_reply_json(req, MHD_HTTP_CREATED,
                        json_pack("{s:s,s:i,s:I,s:I,s:s}", "request_id", s.id, "custodian_index",
                                  p->custodian_index, "parts", (json_int_t)s.count, "needed",
                                  (json_int_t)s.w.threshold, "state",
                                  s.completed ? "completed" : "pending"));
}
