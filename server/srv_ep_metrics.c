/*
 * srv_ep_metrics.c - GET /metrics: Prometheus text exposition format.
 *
 * The in-process series come from srv_metrics; the retrieval queue's depth
 * by age is read from the database at each scrape (one small query, so
 * every instance reports the same queue).  Without a database the other
 * series are still served.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "srv_db.h"
#include "srv_metrics.h"
#include "srv_routes.h"
#include "srv_rows.h"

struct srv_pending_ages {
  char text[640];
};

static enum srv_db_status srv_pending_ages_txn(struct srv_db *db, void *cls)
{
  static const char *const ages[] = {"0-5m", "5m-15m", "15m-1h", "1h-4h", "4h+"};
  struct srv_pending_ages *pa = cls;
  enum srv_db_status st;
  PGresult *r = srv_db_exec(db, SRV_STMT_RET_PENDING_AGES, NULL, &st);
  int n;

  if (!r)
    return st;
  n = snprintf(pa->text, sizeof pa->text,
               "# HELP escrowd_retrieval_pending_requests Retrieval requests waiting for "
               "parts, by age.\n# TYPE escrowd_retrieval_pending_requests gauge\n");
  for (int i = 0; i < 5 && n > 0 && (size_t)n < sizeof pa->text; i++)
    n += snprintf(pa->text + n, sizeof pa->text - (size_t)n,
                  "escrowd_retrieval_pending_requests{age=\"%s\"} %s\n", ages[i],
                  srv_row_text(r, ages[i]));
  if (n > 0 && (size_t)n < sizeof pa->text)
    snprintf(pa->text + n, sizeof pa->text - (size_t)n,
             "# HELP escrowd_retrieval_pending_oldest_seconds Age of the oldest waiting "
             "retrieval request (0: none).\n"
             "# TYPE escrowd_retrieval_pending_oldest_seconds gauge\n"
             "escrowd_retrieval_pending_oldest_seconds %s\n",
             srv_row_text(r, "oldest"));
  PQclear(r);
  return SRV_DB_OK;
}

enum MHD_Result srv_ep_metrics(struct srv_request *req)
{
  size_t len = 0;
  char *text = srv_metrics_render(&len), *all;
  struct srv_pending_ages pa = {""};
  enum MHD_Result ret;

  if (!text)
    return srv_reply_error(req, SRV_ERR_INTERNAL, NULL);
  if (srv_db_txn(SRV_DB_READ_COMMITTED, srv_pending_ages_txn, &pa) != SRV_DB_OK)
    pa.text[0] = '\0';
  if (!(all = realloc(text, len + strlen(pa.text) + 1))) {
    free(text);
    return srv_reply_error(req, SRV_ERR_INTERNAL, NULL);
  }
  memcpy(all + len, pa.text, strlen(pa.text) + 1);
  len += strlen(pa.text);
  ret = srv_reply_text(req, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", all, len);
  free(all);
  return ret;
}
