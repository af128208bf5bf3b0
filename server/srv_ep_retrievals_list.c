/*
 * srv_ep_retrievals_list.c - GET /v1/retrievals[?state=pending|completed|
 * expired][&limit=N]: the custodians' queue (custodians and auditors see
 * every request; helpdesk users their own).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "srv_account.h"
#include "srv_auth.h"
#include "srv_device.h"
#include "srv_retrieval.h"
#include "srv_routes.h"

struct srv_rl {
  struct srv_request *req;
  const char *state, *who;
  char limit[8];
  json_t *list;
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
  if ((st = srv_ret_expire(db, s->req)) != SRV_DB_OK)
    return st;
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

enum MHD_Result srv_ep_retrievals_list(struct srv_request *req)
{
  struct srv_rl s;
  const struct srv_principal *p = srv_request_principal(req);
  const char *lim = srv_request_query(req, "limit");
  unsigned long n = 100;
  enum srv_db_status st;

  memset(&s, 0, sizeof s);
  s.req = req;
  s.state = srv_request_query(req, "state");
  if (s.state && strcmp(s.state, "pending") != 0 && strcmp(s.state, "completed") != 0 &&
      strcmp(s.state, "expired") != 0)
    return srv_device_bad(req, "state: pending, completed or expired");
  if (lim) {
    size_t ll = strlen(lim);
    n = strtoul(lim, NULL, 10);
    if (ll == 0 || ll > 4 || strspn(lim, "0123456789") != ll || n < 1 || n > 1000)
      return srv_device_bad(req, "limit: 1 to 1000");
  }
  snprintf(s.limit, sizeof s.limit, "%lu", n);
  s.who = p->role == SRV_ROLE_HELPDESK ? p->id : NULL;
  /* SERIALIZABLE: it may close expired requests on the way. */
  st = srv_db_txn(SRV_DB_SERIALIZABLE, srv_rl_txn, &s);
  if (st != SRV_DB_OK) {
    json_decref(s.list);
    return srv_account_db_error(req, st);
  }
  return srv_reply_json(req, MHD_HTTP_OK, json_pack("{s:o}", "retrievals", s.list));
}
