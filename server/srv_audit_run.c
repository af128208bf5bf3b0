/*
 * srv_audit_run.c - the audit log's life in `escrowd serve`: the log key,
 * the background sequencer thread, and the server.start/server.stop events.
 *
 * The sequencer thread gives a leaf index to every committed queued event:
 * every audit_sequence_interval_ms for events nobody waits for
 * (srv_audit_record, an instance that died right after commit), and at
 * once for requests that wait for their index (srv_audit_sequence_mine).
 * Those are group-committed: each takes a ticket after its commit and
 * sleeps; one pass of the thread then sequences all their events in one
 * batch, and wakes them.  So within an instance one pass at a time runs
 * under the head-row lock, however many requests wait, and between
 * instances the lock in keyescrow_audit_move() makes the passes take turns.
 */
#include "srv_audit.h"
#include "srv_audit_int.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ke_log.h"
#include "srv_rows.h"

struct srv_audit_waiter {
  int64_t queue_id, seq;
  int found;
  struct srv_audit_waiter *next;
};

static struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;   /* wakes the sequencer thread */
  pthread_cond_t done; /* wakes requests waiting for a sequencing pass */
  pthread_t thread;
  int running, stop, kicked;
  /* Group commit: a request takes ticket ++requested after its commit and
   * waits until a pass that started after that (passed >= ticket) is over;
   * that pass saw its event committed, so it is sequenced now. */
  uint64_t requested, passed;
  struct srv_audit_waiter *waiters; /* their events' indices, as passes find them */
  unsigned interval_ms;
  ke_note_key *key;
} srv_aud = {.mu = PTHREAD_MUTEX_INITIALIZER,
             .cv = PTHREAD_COND_INITIALIZER,
             .done = PTHREAD_COND_INITIALIZER};

/* How long a request waits for the thread before sequencing itself. */
#define SRV_AUDIT_WAIT_MS 5000

/* Only bench/audit's daemon ever clears it: escrowd has no way to. */
static int srv_audit_on = 1;

int srv_audit_enabled(void) { return srv_audit_on; }
void srv_audit_bench_disable(void) { srv_audit_on = 0; }
const ke_note_key *srv_audit_key(void) { return srv_aud.key; }

void srv_audit_kick(void)
{
  pthread_mutex_lock(&srv_aud.mu);
  srv_aud.kicked = 1;
  pthread_cond_signal(&srv_aud.cv);
  pthread_mutex_unlock(&srv_aud.mu);
}

void srv_audit_sequenced(int64_t first, int64_t count) { srv_audit_syslog_range(first, count); }

struct srv_audit_batch {
  int64_t first, moved;
  int64_t *ids; /* ascending; ids[i] got index first + i */
};

/* "{1,2,3}" -> b->ids (moved entries). */
static int srv_audit_parse_ids(struct srv_audit_batch *b, const char *text)
{
  const char *p = text;
  int64_t n = 0;

  if (*p++ != '{')
    return -1;
  b->ids = b->moved ? malloc((size_t)b->moved * sizeof *b->ids) : NULL;
  if (b->moved && !b->ids)
    return -1;
  while (*p && *p != '}') {
    char *end;
    long long v = strtoll(p, &end, 10);
    if (end == p || n >= b->moved || (n && v <= b->ids[n - 1]))
      return -1;
    b->ids[n++] = v;
    p = *end == ',' ? end + 1 : end;
  }
  return *p == '}' && n == b->moved ? 0 : -1;
}

struct srv_audit_seq_row {
  int64_t first_seq, moved;
  const char *ids;
};
static const struct srv_col srv_audit_seq_cols[] = {
  SRV_COL_INT64(struct srv_audit_seq_row, first_seq),
  SRV_COL_INT64(struct srv_audit_seq_row, moved), SRV_COL_TEXT(struct srv_audit_seq_row, ids),
  SRV_COL_END};

static enum srv_db_status srv_audit_batch_body(struct srv_db *db, void *cls)
{
  struct srv_audit_batch *b = cls;
  char max[16];
  const char *params[1] = {max};
  enum srv_db_status st;
  struct srv_audit_seq_row row;
  PGresult *r;

