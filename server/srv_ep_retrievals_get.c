/*
 * srv_ep_retrievals_get.c - GET /v1/retrievals/{id}[?wait=SECONDS&since=N]
 * (helpdesk: their own requests only; custodians and auditors: any).
 *
 * The status (state, parts so far / needed, which custodian indices
 * contributed) and the request file a custodian works from.  With wait,
 * the answer is held back until the part count differs from `since` (the
 * count the client knows; default the current one), the request closes, or
 * the time is up: the connection is suspended meanwhile (srv_longpoll.h),
 * holding no thread.  With declines=D, a decline count other than D (a
 * custodian said no) answers too.  Both counts are kept in the suspended
 * entry's one cursor: parts in the low 16 bits, declines + 1 above.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "srv_auth.h"
#include "srv_ep.h"
#include "srv_longpoll.h"
#include "srv_retrieval.h"
#include "srv_routes.h"
#include "srv_rows.h"

struct srv_rg {
  struct srv_request *req;
  const char *id;
  PGresult *r;
};

static enum srv_db_status srv_rg_txn(struct srv_db *db, void *cls)
{
  struct srv_rg *s = cls;

  enum srv_db_status st;

  PQclear(s->r);
  s->r = NULL;
  /* Outside the caller's scope there is no such request: s->r stays
   * NULL, a 404. */
  if (!srv_ret_in_scope(db, s->req, s->id, &st))
    return st;
  return srv_ret_get(db, s->id, &s->r);
}

/* since and declines: -1 when absent (the current count). */
struct srv_rg_query {
  int64_t wait, since, declines;
};
static const struct srv_qfield srv_rg_query_fields[] = {
  SRV_QF_UINT(struct srv_rg_query, wait, 0, SRV_RET_WAIT_MAX, 0, "wait: 0 to 300 seconds"),
  SRV_QF_UINT(struct srv_rg_query, since, 0, 255, -1, "since: a part count, 0 to 255"),
  SRV_QF_UINT(struct srv_rg_query, declines, 0, 255, -1, "declines: a decline count, 0 to 255"),
  SRV_QF_END};
const struct srv_qspec srv_ep_retrievals_get_query =
  SRV_QSPEC(struct srv_rg_query, srv_rg_query_fields);

/* RET_GET: what ends a wait. */
struct srv_rg_row {
  const char *state, *declines;
  int64_t nparts;
  int past_expiry;
};
static const struct srv_col srv_rg_row_cols[] = {
  SRV_COL_TEXT(struct srv_rg_row, state), SRV_COL_TEXT(struct srv_rg_row, declines),
  SRV_COL_INT64(struct srv_rg_row, nparts), SRV_COL_BOOL(struct srv_rg_row, past_expiry),
  SRV_COL_END};

/* The number of declines in the row's list. */
static int64_t srv_rg_declines(const struct srv_rg_row *w)
{
  json_t *a = json_loads(w->declines, 0, NULL);
  int64_t n = (int64_t)json_array_size(a);

  json_decref(a);
  return n;
}

enum MHD_Result srv_ep_retrievals_get(struct srv_request *req)
{
  struct srv_rg s = {req, srv_request_param(req, "id"), NULL};
  const struct srv_principal *p = srv_request_principal(req);
  int64_t since = -1, dsince = -1;
  int64_t deadline = 0;
  int resumed = srv_longpoll_resumed(req, &since, &deadline);
  enum srv_db_status st;
  enum MHD_Result ret;

  if (!srv_ret_id_ok(s.id))
    return srv_reply_error(req, SRV_ERR_NOT_FOUND, NULL);
  if (resumed) {
    dsince = (since >> 16) - 1;
    since &= 0xffff;
  } else {
    struct srv_rg_query q;
    if (srv_ep_query(req, &srv_ep_retrievals_get_query, &q, &ret))
      return ret;
    since = q.since;
    dsince = q.declines;
    deadline = srv_longpoll_deadline(q.wait);
    /* Expiry is noticed by whoever looks: a waiter must see it too. */
    if ((st = srv_ret_expire_due(req)) != SRV_DB_OK)
      return srv_ep_db_error(req, st);
  }
  for (int tries = 0;; tries++) {
    uint64_t seq = srv_longpoll_seq();
    struct srv_rg_row w;
    int sp;

    if ((st = srv_db_txn(SRV_DB_READ_ONLY, srv_rg_txn, &s)) != SRV_DB_OK)
      return srv_ep_db_error(req, st);
    if (!s.r || PQntuples(s.r) != 1 ||
        (p->role == SRV_ROLE_HELPDESK && !srv_ret_is_requester(req, s.r))) {
      PQclear(s.r);
      return srv_reply_error(req, SRV_ERR_NOT_FOUND, NULL);
    }
    if (srv_row_read(s.r, 0, srv_rg_row_cols, &w) != 0) {
      PQclear(s.r);
      return srv_reply_error(req, SRV_ERR_INTERNAL, NULL);
    }
    if (since < 0)
      since = w.nparts;
    /* A completed request still takes parts (a bad one may need a
     * replacement): only expiry ends the wait early. */
    if (w.nparts != since || (dsince >= 0 && srv_rg_declines(&w) != dsince) ||
        strcmp(w.state, "expired") == 0 || w.past_expiry || srv_longpoll_expired(deadline) ||
        srv_longpoll_stopping() || tries >= 3)
      break;
    PQclear(s.r);
    s.r = NULL;
    sp = srv_longpoll_suspend(req, s.id, since | ((dsince + 1) << 16), deadline, seq);
    if (sp == 0)
      return MHD_YES;
    if (sp < 0) {
      /* Cap reached: answer now with the current state. */
      deadline = 0;
    }
  }
  json_t *out = srv_ret_answer(s.r);
  PQclear(s.r);
  return out ? srv_reply_json(req, MHD_HTTP_OK, out) : srv_reply_error(req, SRV_ERR_INTERNAL, NULL);
}
