/*
 * srv_db_test.c - srv_db_txn() against a real PostgreSQL:
 *   - two threads forced into a write skew under SERIALIZABLE: one gets
 *     40001, is retried, and both increments land (no lost update);
 *   - many threads hammering one counter: every increment lands;
 *   - SRV_DB_ABORT rolls back; a failing statement gives SRV_DB_ERROR and
 *     leaves the connection usable;
 *   - an unreachable database gives SRV_DB_UNAVAILABLE quickly;
 *   - escrowd_db_transactions_given_up_total counts the transactions given
 *     up after db_max_retries, and not those that committed after retries.
 * Usage: srv_db_test DSN   (a role that may create a table)
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ke_log.h"
#include "srv_db.h"
#include "srv_metrics.h"
#include "ke_test.h"

static char table[64];
static pthread_barrier_t barrier;

static enum srv_db_status run(struct srv_db *db, const char *sql, int nparams,
                              const char *const *params, long *value)
{
  PGresult *r = PQexecParams(srv_db_pgconn(db), sql, nparams, NULL, params, NULL, NULL, 0);
  ExecStatusType st = PQresultStatus(r);
  const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
  enum srv_db_status ret = SRV_DB_OK;

  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
    ret = state && (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0) ? SRV_DB_RETRY
                                                                                : SRV_DB_ERROR;
  else if (value && PQntuples(r) == 1)
    *value = atol(PQgetvalue(r, 0, 0));
  PQclear(r);
  return ret;
}

struct incr {
  int attempts;
  int sync; /* meet the other thread between read and write (first try) */
};

static enum srv_db_status incr_txn(struct srv_db *db, void *cls)
{
  struct incr *in = cls;
  char sql[256], val[32];
  const char *p[1] = {val};
  long n = -1;
  enum srv_db_status st;

  in->attempts++;
  snprintf(sql, sizeof sql, "SELECT n FROM %s WHERE id = 1", table);
  if ((st = run(db, sql, 0, NULL, &n)) != SRV_DB_OK)
    return st;
  if (in->sync && in->attempts == 1)
    pthread_barrier_wait(&barrier);
  snprintf(val, sizeof val, "%ld", n + 1);
  snprintf(sql, sizeof sql, "UPDATE %s SET n = $1::int8 WHERE id = 1", table);
  return run(db, sql, 1, p, NULL);
}

struct worker {
  int sync, rounds, ok, attempts;
};

static void *worker_main(void *arg)
{
  struct worker *w = arg;

  for (int i = 0; i < w->rounds; i++) {
    struct incr in = {0, w->sync && i == 0};
    if (srv_db_txn(SRV_DB_SERIALIZABLE, incr_txn, &in) == SRV_DB_OK)
      w->ok++;
    w->attempts += in.attempts;
  }
  /* Let the thread-key destructor close this thread's connection. */
  return NULL;
}

static long counter(void)
{
  char sql[128];
  long n = -1;
  PGconn *c;
  PGresult *r;
  char err[256];

  c = srv_db_connect(getenv("KE_TEST_DSN"), NULL, 5, 0, err, sizeof err);
  if (!c)
    return -1;
  snprintf(sql, sizeof sql, "SELECT n FROM %s WHERE id = 1", table);
  r = PQexecParams(c, sql, 0, NULL, NULL, NULL, NULL, 0);
  if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
    n = atol(PQgetvalue(r, 0, 0));
  PQclear(r);
  PQfinish(c);
  return n;
}

static int run_workers(int nthreads, int rounds, int sync, int *ok, int *attempts)
{
  pthread_t th[8];
  struct worker w[8];

  memset(w, 0, sizeof w);
  *ok = *attempts = 0;
  for (int i = 0; i < nthreads; i++) {
    w[i].sync = sync;
    w[i].rounds = rounds;
    if (pthread_create(&th[i], NULL, worker_main, &w[i]) != 0)
      return -1;
  }
  for (int i = 0; i < nthreads; i++) {
    pthread_join(th[i], NULL);
    *ok += w[i].ok;
    *attempts += w[i].attempts;
  }
  return 0;
}

static enum srv_db_status abort_txn(struct srv_db *db, void *cls)
{
  char sql[128];

  (void)cls;
  snprintf(sql, sizeof sql, "UPDATE %s SET n = -1000 WHERE id = 1", table);
  if (run(db, sql, 0, NULL, NULL) != SRV_DB_OK)
    return SRV_DB_ERROR;
  return SRV_DB_ABORT;
}

static enum srv_db_status bad_txn(struct srv_db *db, void *cls)
{
  enum srv_db_status st;
  PGresult *r;

  (void)cls;
  /* Through the statement table, as request code does. */
  r = srv_db_exec(db, SRV_STMT_SCHEMA_VERSION, NULL, &st);
  PQclear(r);
  return st;
}

static enum srv_db_status count_txn(struct srv_db *db, void *cls)
{
  return run(db, "SELECT 1", 0, NULL, cls);
}

/* A conflict every time: the wrapper must give up after max_retries. */
static enum srv_db_status conflict_txn(struct srv_db *db, void *cls)
{
  (void)db;
  ++*(int *)cls;
  return SRV_DB_RETRY;
}

