/*
 * srv_longpoll_pg.c - long-polls woken by changes made through any escrowd
 * instance (schema 009): one thread holds its own PostgreSQL connection,
 * LISTENs on keyescrow_longpoll and passes every notification's payload
 * (a retrieval id) to srv_longpoll_notify().
 *
 * Why a thread of its own: a LISTENing connection must stay outside the
 * request workers' transactions, and waiting on its socket costs nothing.
 * When PostgreSQL goes away the thread reconnects with a growing pause (at
 * most 10 s); notifications sent meanwhile are lost, which is why the
 * long-poll timer re-checks every waiter periodically while the connection
 * is down (srv_longpoll_listening), and why a reconnect wakes every waiter
 * once.
 */
#include "srv_longpoll.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "ke_log.h"
#include "srv_db.h"

#define SRV_LPG_CHANNEL "keyescrow_longpoll"
#define SRV_LPG_PAUSE_MAX_MS 10000

static struct {
  const struct srv_config *cfg;
  pthread_t thread;
  int running;
  int stop_pipe[2];
} lpg = {NULL, 0, 0, {-1, -1}};

/* Sleep up to ms, or less when asked to stop.  1 if asked to stop. */
static int srv_lpg_pause(int ms)
{
  struct pollfd p = {lpg.stop_pipe[0], POLLIN, 0};
  return poll(&p, 1, ms) > 0;
}

static PGconn *srv_lpg_connect(void)
{
  char err[256];
  PGconn *c =
    srv_db_connect(lpg.cfg->db_dsn, lpg.cfg->db_password_file, lpg.cfg->db_connect_timeout,
                   lpg.cfg->db_statement_timeout_ms, err, sizeof err);
  PGresult *r;

  if (!c) {
    ke_log(KE_LOG_WARN, "long-poll listener cannot connect; retrying",
           json_pack("{s:s}", "error", err));
    return NULL;
  }
  r = PQexec(c, "LISTEN " SRV_LPG_CHANNEL);
  if (PQresultStatus(r) != PGRES_COMMAND_OK) {
    ke_log(KE_LOG_WARN, "long-poll listener: LISTEN failed; retrying",
           json_pack("{s:s}", "error", PQerrorMessage(c)));
    PQclear(r);
    PQfinish(c);
    return NULL;
  }
  PQclear(r);
  return c;
}

static void *srv_lpg_thread(void *arg)
{
  PGconn *c = NULL;
  int pause = 250, was_up = 0;

  (void)arg;
  for (;;) {
    if (!c) {
      if (!(c = srv_lpg_connect())) {
        if (srv_lpg_pause(pause))
          break;
        pause = pause * 2 > SRV_LPG_PAUSE_MAX_MS ? SRV_LPG_PAUSE_MAX_MS : pause * 2;
        continue;
      }
      pause = 250;
      srv_longpoll_listening(1);
      if (was_up)
        srv_longpoll_notify_all(); /* whatever was sent while we were away */
      was_up = 1;
    }
    struct pollfd p[2] = {{PQsocket(c), POLLIN, 0}, {lpg.stop_pipe[0], POLLIN, 0}};
    int n = poll(p, 2, -1);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      ke_log(KE_LOG_ERROR, "long-poll listener: poll failed; re-checking periodically from now",
             json_pack("{s:s}", "error", strerror(errno)));
      break;
    }
    if (p[1].revents)
      break;
    if (!PQconsumeInput(c) || PQstatus(c) != CONNECTION_OK) {
      ke_log(KE_LOG_WARN, "long-poll listener lost its connection; reconnecting",
             json_pack("{s:s}", "error", PQerrorMessage(c)));
      srv_longpoll_listening(0);
      PQfinish(c);
      c = NULL;
      continue;
    }
    for (PGnotify *e; (e = PQnotifies(c)) != NULL; PQfreemem(e))
      if (e->extra && strlen(e->extra) < SRV_LONGPOLL_KEY_MAX)
        srv_longpoll_notify(e->extra);
  }
  srv_longpoll_listening(0);
  PQfinish(c);
  return NULL;
}

int srv_longpoll_pg_start(const struct srv_config *cfg)
{
  lpg.cfg = cfg;
  if (pipe(lpg.stop_pipe) != 0)
    return -1;
  if (pthread_create(&lpg.thread, NULL, srv_lpg_thread, NULL) != 0) {
    close(lpg.stop_pipe[0]);
    close(lpg.stop_pipe[1]);
    lpg.stop_pipe[0] = lpg.stop_pipe[1] = -1;
    return -1;
  }
  lpg.running = 1;
  return 0;
}

void srv_longpoll_pg_stop(void)
{
  if (!lpg.running)
    return;
  if (write(lpg.stop_pipe[1], "x", 1) != 1)
    ke_logf(KE_LOG_WARN, "long-poll listener: cannot signal the stop");
  pthread_join(lpg.thread, NULL);
  close(lpg.stop_pipe[0]);
  close(lpg.stop_pipe[1]);
  lpg.stop_pipe[0] = lpg.stop_pipe[1] = -1;
  lpg.running = 0;
}
