/*
 * srv_ep_retrievals_declines.c - POST /v1/retrievals/{id}/declines
 * (custodian): {"rule": "<name>", "reason": "<text>"}.
 *
 * A custodian says no, and why: a policy custodian names the rule of its
 * policy that the request fails, a person may decline too.  A decline is
 * not a veto (other custodians may still contribute), it is information
 * for the requester, the other custodians and the auditors: the request's
 * view lists every decline, long-polls wake on one, and it is audited
 * (retrieval.decline).  One decline per custodian index and request: the
 * same decline again answers 200 with the stored one (a daemon retrying
 * after a lost answer), a different one 409.  An expired request takes
 * none (410).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ke_files.h"
#include "srv_audit.h"
#include "srv_auth.h"
#include "srv_ep.h"
#include "srv_longpoll.h"
#include "srv_retrieval.h"
#include "srv_routes.h"
#include "srv_rows.h"

#define SRV_DECLINE_REASON_MAX 500

static int srv_rd_rule_ok(const char *s)
{
  return s[0] >= 'a' && s[0] <= 'z' &&
         strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_.-") == strlen(s);
}

static int srv_rd_reason_ok(const char *s) { return ke_label_valid(s, SRV_DECLINE_REASON_MAX); }

struct srv_rd_body {
  const char *rule, *reason;
};
static const struct ke_jfield srv_rd_fields[] = {
  KE_JF_STR(struct srv_rd_body, rule, 1, 64, srv_rd_rule_ok,
            "rule: 1 to 64 characters a-z 0-9 _ . -, starting with a letter"),
  KE_JF_STR(struct srv_rd_body, reason, 1, SRV_DECLINE_REASON_MAX, srv_rd_reason_ok,
            "reason: 1 to 500 bytes of text without control characters"),
  KE_JF_END};
const struct ke_jspec srv_ep_retrievals_declines_body =
  KE_JSPEC(struct srv_rd_body, srv_rd_fields, 0);

struct srv_rd {
  struct srv_request *req;
  const char *id;
  struct srv_rd_body b;
  char idx[8];
  int created; /* 1: stored now; 0: the same decline was stored before */
  struct srv_ep_fail fail;
};

/* The stored decline of this index equals the one asked for (a repeat). */
static enum srv_db_status srv_rd_repeat(struct srv_db *db, struct srv_rd *s)
{
  const char *p2[2] = {s->id, s->idx};
  enum srv_db_status st;
  PGresult *r = srv_db_exec(db, SRV_STMT_RET_DECLINE_GET, p2, &st);
  int same;

  if (!r)
    return st;
  same = strcmp(srv_row_text(r, "rule") ?: "", s->b.rule) == 0 &&
         strcmp(srv_row_text(r, "reason") ?: "", s->b.reason) == 0;
  PQclear(r);
  return same ? SRV_DB_OK
              : srv_ep_fail(&s->fail, SRV_ERR_CONFLICT,
                            "Your custodian index declined this request already, otherwise");
}

static enum srv_db_status srv_rd_txn(struct srv_db *db, void *cls)
{
  struct srv_rd *s = cls;
  const struct srv_principal *p = srv_request_principal(s->req);
  const char *p5[5] = {s->id, s->idx, p->id, s->b.rule, s->b.reason};
  char dev[64], vol[160], state[16];
  enum srv_db_status st;
  PGresult *r;

  s->created = 0;
  if ((st = srv_ret_lock(db, s->req, s->id, state)) != SRV_DB_OK)
    return st;
  if (!state[0])
    return srv_ep_fail(&s->fail, SRV_ERR_NOT_FOUND, "No such retrieval request");
  if (strcmp(state, "expired") == 0)
    return srv_ep_fail(&s->fail, SRV_ERR_RETRIEVAL_CLOSED, "The request has expired");
  if (!(r = srv_db_exec(db, SRV_STMT_RET_DECLINE_INSERT, p5, &st)))
    return st;
  s->created = PQntuples(r) == 1;
  PQclear(r);
  if (!s->created)
    return srv_rd_repeat(db, s);
  if ((st = srv_ret_get(db, s->id, &r)) != SRV_DB_OK)
    return st;
  snprintf(dev, sizeof dev, "%s", srv_row_text(r, "device_id") ?: "");
  snprintf(vol, sizeof vol, "%s", srv_row_text(r, "volume_id") ?: "");
  PQclear(r);
  if ((st = srv_audit_success(db, s->req, "retrieval.decline", "retrieval", s->id,
                              json_pack("{s:i,s:s,s:s}", "custodian_index", atoi(s->idx), "rule",
                                        s->b.rule, "reason", s->b.reason))))
    return st;
  return srv_ret_hook(db, "request.declined", s->id, dev, vol, -1, 0);
}

enum MHD_Result srv_ep_retrievals_declines(struct srv_request *req)
{
  const struct srv_principal *p = srv_request_principal(req);
  struct srv_rd s = {.req = req, .id = srv_request_param(req, "id")};
  enum MHD_Result ret;

  if (!srv_ret_id_ok(s.id))
    return srv_reply_error(req, SRV_ERR_NOT_FOUND, NULL);
  if (p->custodian_index < 1 || p->custodian_index > 255)
    return srv_reply_error(req, SRV_ERR_FORBIDDEN, "You hold no custodian index");
  if (srv_ep_body(req, &srv_ep_retrievals_declines_body, &s.b, &ret))
    return ret;
  snprintf(s.idx, sizeof s.idx, "%d", p->custodian_index);
  if (srv_ep_txn(req, SRV_DB_SERIALIZABLE, srv_rd_txn, &s, &s.fail, &ret))
    return ret;
  if (s.created) {
    srv_longpoll_notify(s.id);
    srv_longpoll_notify("retrievals");
  }
  return srv_reply_json(req, s.created ? MHD_HTTP_CREATED : MHD_HTTP_OK,
                        json_pack("{s:s,s:i,s:s,s:s}", "request_id", s.id, "custodian_index",
                                  p->custodian_index, "rule", s.b.rule, "reason", s.b.reason));
}
