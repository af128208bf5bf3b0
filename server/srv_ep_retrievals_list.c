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

#include "srv_account.h"
#include "srv_auth.h"
#include "srv_device.h"
#include "srv_ep.h"
#include "srv_longpoll.h"
#include "srv_retrieval.h"
#include "srv_routes.h"

struct srv_rl {
  struct srv_request *req;
  const char *state, *who;
  char limit[8];
  json_t *list;
  int64_t cursor;
};

static enum srv_db_status srv_rl_txn(struct srv_db *db, void *cls)
{
  struct srv_rl *s = cls;
  const char *p3[3] = {s->state, s->who, s->limit};
  enum srv_db_status st;
  PGresult *r;

  json_decref(s->list);
  if (!(s->list = json_array()))
    return SRV_DB_ERROR;
  if (!(r = srv_db_exec(db, SRV_STMT_RET_QUEUE_CURSOR, NULL, &st)))
    return st;
  s->cursor = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
  PQclear(r);
  if (!(r = srv_db_exec(db, SRV_STMT_RET_LIST, p3, &st)))
    return st;
  for (int i = 0; i < PQntuples(r); i++) {
    /* the custodian indices that contributed: a custodian sees at a glance
     * which requests still wait for them */
    json_error_t jerr;
    json_t *idx = json_loads(PQgetvalue(r, i, 13), 0, &jerr);
    json_t *e = !idx ? NULL :
                json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:s,s:s,s:I,s:o}",
                          "request_id", PQgetvalue(r, i, 0), "state", PQgetvalue(r, i, 1),
                          "requester", PQgetvalue(r, i, 2), "device_id", PQgetvalue(r, i, 3),
                          "hostname", PQgetvalue(r, i, 4), "volume_id", PQgetvalue(r, i, 5),
                          "reason", PQgetvalue(r, i, 6), "ticket", PQgetvalue(r, i, 7),
                          "confirmation_code", PQgetvalue(r, i, 8), "needed",
                          (json_int_t)strtoll(PQgetvalue(r, i, 9), NULL, 10), "created",
                          PQgetvalue(r, i, 10), "expires", PQgetvalue(r, i, 11), "parts",
                          (json_int_t)strtoll(PQgetvalue(r, i, 12), NULL, 10),
                          "custodians", idx);
    /* The requester's key at a glance: which, since when, how many keys
     * the account has had (the full history: GET /v1/retrievals/{id}). */
    if (e && json_object_set_new(
                 e, "requester_key",
                 json_pack("{s:s,s:o,s:I}", "fingerprint", PQgetvalue(r, i, 14), "registered",
                           srv_account_col_str(r, i, 15), "keys",
                           (json_int_t)strtoll(PQgetvalue(r, i, 16), NULL, 10)))) {
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

/* A query number of at most `digits` digits: 1 and *out, or 0. */
static int srv_rl_number(const char *v, size_t digits, int64_t max, int64_t *out)
{
  size_t n = v ? strlen(v) : 0;

  if (n == 0 || n > digits || strspn(v, "0123456789") != n)
    return 0;
  *out = strtoll(v, NULL, 10);
  return *out <= max;
}

enum MHD_Result srv_ep_retrievals_list(struct srv_request *req)
{
  struct srv_rl s;
  const struct srv_principal *p = srv_request_principal(req);
  const char *lim = srv_request_query(req, "limit");
  int64_t n = 100, wait = 0, since = -1;
  int64_t deadline = 0;
  int resumed;
  enum srv_db_status st;

  memset(&s, 0, sizeof s);
  s.req = req;
  s.state = srv_request_query(req, "state");
  if (s.state && strcmp(s.state, "pending") != 0 && strcmp(s.state, "completed") != 0 &&
      strcmp(s.state, "expired") != 0)
    return srv_ep_bad(req, "state: pending, completed or expired");
  if (lim && (!srv_rl_number(lim, 4, 1000, &n) || n < 1))
    return srv_ep_bad(req, "limit: 1 to 1000");
  resumed = srv_longpoll_resumed(req, &since, &deadline);
  if (!resumed) {
    const char *w = srv_request_query(req, "wait"), *sc = srv_request_query(req, "since");
    if (w && !srv_rl_number(w, 3, SRV_RET_WAIT_MAX, &wait))
      return srv_ep_bad(req, "wait: 0 to 300 seconds");
    if (sc && !srv_rl_number(sc, 18, INT64_MAX, &since))
      return srv_ep_bad(req, "since: a cursor of an earlier answer");
    deadline = srv_longpoll_deadline(wait);
  }
  snprintf(s.limit, sizeof s.limit, "%lld", (long long)n);
  s.who = p->role == SRV_ROLE_HELPDESK ? p->id : NULL;
  for (int tries = 0;; tries++) {
    uint64_t seq = srv_longpoll_seq();
    int sp;
    /* Expired requests are closed first, in their own transaction: the
     * read itself is then a snapshot that conflicts with nobody. */
    st = srv_ret_expire_due(s.req);
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
  return srv_reply_json(req, MHD_HTTP_OK,
                        json_pack("{s:o,s:I}", "retrievals", s.list, "cursor", (json_int_t)s.cursor));
}
