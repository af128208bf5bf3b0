/*
 * srv_audit_run.c - the audit log's life in `escrowd serve`: the log key,
 * the background sequencer thread, and the server.start/server.stop events.
 *
 * The background sequencer gives a leaf index to every committed queued
 * event that nobody asked about (srv_audit_record, a request that did not
 * call srv_audit_sequence_mine, an instance that died right after commit).
 * It runs every audit_sequence_interval_ms and at once when kicked, and on
 * every instance: the head-row lock in keyescrow_audit_move() makes them
 * take turns, and whoever comes second finds the queue already empty.
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

static struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  pthread_t thread;
  int running, stop, kicked;
  unsigned interval_ms;
  ke_note_key *key;
} srv_aud = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

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

void srv_audit_sequenced(int64_t first, int64_t count)
{
  srv_audit_syslog_range(first, count);
}

struct srv_audit_batch {
  int64_t first, moved;
};

static enum srv_db_status srv_audit_batch_body(struct srv_db *db, void *cls)
{
  struct srv_audit_batch *b = cls;
  char max[16];
  const char *params[1] = {max};
  enum srv_db_status st;
  PGresult *r;
  char *e1, *e2;
  int bad;

  snprintf(max, sizeof max, "%d", SRV_AUDIT_BATCH);
  r = srv_db_exec(db, SRV_STMT_AUDIT_SEQUENCE, params, &st);
  if (!r)
    return st;
  if (PQntuples(r) != 1) {
    PQclear(r);
    return SRV_DB_ERROR;
  }
  b->first = strtoll(PQgetvalue(r, 0, 0), &e1, 10);
  b->moved = strtoll(PQgetvalue(r, 0, 1), &e2, 10);
  /* e1/e2 point into r: look at them before it is freed. */
  bad = *e1 || *e2;
  PQclear(r);
  return bad ? SRV_DB_ERROR : SRV_DB_OK;
}

int64_t srv_audit_sequence_batch(void)
{
  struct srv_audit_batch b = {0, 0};

  if (srv_db_txn(SRV_DB_READ_COMMITTED, srv_audit_batch_body, &b) != SRV_DB_OK)
    return -1;
  if (b.moved > 0)
    srv_audit_sequenced(b.first, b.moved);
  return b.moved;
}

static void *srv_audit_seq_main(void *arg)
{
  int failing = 0;

  (void)arg;
  pthread_mutex_lock(&srv_aud.mu);
  while (!srv_aud.stop) {
    struct timespec until;
    int64_t moved;

    if (!srv_aud.kicked) {
      clock_gettime(CLOCK_REALTIME, &until);
      until.tv_sec += srv_aud.interval_ms / 1000;
      until.tv_nsec += (long)(srv_aud.interval_ms % 1000) * 1000000L;
      if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
      }
      while (!srv_aud.stop && !srv_aud.kicked &&
             pthread_cond_timedwait(&srv_aud.cv, &srv_aud.mu, &until) != ETIMEDOUT)
        ;
    }
    if (srv_aud.stop)
      break;
    srv_aud.kicked = 0;
    pthread_mutex_unlock(&srv_aud.mu);
    /* Drain: a full batch means there may be more. */
    do
      moved = srv_audit_sequence_batch();
    while (moved == SRV_AUDIT_BATCH);
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
  struct srv_audit_event ev = {action, NULL, "success", NULL, NULL};
  json_t *d = json_pack("{s:s}", "version", KE_VERSION);

  ev.details = d;
  if (srv_audit_record(NULL, &ev) != 0)
    ke_log(KE_LOG_WARN, "could not record an audit event", json_pack("{s:s}", "action", action));
  json_decref(d);
}

int srv_audit_start(const struct srv_config *cfg)
{
  int created = 0;
  ke_rc rc;

  if (!ke_note_name_valid(cfg->audit_origin)) {
    ke_log(KE_LOG_ERROR, "audit_origin is not a valid log name (1..255 printable ASCII, "
                         "no spaces or '+')",
           json_pack("{s:s}", "audit_origin", cfg->audit_origin ? cfg->audit_origin : ""));
    return -1;
  }
  if (!cfg->audit_key_file) {
    ke_logf(KE_LOG_ERROR, "audit_key_file must be set");
    return -1;
  }
  errno = 0;
  rc = ke_note_key_load_or_create(&srv_aud.key, cfg->audit_key_file, cfg->audit_origin,
                                  &created);
  if (rc != KE_OK) {
    ke_log(KE_LOG_ERROR,
           rc == KE_ERR_FORMAT ? "the audit log key file is damaged or named for another "
                                 "audit_origin"
                               : "cannot load or create the audit log key",
           json_pack("{s:s,s:s,s:s,s:s}", "audit_key_file", cfg->audit_key_file,
                     "audit_origin", cfg->audit_origin, "error", ke_rc_str(rc), "errno",
                     errno ? strerror(errno) : ""));
    return -1;
  }
  {
    ke_note_verifier v;
    char *vkey = NULL;
    ke_note_key_verifier(srv_aud.key, &v);
    if (ke_note_vkey_format(&v, &vkey) == KE_OK)
      ke_log(KE_LOG_INFO, created ? "audit log key created" : "audit log key loaded",
             json_pack("{s:s,s:s}", "audit_key_file", cfg->audit_key_file, "verifier_key",
                       vkey));
    free(vkey);
  }
  srv_aud.interval_ms = cfg->audit_sequence_interval_ms ? cfg->audit_sequence_interval_ms
                                                        : 200;
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
