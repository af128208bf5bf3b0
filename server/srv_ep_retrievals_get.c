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

#include "srv_account.h"
#include "srv_auth.h"
#include "srv_device.h"
#include "srv_ep.h"
#include "srv_longpoll.h"
#include "srv_retrieval.h"
#include "srv_routes.h"

struct srv_rg {
  struct srv_request *req;
  const char *id;
  PGresult *r;
};

static enum srv_db_status srv_rg_txn(struct srv_db *db, void *cls)
{
  struct srv_rg *s = cls;

  PQclear(s->r);
  s->r = NULL;
  return srv_ret_get(db, s->id, &s->r);
}

static int srv_rg_uint(const char *v, long max, long *out)
{
  char *end;
  size_t n = v ? strlen(v) : 0;

  if (n == 0 || n > 9 || strspn(v, "0123456789") != n)
    return 0;
  *out = strtol(v, &end, 10);
  return *out <= max;
}

/* The number of declines in the row's list. */
static int64_t srv_rg_declines(const PGresult *r)
{
  json_t *a = json_loads(PQgetvalue(r, 0, SRV_RC_DECLINES), 0, NULL);
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
  long wait = 0;
  enum srv_db_status st;

  if (!srv_ret_id_ok(s.id))
    return srv_reply_error(req, SRV_ERR_NOT_FOUND, NULL);
  if (resumed) {
    dsince = (since >> 16) - 1;
    since &= 0xffff;
  } else {
    const char *w = srv_request_query(req, "wait"), *sc = srv_request_query(req, "since");
    const char *dc = srv_request_query(req, "declines");
    long v;
    if (w && !srv_rg_uint(w, SRV_RET_WAIT_MAX, &wait))
      return srv_ep_bad(req, "wait: 0 to 300 seconds");
    if (sc) {
      if (!srv_rg_uint(sc, 255, &v))
        return srv_ep_bad(req, "since: a part count, 0 to 255");
      since = v;
    }
    if (dc) {
      if (!srv_rg_uint(dc, 255, &v))
        return srv_ep_bad(req, "declines: a decline count, 0 to 255");
      dsince = v;
    }
    deadline = srv_longpoll_deadline(wait);
    /* Expiry is noticed by whoever looks: a waiter must see it too. */
    if ((st = srv_ret_expire_due(req)) != SRV_DB_OK)
      return srv_ep_db_error(req, st);
  }
  for (int tries = 0;; tries++) {
    uint64_t seq = srv_longpoll_seq();
    int64_t n, nd;
    int sp;

    if ((st = srv_db_txn(SRV_DB_READ_ONLY, srv_rg_txn, &s)) != SRV_DB_OK)
      return srv_ep_db_error(req, st);
    if (PQntuples(s.r) != 1 ||
        (p->role == SRV_ROLE_HELPDESK && !srv_ret_is_requester(req, s.r))) {
      PQclear(s.r);
      return srv_reply_error(req, SRV_ERR_NOT_FOUND, NULL);
    }
    n = strtoll(PQgetvalue(s.r, 0, SRV_RC_NPARTS), NULL, 10);
    nd = srv_rg_declines(s.r);
    if (since < 0)
      since = n;
    /* A completed request still takes parts (a bad one may need a
     * replacement): only expiry ends the wait early. */
    if (n != since || (dsince >= 0 && nd != dsince) ||
        strcmp(PQgetvalue(s.r, 0, SRV_RC_STATE), "expired") == 0 ||
        strcmp(PQgetvalue(s.r, 0, SRV_RC_PAST_EXPIRY), "t") == 0 ||
        srv_longpoll_expired(deadline) || srv_longpoll_stopping() || tries >= 3)
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
  {
    json_t *view = srv_ret_view(s.r), *file = view ? srv_ret_request_file(s.r) : NULL;
    PQclear(s.r);
    if (!view || !file) {
      json_decref(view);
      json_decref(file);
      return srv_reply_error(req, SRV_ERR_INTERNAL, NULL);
    }
    return srv_reply_json(req, MHD_HTTP_OK,
                          json_pack("{s:o,s:o}", "retrieval", view, "request", file));
  }
}