/* escrowd_db_transactions_given_up_total in /metrics' text, -1 if absent. */
static long gave_up(void)
{
  static const char name[] = "\nescrowd_db_transactions_given_up_total ";
  size_t len;
  char *text = srv_metrics_render(&len), *p = text ? strstr(text, name) : NULL;
  long n = p ? atol(p + sizeof name - 1) : -1;

  free(text);
  return n;
}

int main(int argc, char **argv)
{
  struct srv_config cfg;
  char err[512], sql[256];
  int ok, attempts;
  long one = 0;
  PGconn *c;
  PGresult *r;
  struct srv_route_table none = {NULL, 0};
  struct timespec t0, t1;

  (void)argc;
  (void)argv;
  ke_log_set_level(KE_LOG_ERROR);
  if (!getenv("KE_TEST_DSN"))
    return 2;
  snprintf(table, sizeof table, "txn_probe_%ld", (long)getpid());
  c = srv_db_connect(getenv("KE_TEST_DSN"), NULL, 5, 0, err, sizeof err);
  if (!c) {
    fprintf(stderr, "connect: %s\n", err);
    return 1;
  }
  snprintf(sql, sizeof sql,
           "CREATE TABLE %s (id int PRIMARY KEY, n int8 NOT NULL); INSERT INTO %s VALUES (1, 0)",
           table, table);
  r = PQexec(c, sql);
  CHECK(PQresultStatus(r) == PGRES_COMMAND_OK, "create: %s", PQerrorMessage(c));
  PQclear(r);

  srv_metrics_init(&none);
  memset(&cfg, 0, sizeof cfg);
  cfg.db_dsn = getenv("KE_TEST_DSN");
  cfg.db_connect_timeout = 5;
  cfg.db_statement_timeout_ms = 10000;
  cfg.db_max_retries = 100;
  CHECK(srv_db_init(&cfg) == 0, "srv_db_init");

  pthread_barrier_init(&barrier, NULL, 2);
  run_workers(2, 1, 1, &ok, &attempts);
  CHECK(ok == 2, "write skew: %d of 2 transactions committed", ok);
  CHECK(attempts >= 3, "write skew: %d attempts, expected a retry", attempts);
  CHECK(counter() == 2, "write skew: counter %ld, want 2 (lost update)", counter());
  printf("write skew: 2 commits after %d attempts\n", attempts);

  run_workers(6, 20, 0, &ok, &attempts);
  CHECK(ok == 120, "contention: %d of 120 committed", ok);
  CHECK(counter() == 2 + ok, "contention: counter %ld, want %d", counter(), 2 + ok);
  printf("contention: %d commits after %d attempts\n", ok, attempts);

  CHECK(srv_db_txn(SRV_DB_SERIALIZABLE, abort_txn, NULL) == SRV_DB_ABORT, "abort status");
  CHECK(counter() == 122, "abort did not roll back (%ld)", counter());

  /* This role may lack the schema table in a scratch database: either way
   * the wrapper reports, and the connection stays usable. */
  {
    enum srv_db_status st = srv_db_txn(SRV_DB_READ_ONLY, bad_txn, NULL);
    CHECK(st == SRV_DB_OK || st == SRV_DB_ERROR, "statement-table txn: %d", st);
  }
  CHECK(srv_db_txn(SRV_DB_READ_ONLY, count_txn, &one) == SRV_DB_OK && one == 1,
        "connection unusable after an error");
  CHECK(gave_up() == 0, "retried transactions that committed counted as given up (%ld)", gave_up());
  srv_db_shutdown();

  cfg.db_max_retries = 3;
  CHECK(srv_db_init(&cfg) == 0, "srv_db_init (3 retries)");
  attempts = 0;
  CHECK(srv_db_txn(SRV_DB_READ_COMMITTED, conflict_txn, &attempts) == SRV_DB_RETRY,
        "endless conflict not given up");
  CHECK(attempts == 3, "endless conflict: %d attempts, want 3", attempts);
  CHECK(gave_up() == 1, "give-up counter %ld, want 1", gave_up());
  srv_db_shutdown();

  cfg.db_dsn = "host=/nonexistent-keyescrow dbname=x user=y";
  CHECK(srv_db_init(&cfg) == 0, "srv_db_init 2");
  clock_gettime(CLOCK_MONOTONIC, &t0);
  CHECK(srv_db_txn(SRV_DB_READ_ONLY, count_txn, &one) == SRV_DB_UNAVAILABLE, "unreachable");
  CHECK(srv_db_txn(SRV_DB_READ_ONLY, count_txn, &one) == SRV_DB_UNAVAILABLE, "unreachable 2");
  clock_gettime(CLOCK_MONOTONIC, &t1);
  CHECK(t1.tv_sec - t0.tv_sec < 3, "unreachable database was slow to report");
  srv_db_shutdown();
  srv_metrics_free();

  snprintf(sql, sizeof sql, "DROP TABLE %s", table);
  PQclear(PQexec(c, sql));
  PQfinish(c);
  pthread_barrier_destroy(&barrier);
  return ke_test_result("srv_db_test");
}
