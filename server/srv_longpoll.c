/*
 * srv_longpoll.c - suspended long-polls (see srv_longpoll.h).
 *
 * One mutex guards a flat table of entries; each is WAITING (its connection
 * suspended) or RESUMED (MHD_resume_connection called, the handler has not
 * run again yet).  A timer thread resumes waiters at their deadline and,
 * every re-check period while the LISTEN connection is down, all of them.  An entry is matched by the request pointer
 * AND its X-Request-Id: a connection that closed while resumed leaves a
 * stale entry whose pointer may be reused by a later request, and the id
 * tells them apart; stale entries are dropped after a minute.
 */
#include "srv_longpoll.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ke_log.h"

#define SRV_LP_RID_MAX 64
#define SRV_LP_STALE_S 60

enum srv_lp_state { SRV_LP_FREE = 0, SRV_LP_WAITING, SRV_LP_RESUMED };

struct srv_lp_entry {
  enum srv_lp_state state;
  struct srv_request *req;
  char rid[SRV_LP_RID_MAX];
  char key[SRV_LONGPOLL_KEY_MAX];
  int64_t since;
  int64_t deadline_ms; /* CLOCK_MONOTONIC milliseconds */
  time_t resumed_at;
};

static struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  pthread_t thread;
  int running, stopping;
  int listening; /* srv_longpoll_pg.c's LISTEN is up: no periodic re-check */
  struct srv_lp_entry *e;
  unsigned cap, size, waiting, recheck;
  uint64_t seq;
} lp;
static pthread_once_t srv_lp_once = PTHREAD_ONCE_INIT;

static void srv_lp_setup(void)
{
  pthread_condattr_t ca;

  pthread_mutex_init(&lp.mu, NULL);
  /* Deadlines are monotonic: a clock step must not end or stretch a wait. */
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&lp.cv, &ca);
  pthread_condattr_destroy(&ca);
}

