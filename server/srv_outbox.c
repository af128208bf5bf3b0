/*
 * srv_outbox.c - the outboxes' worker and outcome (srv_outbox.h).
 */
#include "srv_outbox.h"

#include <stdio.h>
#include <time.h>

#include "ke_log.h"

struct srv_outbox_result {
  const struct srv_outbox *ob;
  const char *id;
  int ok, give_up;
  char delay[16];
  const char *err;
};

static enum srv_db_status srv_outbox_result_txn(struct srv_db *db, void *cls)
{
  struct srv_outbox_result *res = cls;
  enum srv_db_status st;
  PGresult *r;

  if (res->ok) {
    const char *p[1] = {res->id};
    r = srv_db_exec(db, res->ob->done, p, &st);
  } else {
    const char *p[4] = {res->id, res->delay, res->err, res->give_up ? "t" : "f"};
    r = srv_db_exec(db, res->ob->retry, p, &st);
  }
  PQclear(r);
  return r ? SRV_DB_OK : st;
}

void srv_outbox_record(const struct srv_outbox *ob, const char *id, const char *kind, int attempts,
                       int ok, const char *err)
{
  int a = attempts + 1;
  struct srv_outbox_result res = {ob, id, ok, !ok && a >= SRV_OUTBOX_ATTEMPTS, "", err ? err : ""};
  char msg[80];

  snprintf(res.delay, sizeof res.delay, "%d", a >= 12 ? 3600 : (1 << a) > 3600 ? 3600 : 1 << a);
  if (!ok) {
    snprintf(msg, sizeof msg, "%s failed%s", ob->what, res.give_up ? " for good" : "");
    ke_log(
      res.give_up ? KE_LOG_ERROR : KE_LOG_WARN, msg,
      json_pack("{s:s,s:s,s:s,s:i}", "delivery", id, "kind", kind, "error", res.err, "attempt", a));
  }
  if (srv_db_txn(SRV_DB_READ_COMMITTED, srv_outbox_result_txn, &res) != SRV_DB_OK) {
    snprintf(msg, sizeof msg, "%s state not saved (it will be sent again)", ob->what);
    ke_log(KE_LOG_WARN, msg, json_pack("{s:s}", "delivery", id));
  }
}

static void *srv_outbox_thread(void *arg)
{
  struct srv_outbox *ob = arg;

  pthread_mutex_lock(&ob->mu);
  while (!ob->stop) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 1;
    pthread_cond_timedwait(&ob->cv, &ob->mu, &ts);
    if (ob->stop)
      break;
    pthread_mutex_unlock(&ob->mu);
    ob->tick();
    pthread_mutex_lock(&ob->mu);
  }
  pthread_mutex_unlock(&ob->mu);
  return NULL;
}

int srv_outbox_start(struct srv_outbox *ob)
{
  ob->stop = 0;
  if (pthread_create(&ob->thread, NULL, srv_outbox_thread, ob) != 0) {
    ke_log(KE_LOG_ERROR, "cannot start an outbox worker", json_pack("{s:s}", "outbox", ob->what));
    return -1;
  }
  ob->running = 1;
  return 0;
}

void srv_outbox_stop(struct srv_outbox *ob)
{
  if (!ob->running)
    return;
  pthread_mutex_lock(&ob->mu);
  ob->stop = 1;
  pthread_cond_signal(&ob->cv);
  pthread_mutex_unlock(&ob->mu);
  pthread_join(ob->thread, NULL);
  ob->running = 0;
}
