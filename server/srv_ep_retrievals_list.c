/*
 * srv_ep_retrievals_list.c - GET /v1/retrievals[?state=pending|completed|
 * expired][&limit=N][&wait=S&since=CURSOR]: the custodians' queue
 * (custodians and auditors see every request; helpdesk users their own).
 *
 * The answer carries a cursor that grows with every change to the queue
 * (RET_QUEUE_CURSOR).  With wait, the answer is held until the cursor
 * differs from since, or S seconds (at most 300) pass: a policy custodian
 * or a console hears of a new request, a part or a decline at once, with
 * the connection suspended meanwhile (srv_longpoll.h, key "retrievals").
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "srv_auth.h"
#include "srv_ep.h"
#include "srv_longpoll.h"
#include "srv_retrieval.h"
#include "srv_routes.h"
#include "srv_rows.h"

static int srv_rl_state_ok(const char *s)
{
  return strcmp(s, "pending") == 0 || strcmp(s, "completed") == 0 || strcmp(s, "expired") == 0;
}

struct srv_rl_query {
  const char *state;
  int64_t limit, wait, since;
};
static const struct srv_qfield srv_rl_query_fields[] = {
  SRV_QF_STR(struct srv_rl_query, state, 0, 16, srv_rl_state_ok,
             "state: pending, completed or expired"),
  SRV_QF_UINT(struct srv_rl_query, limit, 1, 1000, 100, "limit: 1 to 1000"),
  SRV_QF_UINT(struct srv_rl_query, wait, 0, SRV_RET_WAIT_MAX, 0, "wait: 0 to 300 seconds"),
  SRV_QF_UINT(struct srv_rl_query, since, 0, INT64_MAX, -1, "since: a cursor of an earlier answer"),
  SRV_QF_END};
const struct srv_qspec srv_ep_retrievals_list_query =
  SRV_QSPEC(struct srv_rl_query, srv_rl_query_fields);

static const struct srv_jcol srv_rl_cols[] = {
  {"request_id", "id", SRV_CT_TEXT, 0},
  SRV_JCOL("state", SRV_CT_TEXT),
  {"requester", "name", SRV_CT_TEXT, 0},
  SRV_JCOL("device_id", SRV_CT_TEXT),
  SRV_JCOL("hostname", SRV_CT_TEXT),
  SRV_JCOL("volume_id", SRV_CT_TEXT),
  SRV_JCOL("reason", SRV_CT_TEXT),
  SRV_JCOL("ticket", SRV_CT_TEXT),
  {"confirmation_code", "code", SRV_CT_TEXT, 0},
  {"needed", "threshold", SRV_CT_INT64, 0},
  SRV_JCOL("created", SRV_CT_TIME),
  SRV_JCOL("expires", SRV_CT_TIME),
  /* custodians: the indices that contributed, so that a custodian sees
   * at a glance which requests still wait for them */
  SRV_JCOL("parts", SRV_CT_INT64),
  SRV_JCOL("custodians", SRV_CT_JSON),
  SRV_JCOL_END};

/* The requester's key at a glance: which, since when, how many keys the
 * account has had (the full history: GET /v1/retrievals/{id}). */
static const struct srv_jcol srv_rl_key_cols[] = {{"fingerprint", "key_fpr", SRV_CT_TEXT, 0},
                                                  SRV_JCOL_NULL("registered", SRV_CT_TIME),
                                                  SRV_JCOL("keys", SRV_CT_INT64),
                                                  SRV_JCOL_END};

struct srv_rl {
  const char *state, *who, *scope;
  char limit[8];
  json_t *list;
  int64_t cursor;
};

static enum srv_db_status srv_rl_txn(struct srv_db *db, void *cls)
{
  struct srv_rl *s = cls;
  const char *p4[4] = {s->state, s->who, s->limit, s->scope};
  enum srv_db_status st;
  PGresult *r;

  json_decref(s->list);
  if (!(s->list = json_array()))
    return SRV_DB_ERROR;
  if (!(r = srv_db_exec(db, SRV_STMT_RET_QUEUE_CURSOR, NULL, &st)))
    return st;
  s->cursor = strtoll(srv_row_text(r, "cursor") ?: "0", NULL, 10);
  PQclear(r);
  if (!(r = srv_db_exec(db, SRV_STMT_RET_LIST, p4, &st)))
    return st;
  for (int i = 0; i < PQntuples(r); i++) {
    json_t *e = srv_row_json(r, i, srv_rl_cols);
    json_t *k = e ? srv_row_json(r, i, srv_rl_key_cols) : NULL;
    if (!k || json_object_set_new(e, "requester_key", k)) {
      json_decref(e);
      e = NULL;
    }
    if (!e || json_array_append_new(s->list, e)) {
      PQclear(r);
      return SRV_DB_ERROR;
    }
  }
  PQclear(r);
  return SRV_DB_OK;
}

enum MHD_Result srv_ep_retrievals_list(struct srv_request *req)
{
  struct srv_rl s = {0};
  struct srv_rl_query q;
  const struct srv_principal *p = srv_request_principal(req);
  int64_t since, deadline = 0;
  enum srv_db_status st;
  enum MHD_Result ret;

  if (srv_ep_query(req, &srv_ep_retrievals_list_query, &q, &ret))
    return ret;
  since = q.since;
  if (!srv_longpoll_resumed(req, &since, &deadline))
    deadline = srv_longpoll_deadline(q.wait);
  s.state = q.state;
  snprintf(s.limit, sizeof s.limit, "%lld", (long long)q.limit);
  s.who = p->role == SRV_ROLE_HELPDESK ? p->id : NULL;
  s.scope = srv_principal_scope(p);
  for (int tries = 0;; tries++) {
    uint64_t seq = srv_longpoll_seq();
    int sp;
    /* Expired requests are closed first, in their own transaction: the
     * read itself is then a snapshot that conflicts with nobody. */
    st = srv_ret_expire_due(req);
    if (st == SRV_DB_OK)
      st = srv_db_txn(SRV_DB_READ_ONLY, srv_rl_txn, &s);
    if (st != SRV_DB_OK) {
      json_decref(s.list);
      return srv_ep_db_error(req, st);
    }
    if (since < 0 || s.cursor != since || srv_longpoll_expired(deadline) ||
        srv_longpoll_stopping() || tries >= 3)
      break;
    json_decref(s.list);
    s.list = NULL;
    sp = srv_longpoll_suspend(req, "retrievals", since, deadline, seq);
    if (sp == 0)
      return MHD_YES;
    if (sp < 0)
      deadline = 0; /* cap reached: answer now */
  }
  return srv_reply_json(
    req, MHD_HTTP_OK, json_pack("{s:o,s:I}", "retrievals", s.list, "cursor", (json_int_t)s.cursor));
}