  free(b->ids);
  b->ids = NULL;
  snprintf(max, sizeof max, "%d", SRV_AUDIT_BATCH);
  r = srv_db_exec(db, SRV_STMT_AUDIT_SEQUENCE, params, &st);
  if (!r)
    return st;
  if (PQntuples(r) != 1 || srv_row_read(r, 0, srv_audit_seq_cols, &row) != 0) {
    PQclear(r);
    return SRV_DB_ERROR;
  }
  b->first = row.first_seq;
  b->moved = row.moved;
  st = b->moved < 0 || srv_audit_parse_ids(b, row.ids) != 0 ? SRV_DB_ERROR : SRV_DB_OK;
  PQclear(r);
  return st;
}

/* Tell the requests waiting for their index what this batch gave them. */
static void srv_audit_resolve(const struct srv_audit_batch *b)
{
  int any = 0;

  pthread_mutex_lock(&srv_aud.mu);
  for (struct srv_audit_waiter *w = srv_aud.waiters; w; w = w->next) {
    int64_t lo = 0, hi = b->moved;
    while (!w->found && lo < hi) {
      int64_t mid = lo + (hi - lo) / 2;
      if (b->ids[mid] == w->queue_id) {
        w->seq = b->first + mid;
        w->found = any = 1;
      } else if (b->ids[mid] < w->queue_id) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
  }
  /* A batch run by another thread (e.g. ?fresh=1) may serve them too. */
  if (any)
    pthread_cond_broadcast(&srv_aud.done);
  pthread_mutex_unlock(&srv_aud.mu);
}

int64_t srv_audit_sequence_batch(void)
{
  struct srv_audit_batch b = {0, 0, NULL};

  if (srv_db_txn(SRV_DB_READ_COMMITTED, srv_audit_batch_body, &b) != SRV_DB_OK) {
    free(b.ids);
    return -1;
  }
  if (b.moved > 0) {
    srv_audit_resolve(&b);
    srv_audit_sequenced(b.first, b.moved);
  }
  free(b.ids);
  return b.moved;
}

int srv_audit_wait_pass(int64_t queue_id, int64_t *seq)
{
  struct srv_audit_waiter me = {queue_id, -1, 0, NULL};
  struct timespec until;
  uint64_t ticket;
  int rc = -1;

  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += SRV_AUDIT_WAIT_MS / 1000;
  pthread_mutex_lock(&srv_aud.mu);
  if (srv_aud.running && !srv_aud.stop) {
    ticket = ++srv_aud.requested;
    me.next = srv_aud.waiters;
    srv_aud.waiters = &me;
    srv_aud.kicked = 1;
    pthread_cond_signal(&srv_aud.cv);
    while (!me.found && srv_aud.passed < ticket && !srv_aud.stop &&
           pthread_cond_timedwait(&srv_aud.done, &srv_aud.mu, &until) != ETIMEDOUT)
      ;
    for (struct srv_audit_waiter **p = &srv_aud.waiters; *p; p = &(*p)->next) {
      if (*p == &me) {
        *p = me.next;
        break;
      }
    }
    rc = me.found ? 0 : srv_aud.passed >= ticket ? 1 : -1;
    *seq = me.seq;
  }
  pthread_mutex_unlock(&srv_aud.mu);
  return rc;
}

static void *srv_audit_seq_main(void *arg)
{
  int failing = 0;

  (void)arg;
  pthread_mutex_lock(&srv_aud.mu);
  while (!srv_aud.stop) {
    struct timespec until;
    int64_t moved;
    uint64_t target;

    if (!srv_aud.kicked) {
      clock_gettime(CLOCK_REALTIME, &until);
      long ns = until.tv_nsec + (long)(srv_aud.interval_ms % 1000) * 1000000L;
      until.tv_sec += srv_aud.interval_ms / 1000 + ns / 1000000000L;
      until.tv_nsec = ns % 1000000000L;
      while (!srv_aud.stop && !srv_aud.kicked &&
             pthread_cond_timedwait(&srv_aud.cv, &srv_aud.mu, &until) != ETIMEDOUT)
        ;
    }
    if (srv_aud.stop)
      break;
    srv_aud.kicked = 0;
    /* Every ticket up to here belongs to an event committed before the
     * pass below takes its snapshot. */
    target = srv_aud.requested;
    pthread_mutex_unlock(&srv_aud.mu);
    /* Drain: a full batch means there may be more. */
    do
      moved = srv_audit_sequence_batch();
    while (moved == SRV_AUDIT_BATCH);
    pthread_mutex_lock(&srv_aud.mu);
    /* Even after a failure: the waiters then look for themselves. */
    if (target > srv_aud.passed)
      srv_aud.passed = target;
    pthread_cond_broadcast(&srv_aud.done);
    pthread_mutex_unlock(&srv_aud.mu);
    if (moved < 0 && !failing)
      ke_logf(KE_LOG_WARN, "audit sequencer: database unavailable; queued events wait");
    else if (moved >= 0 && failing)
      ke_logf(KE_LOG_INFO, "audit sequencer: running again");
    failing = moved < 0;
    pthread_mutex_lock(&srv_aud.mu);
  }
  pthread_mutex_unlock(&srv_aud.mu);
  return NULL;
}

static void srv_audit_system_event(const char *action)
{
  json_t *d = json_pack("{s:s}", "version", KE_VERSION);
  struct srv_audit_event ev = {action, NULL, "success", d, NULL};

  if (srv_audit_record(NULL, &ev) != 0)
    ke_log(KE_LOG_WARN, "could not record an audit event", json_pack("{s:s}", "action", action));
  json_decref(d);
}

int srv_audit_start(const struct srv_config *cfg)
{
  int created = 0;
  ke_rc rc;

  if (!ke_note_name_valid(cfg->audit_origin)) {
    ke_log(KE_LOG_ERROR,
           "audit_origin is not a valid log name (1..255 printable ASCII, "
           "no spaces or '+')",
           json_pack("{s:s}", "audit_origin", cfg->audit_origin ? cfg->audit_origin : ""));
    return -1;
  }
  if (!cfg->audit_key_file) {
    ke_logf(KE_LOG_ERROR, "audit_key_file must be set");
    return -1;
  }
  errno = 0;
  rc = ke_note_key_load_or_create(&srv_aud.key, cfg->audit_key_file, cfg->audit_origin, &created);
  if (rc != KE_OK) {
    ke_log(KE_LOG_ERROR,
           rc == KE_ERR_FORMAT ? "the audit log key file is damaged or named for another "
                                 "audit_origin"
                               : "cannot load or create the audit log key",
           json_pack("{s:s,s:s,s:s,s:s}", "audit_key_file", cfg->audit_key_file, "audit_origin",
                     cfg->audit_origin, "error", ke_rc_str(rc), "errno",
                     errno ? strerror(errno) : ""));
    return -1;
  }
  {
    ke_note_verifier v;
    char *vkey = NULL;
    ke_note_key_verifier(srv_aud.key, &v);
    if (ke_note_vkey_format(&v, &vkey) == KE_OK)
      ke_log(KE_LOG_INFO, created ? "audit log key created" : "audit log key loaded",
             json_pack("{s:s,s:s}", "audit_key_file", cfg->audit_key_file, "verifier_key", vkey));
    free(vkey);
  }
  srv_aud.interval_ms = cfg->audit_sequence_interval_ms ? cfg->audit_sequence_interval_ms : 200;
  srv_aud.stop = srv_aud.kicked = 0;
  if (srv_audit_syslog_start(cfg) != 0)
    goto fail;
  if (pthread_create(&srv_aud.thread, NULL, srv_audit_seq_main, NULL) != 0) {
    ke_logf(KE_LOG_ERROR, "cannot start the audit sequencer thread");
    srv_audit_syslog_stop();
    goto fail;
  }
  srv_aud.running = 1;
  if (srv_audit_cp_start(cfg) != 0) {
    srv_audit_stop();
    return -1;
  }
  srv_audit_system_event("server.start");
  return 0;
fail:
  ke_note_key_free(srv_aud.key);
  srv_aud.key = NULL;
  return -1;
}

void srv_audit_stop(void)
{
  if (srv_aud.running) {
    int64_t moved;

    srv_audit_system_event("server.stop");
    pthread_mutex_lock(&srv_aud.mu);
    srv_aud.stop = 1;
    pthread_cond_signal(&srv_aud.cv);
    pthread_cond_broadcast(&srv_aud.done);
    pthread_mutex_unlock(&srv_aud.mu);
    pthread_join(srv_aud.thread, NULL);
    srv_aud.running = 0;
    /* Sequence what is left (our stop event at least), then sign a last
     * checkpoint covering it, so that a clean stop leaves nothing queued. */
    do
      moved = srv_audit_sequence_batch();
    while (moved == SRV_AUDIT_BATCH);
    srv_audit_cp_stop();
    srv_audit_syslog_stop();
  }
  ke_note_key_free(srv_aud.key);
  srv_aud.key = NULL;
}