static int64_t srv_lp_now_ms(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t srv_longpoll_deadline(long wait_s) { return srv_lp_now_ms() + (int64_t)wait_s * 1000; }

int srv_longpoll_expired(int64_t deadline_ms) { return srv_lp_now_ms() >= deadline_ms; }

/* Under lp.mu. */
static void srv_lp_resume(struct srv_lp_entry *e, time_t now)
{
  e->state = SRV_LP_RESUMED;
  e->resumed_at = now;
  lp.waiting--;
  MHD_resume_connection(srv_request_connection(e->req));
}

/* Sleeps until the soonest deadline (at most a second: stale entries and
 * the re-check are looked at on that beat), so that a wait ends on time and
 * never early: a wait of 1 s answers after 1 s, not at the next tick. */
static void *srv_lp_thread(void *arg)
{
  time_t last_recheck = time(NULL);

  (void)arg;
  pthread_mutex_lock(&lp.mu);
  while (!lp.stopping) {
    int64_t wake = srv_lp_now_ms() + 1000, now_ms;
    struct timespec ts;
    time_t now;
    int all;

    for (unsigned i = 0; i < lp.size; i++)
      if (lp.e[i].state == SRV_LP_WAITING && lp.e[i].deadline_ms < wake)
        wake = lp.e[i].deadline_ms;
    ts.tv_sec = (time_t)(wake / 1000);
    ts.tv_nsec = (long)(wake % 1000) * 1000000;
    pthread_cond_timedwait(&lp.cv, &lp.mu, &ts);
    now = time(NULL);
    now_ms = srv_lp_now_ms();
    /* The re-check stands in for notifications from other instances only
     * while the LISTEN connection that carries them is down. */
    all = lp.stopping || (!lp.listening && lp.recheck && now - last_recheck >= (time_t)lp.recheck);
    if (all)
      last_recheck = now;
    for (unsigned i = 0; i < lp.size; i++) {
      struct srv_lp_entry *e = &lp.e[i];
      if (e->state == SRV_LP_WAITING && (all || now_ms >= e->deadline_ms))
        srv_lp_resume(e, now);
      else if (e->state == SRV_LP_RESUMED && now - e->resumed_at > SRV_LP_STALE_S)
        e->state = SRV_LP_FREE;
    }
  }
  pthread_mutex_unlock(&lp.mu);
  return NULL;
}

int srv_longpoll_init(unsigned max_waiters, unsigned recheck_s)
{
  pthread_once(&srv_lp_once, srv_lp_setup);
  pthread_mutex_lock(&lp.mu);
  /* Room for the resumed entries of a full table as well. */
  lp.cap = max_waiters ? 2 * max_waiters : 2;
  lp.recheck = recheck_s;
  lp.stopping = 0;
  lp.e = calloc(lp.cap, sizeof *lp.e);
  lp.size = lp.waiting = 0;
  lp.cap = max_waiters;
  if (!lp.e || pthread_create(&lp.thread, NULL, srv_lp_thread, NULL) != 0) {
    free(lp.e);
    lp.e = NULL;
    pthread_mutex_unlock(&lp.mu);
    ke_log(KE_LOG_ERROR, "cannot start the long-poll timer", NULL);
    return -1;
  }
  lp.running = 1;
  pthread_mutex_unlock(&lp.mu);
  return 0;
}

void srv_longpoll_shutdown(void)
{
  pthread_once(&srv_lp_once, srv_lp_setup);
  pthread_mutex_lock(&lp.mu);
  if (!lp.running) {
    pthread_mutex_unlock(&lp.mu);
    return;
  }
  lp.stopping = 1;
  for (unsigned i = 0; i < lp.size; i++)
    if (lp.e[i].state == SRV_LP_WAITING)
      srv_lp_resume(&lp.e[i], time(NULL));
  pthread_cond_signal(&lp.cv);
  pthread_mutex_unlock(&lp.mu);
  pthread_join(lp.thread, NULL);
  pthread_mutex_lock(&lp.mu);
  lp.running = 0;
  pthread_mutex_unlock(&lp.mu);
  /* The table stays: resumed handlers still look themselves up in it. */
}

/* *seq (or *flag), a member of lp, read under its lock. */
static uint64_t srv_lp_read(const uint64_t *seq, const int *flag)
{
  uint64_t v;

  pthread_once(&srv_lp_once, srv_lp_setup);
  pthread_mutex_lock(&lp.mu);
  v = seq ? *seq : (uint64_t)*flag;
  pthread_mutex_unlock(&lp.mu);
  return v;
}

int srv_longpoll_stopping(void) { return (int)srv_lp_read(NULL, &lp.stopping); }

/* key NULL: every waiter. */
static void srv_lp_notify(const char *key)
{
  time_t now = time(NULL);

  pthread_once(&srv_lp_once, srv_lp_setup);

  pthread_mutex_lock(&lp.mu);
  lp.seq++;
  for (unsigned i = 0; i < lp.size; i++)
    if (lp.e[i].state == SRV_LP_WAITING && (!key || strcmp(lp.e[i].key, key) == 0))
      srv_lp_resume(&lp.e[i], now);
  pthread_mutex_unlock(&lp.mu);
}

void srv_longpoll_notify(const char *key)
{
  if (key)
    srv_lp_notify(key);
}

void srv_longpoll_notify_all(void) { srv_lp_notify(NULL); }

void srv_longpoll_listening(int on)
{
  pthread_once(&srv_lp_once, srv_lp_setup);
  pthread_mutex_lock(&lp.mu);
  lp.listening = on;
  pthread_mutex_unlock(&lp.mu);
}

uint64_t srv_longpoll_seq(void) { return srv_lp_read(&lp.seq, NULL); }

int srv_longpoll_resumed(struct srv_request *req, int64_t *since, int64_t *deadline)
{
  int found = 0;

  pthread_once(&srv_lp_once, srv_lp_setup);
  pthread_mutex_lock(&lp.mu);
  for (unsigned i = 0; i < lp.size; i++) {
    struct srv_lp_entry *e = &lp.e[i];
    if (e->state == SRV_LP_RESUMED && e->req == req && strcmp(e->rid, srv_request_id(req)) == 0) {
      *since = e->since;
      *deadline = e->deadline_ms;
      e->state = SRV_LP_FREE;
      found = 1;
      break;
    }
  }
  while (lp.size && lp.e[lp.size - 1].state == SRV_LP_FREE)
    lp.size--;
  pthread_mutex_unlock(&lp.mu);
  return found;
}

int srv_longpoll_suspend(struct srv_request *req, const char *key, int64_t since, int64_t deadline,
                         uint64_t seq)
{
  struct srv_lp_entry *e = NULL;
  int rc = -1;

  if (strlen(key) >= SRV_LONGPOLL_KEY_MAX || strlen(srv_request_id(req)) >= SRV_LP_RID_MAX)
    return -1;
  pthread_once(&srv_lp_once, srv_lp_setup);
  pthread_mutex_lock(&lp.mu);
  if (!lp.running || lp.stopping || lp.waiting >= lp.cap)
    goto out;
  if (lp.seq != seq) {
    rc = 1;
    goto out;
  }
  for (unsigned i = 0; i < lp.size && !e; i++)
    if (lp.e[i].state == SRV_LP_FREE)
      e = &lp.e[i];
  if (!e && lp.size < 2 * lp.cap)
    e = &lp.e[lp.size++];
  if (!e)
    goto out;
  e->state = SRV_LP_WAITING;
  e->req = req;
  strcpy(e->rid, srv_request_id(req));
  strcpy(e->key, key);
  e->since = since;
  e->deadline_ms = deadline;
  lp.waiting++;
  /* The timer may sleep past this deadline: let it look again. */
  pthread_cond_signal(&lp.cv);
  /* Suspended under the lock: a notify cannot resume it before it is. */
  MHD_suspend_connection(srv_request_connection(req));
  rc = 0;
out:
  pthread_mutex_unlock(&lp.mu);
  return rc;
}
