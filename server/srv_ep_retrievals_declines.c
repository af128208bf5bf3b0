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
#include "srv_account.h"
#include "srv_audit.h"
#include "srv_auth.h"
#include "srv_device.h"
#include "srv_ep.h"
#include "srv_longpoll.h"
#include "srv_retrieval.h"
#include "srv_routes.h"

#define SRV_DECLINE_REASON_MAX 500

struct srv_rd {
  struct srv_request *req;
  const char *id, *rule, *reason;
  char idx[8];
  int created; /* 1: stored now; 0: the same decline was stored before */
  enum srv_error_code err;
  char msg[160];
};

static enum srv_db_status srv_rd_fail(struct srv_rd *s, enum srv_error_code c, const char *m)
{
  s->err = c;
  snprintf(s->msg, sizeof s->msg, "%s", m);
  return SRV_DB_ABORT;
}

/* The stored decline of this index equals the one asked for (a repeat). */
static enum srv_db_status srv_rd_repeat(struct srv_db *db, struct srv_rd *s)
{
  const char *p2[2] = {s->id, s->idx};
  enum srv_db_status st;
  PGresult *r = srv_db_exec(db, SRV_STMT_RET_DECLINE_GET, p2, &st);
  int same;

  if (!r)
    return st;
  same = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), s->rule) == 0 &&
         strcmp(PQgetvalue(r, 0, 1), s->reason) == 0;
  PQclear(r);
  return same ? SRV_DB_OK
              : srv_rd_fail(s, SRV_ERR_CONFLICT,
                            "Your custodian index declined this request already, otherwise");
}

static enum srv_db_status srv_rd_txn(struct srv_db *db, void *cls)
{
  struct srv_rd *s = cls;
  const struct srv_principal *p = srv_request_principal(s->req);
  const char *p5[5] = {s->id, s->idx, p->id, s->rule, s->reason};
  char obj[64], dev[64], vol[160], state[16];
  enum srv_db_status st;
  struct srv_audit_event ev;
  PGresult *r;
  json_t *d;

  s->created = 0;
  if ((st = srv_ret_lock(db, s->req, s->id, state)) != SRV_DB_OK)
    return st;
  if (!state[0])
    return srv_rd_fail(s, SRV_ERR_NOT_FOUND, "No such retrieval request");
  if (strcmp(state, "expired") == 0)
    return srv_rd_fail(s, SRV_ERR_RETRIEVAL_CLOSED, "The request has expired");
  if (!(r = srv_db_exec(db, SRV_STMT_RET_DECLINE_INSERT, p5, &st)))
    return st;
  s->created = PQntuples(r) == 1;
  PQclear(r);
  if (!s->created)
    return srv_rd_repeat(db, s);
  if ((st = srv_ret_get(db, s->id, &r)) != SRV_DB_OK)
    return st;
  snprintf(dev, sizeof dev, "%s", PQgetvalue(r, 0, SRV_RC_DEVICE));
  snprintf(vol, sizeof vol, "%s", PQgetvalue(r, 0, SRV_RC_VOLUME));
  PQclear(r);
  snprintf(obj, sizeof obj, "retrieval:%s", s->id);
  if (!(d = json_pack("{s:i,s:s,s:s}", "custodian_index", atoi(s->idx), "rule", s->rule,
                      "reason", s->reason)))
    return SRV_DB_ERROR;
  ev = (struct srv_audit_event){"retrieval.decline", obj, "success", d, NULL};
  st = srv_audit_append(db, s->req, &ev);
  json_decref(d);
  if (st != SRV_DB_OK)
    return st;
  return srv_ret_hook(db, "request.declined", s->id, dev, vol, -1, 0);
}

static int srv_rd_rule_ok(const char *s)
{
  size_t n = s ? strlen(s) : 0;
  return n >= 1 && n <= 64 && s[0] >= 'a' && s[0] <= 'z' &&
         strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_.-") == n;
}

enum MHD_Result srv_ep_retrievals_declines(struct srv_request *req)
{
  static const char *const allowed[] = {"rule", "reason", NULL};
  const struct srv_principal *p = srv_request_principal(req);
  const json_t *body = srv_request_json(req);
  struct srv_rd s = {.req = req, .id = srv_request_param(req, "id")};
  enum MHD_Result ret;
  enum srv_db_status st;

  if (!srv_ret_id_ok(s.id))
    return srv_reply_error(req, SRV_ERR_NOT_FOUND, NULL);
  if (p->custodian_index < 1 || p->custodian_index > 255)
    return srv_reply_error(req, SRV_ERR_FORBIDDEN, "You hold no custodian index");
  if (srv_account_unknown_member(req, body, allowed, &ret))
    return ret;
  s.rule = srv_device_str(body, "rule");
  s.reason = srv_device_str(body, "reason");
  if (!srv_rd_rule_ok(s.rule))
    return srv_ep_bad(req, "rule: 1 to 64 characters a-z 0-9 _ . -, starting with a letter");
  if (!s.reason || !ke_label_valid(s.reason, SRV_DECLINE_REASON_MAX))
    return srv_ep_bad(req, "reason: 1 to 500 bytes of text without control characters");
  snprintf(s.idx, sizeof s.idx, "%d", p->custodian_index);
  st = srv_db_txn(SRV_DB_SERIALIZABLE, srv_rd_txn, &s);
  if (st == SRV_DB_ABORT)
    return srv_reply_error(req, s.err, s.msg);
  if (st != SRV_DB_OK)
    return srv_ep_db_error(req, st);
  if (s.created) {
    srv_longpoll_notify(s.id);
    srv_longpoll_notify("retrievals");
  }
  return srv_reply_json(req, s.created ? MHD_HTTP_CREATED : MHD_HTTP_OK,
                        json_pack("{s:s,s:i,s:s,s:s}", "request_id", s.id, "custodian_index",
                                  p->custodian_index, "rule", s.rule, "reason", s.reason));
}
