/*
 * srv_db.c - per-thread PostgreSQL connections and the transaction wrapper.
 */
#include "srv_db.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "ke_log.h"
#include "srv_metrics.h"

struct srv_db {
  PGconn *conn;
  struct timespec last_attempt; /* of a failed connect, for the backoff */
  int failed;                   /* the last connect failed */
};

static const struct {
  const char *name;
  int nparams;
  const char *sql;
} srv_stmts[SRV_STMT_COUNT_] = {
#define SRV_STMT(id, n, text) [SRV_STMT_##id] = {#id, n, text},
#include "srv_db_stmts.def"
#undef SRV_STMT
};

static struct {
  char *dsn;
  char *password_file;
  unsigned connect_timeout;
  unsigned statement_timeout_ms;
  unsigned max_retries;
  pthread_key_t key;
  int key_ok;
  int expected_version;
} srv_dbg;

/* After a failed connect, a thread waits this long before trying again, so
 * that a dead database costs requests one fast 503, not one connect_timeout
 * each. */
#define SRV_DB_RECONNECT_MS 500

PGconn *srv_db_pgconn(struct srv_db *db) { return db ? db->conn : NULL; }

void srv_db_set_expected_version(int version) { srv_dbg.expected_version = version; }
int srv_db_expected_version(void) { return srv_dbg.expected_version; }

static void srv_db_free(void *p)
{
  struct srv_db *db = p;

  if (!db)
    return;
  if (db->conn)
    PQfinish(db->conn);
  free(db);
}

int srv_db_init(const struct srv_config *cfg)
{
  srv_dbg.dsn = strdup(cfg->db_dsn);
  srv_dbg.password_file = cfg->db_password_file ? strdup(cfg->db_password_file) : NULL;
  srv_dbg.connect_timeout = cfg->db_connect_timeout;
  srv_dbg.statement_timeout_ms = cfg->db_statement_timeout_ms;
  srv_dbg.max_retries = cfg->db_max_retries;
  if (!srv_dbg.dsn || (cfg->db_password_file && !srv_dbg.password_file))
    return -1;
  /* The destructor closes a worker's connection when its thread exits
   * (MHD_stop_daemon joins them all). */
  if (pthread_key_create(&srv_dbg.key, srv_db_free) != 0)
    return -1;
  srv_dbg.key_ok = 1;
  return 0;
}

void srv_db_shutdown(void)
{
  if (srv_dbg.key_ok) {
    /* The calling thread's connection, if it made one. */
    srv_db_free(pthread_getspecific(srv_dbg.key));
    pthread_setspecific(srv_dbg.key, NULL);
    pthread_key_delete(srv_dbg.key);
  }
  free(srv_dbg.dsn);
  free(srv_dbg.password_file);
  memset(&srv_dbg, 0, sizeof srv_dbg);
}

static int srv_read_password(const char *path, char *out, size_t outlen)
{
  FILE *f = fopen(path, "r");
  size_t n;

  if (!f)
    return -1;
  if (!fgets(out, (int)outlen, f)) {
    fclose(f);
    return -1;
  }
  fclose(f);
  n = strcspn(out, "\r\n");
  out[n] = '\0';
  return 0;
}

/* NOTICE/WARNING messages from the server become log lines instead of raw
 * text on stderr (libpq's default). */
static void srv_db_notice(void *arg, const char *message)
{
  size_t n = strcspn(message, "\n");

  (void)arg;
  ke_log(strncmp(message, "WARNING", 7) == 0 ? KE_LOG_WARN : KE_LOG_DEBUG, "postgresql notice",
         json_pack("{s:s%}", "notice", message, n));
}

PGconn *srv_db_connect(const char *dsn, const char *password_file, unsigned timeout_s,
                       unsigned statement_timeout_ms, char *err, size_t errlen)
{
  char password[1024] = "", timeout[16], options[96];
  const char *keys[6], *vals[6];
  int n = 0;
  PGconn *conn;

  if (password_file && srv_read_password(password_file, password, sizeof password)) {
    snprintf(err, errlen, "cannot read password file %s", password_file);
    return NULL;
  }
  snprintf(timeout, sizeof timeout, "%u", timeout_s);
  /* statement_timeout bounds a stuck query; idle_in_transaction_session_timeout
   * frees locks if a worker ever hangs between statements. */
  snprintf(options, sizeof options,
           "-c statement_timeout=%u -c idle_in_transaction_session_timeout=60000",
           statement_timeout_ms);
  /* The DSN is expanded first; the entries after it override it. */
  keys[n] = "dbname", vals[n++] = dsn;
  keys[n] = "connect_timeout", vals[n++] = timeout;
  keys[n] = "application_name", vals[n++] = "escrowd";
  keys[n] = "options", vals[n++] = options;
  if (password[0])
    keys[n] = "password", vals[n++] = password;
  keys[n] = NULL, vals[n] = NULL;
  conn = PQconnectdbParams(keys, vals, 1);
  OPENSSL_cleanse(password, sizeof password);
  if (!conn) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  if (PQstatus(conn) != CONNECTION_OK) {
    char *m = PQerrorMessage(conn);
    snprintf(err, errlen, "%.*s", (int)strcspn(m, "\n"), m);
    PQfinish(conn);
    return NULL;
  }
  PQsetNoticeProcessor(conn, srv_db_notice, NULL);
  return conn;
}

static long srv_ms_since(const struct timespec *t)
{
  struct timespec now;

  clock_gettime(CLOCK_MONOTONIC, &now);
  return (long)(now.tv_sec - t->tv_sec) * 1000 + (now.tv_nsec - t->tv_nsec) / 1000000;
}

static int srv_db_prepare_all(PGconn *conn, char *err, size_t errlen)
{
  for (int i = 0; i < SRV_STMT_COUNT_; i++) {
    PGresult *r = PQprepare(conn, srv_stmts[i].name, srv_stmts[i].sql, srv_stmts[i].nparams, NULL);
    int ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok) {
      const char *m = r ? PQresultErrorMessage(r) : PQerrorMessage(conn);
      snprintf(err, errlen, "preparing %s: %.*s", srv_stmts[i].name, (int)strcspn(m, "\n"), m);
    }
    PQclear(r);
    if (!ok)
      return -1;
  }
  return 0;
}

/* This thread's connection, (re)connected if needed; NULL if unavailable. */
static struct srv_db *srv_db_get(void)
{
  struct srv_db *db;
  char err[512];

  if (!srv_dbg.key_ok)
    return NULL;
  db = pthread_getspecific(srv_dbg.key);
  if (!db) {
    db = calloc(1, sizeof *db);
    if (!db || pthread_setspecific(srv_dbg.key, db) != 0) {
      free(db);
      return NULL;
    }
  }
  if (db->conn && PQstatus(db->conn) == CONNECTION_OK)
    return db;
  if (db->conn) {
    PQfinish(db->conn);
    db->conn = NULL;
  }
  if (db->failed && srv_ms_since(&db->last_attempt) < SRV_DB_RECONNECT_MS)
    return NULL;
  clock_gettime(CLOCK_MONOTONIC, &db->last_attempt);
  db->conn = srv_db_connect(srv_dbg.dsn, srv_dbg.password_file, srv_dbg.connect_timeout,
                            srv_dbg.statement_timeout_ms, err, sizeof err);
  if (db->conn && srv_db_prepare_all(db->conn, err, sizeof err) != 0) {
    PQfinish(db->conn);
    db->conn = NULL;
  }
  if (!db->conn) {
    srv_metrics_db_error(SRV_METRICS_DB_CONNECT);
    /* Log the first failure of a streak only: a dead database must not
     * flood the log at the request rate. */
    if (!db->failed)
      ke_log(KE_LOG_ERROR, "database connection failed", json_pack("{s:s}", "reason", err));
    db->failed = 1;
    return NULL;
  }
  if (db->failed)
    ke_log(KE_LOG_INFO, "database connection restored", NULL);
  db->failed = 0;
  srv_metrics_db_reconnect();
  return db;
}

/* Classify a finished command.  Logs unexpected errors. */
static enum srv_db_status srv_db_classify(struct srv_db *db, PGresult *r, const char *what)
{
  const char *state;
  ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;

  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
    return SRV_DB_OK;
  state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
  if (PQstatus(db->conn) != CONNECTION_OK || !state || strncmp(state, "08", 2) == 0 ||
      strncmp(state, "57P", 3) == 0) {
    srv_metrics_db_error(SRV_METRICS_DB_CONNECTION);
    ke_log(KE_LOG_WARN, "database connection lost",
           json_pack("{s:s,s:s}", "statement", what, "sqlstate", state ? state : ""));
    if (PQstatus(db->conn) == CONNECTION_OK) {
      /* e.g. 57P01 admin shutdown: the session is gone even if the socket
       * still looks fine; force a reconnect. */
      PQfinish(db->conn);
      db->conn = NULL;
    }
    return SRV_DB_UNAVAILABLE;
  }
  if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0) {
    srv_metrics_db_error(SRV_METRICS_DB_SERIALIZATION);
    return SRV_DB_RETRY;
  }
  srv_metrics_db_error(SRV_METRICS_DB_QUERY);
  if (strncmp(state, "23", 2) == 0)
    return SRV_DB_CONSTRAINT;
  {
    const char *m = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    ke_log(KE_LOG_ERROR, "database statement failed",
           json_pack("{s:s,s:s,s:s}", "statement", what, "sqlstate", state, "error", m ? m : ""));
  }
  return SRV_DB_ERROR;
}

PGresult *srv_db_exec(struct srv_db *db, enum srv_stmt stmt, const char *const *params,
                      enum srv_db_status *status)
{
  PGresult *r;

  if ((unsigned)stmt >= SRV_STMT_COUNT_ || !db->conn) {
    *status = SRV_DB_ERROR;
    return NULL;
  }
  r =
    PQexecPrepared(db->conn, srv_stmts[stmt].name, srv_stmts[stmt].nparams, params, NULL, NULL, 0);
  *status = srv_db_classify(db, r, srv_stmts[stmt].name);
  if (*status != SRV_DB_OK) {
    PQclear(r);
    return NULL;
  }
  return r;
}

/* Transaction control has no parameters; PQexecParams (not PQexec) keeps
 * to one statement per call all the same. */
static enum srv_db_status srv_db_command(struct srv_db *db, const char *sql)
{
  PGresult *r;
  enum srv_db_status st;

  if (!db->conn)
    return SRV_DB_UNAVAILABLE;
  r = PQexecParams(db->conn, sql, 0, NULL, NULL, NULL, NULL, 0);
  st = srv_db_classify(db, r, sql);

  PQclear(r);
  return st;
}

static void srv_db_backoff(unsigned attempt)
{
  unsigned char rnd[2];
  unsigned cap_ms = 2u << (attempt < 7 ? attempt : 7); /* 2 ms .. 256 ms */
  unsigned ms;

  if (RAND_bytes(rnd, sizeof rnd) != 1)
    rnd[0] = rnd[1] = 0x7f;
  /* Full jitter: contending transactions spread out instead of colliding
   * again in lock-step. */
  ms = (((unsigned)rnd[0] << 8) | rnd[1]) % (cap_ms + 1);
  usleep(ms * 1000u);
}

enum srv_db_status srv_db_txn(enum srv_db_isolation iso, srv_db_txn_fn fn, void *cls)
{
  const char *begin =
    iso == SRV_DB_READ_ONLY        ? "START TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"
    : iso == SRV_DB_READ_COMMITTED ? "START TRANSACTION ISOLATION LEVEL READ COMMITTED"
                                   : "START TRANSACTION ISOLATION LEVEL SERIALIZABLE";
  enum srv_db_status st = SRV_DB_UNAVAILABLE;
  int reconnected = 0;

  if (!srv_dbg.key_ok)
    return SRV_DB_UNAVAILABLE; /* srv_db_init() was not called (no database) */
  for (unsigned attempt = 0; attempt < srv_dbg.max_retries; attempt++) {
    struct srv_db *db = srv_db_get();

    if (!db)
      return SRV_DB_UNAVAILABLE;
    st = srv_db_command(db, begin);
    if (st == SRV_DB_OK) {
      st = fn(db, cls);
      if (st == SRV_DB_OK) {
        st = srv_db_command(db, "COMMIT");
        /* A connection lost during COMMIT leaves the outcome unknown:
         * never replay the transaction then. */
        if (st == SRV_DB_OK || st == SRV_DB_UNAVAILABLE)
          return st;
      } else if (db->conn) {
        srv_db_command(db, "ROLLBACK");
      }
    }
    if (st == SRV_DB_UNAVAILABLE && !reconnected) {
      /* Typically the first statement after PostgreSQL restarted: the
       * transaction never reached COMMIT, so one immediate retry on a
       * fresh connection is safe. */
      reconnected = 1;
      continue;
    }
    if (st != SRV_DB_RETRY)
      return st;
    srv_db_backoff(attempt);
  }
  srv_metrics_db_gave_up();
  ke_log(KE_LOG_WARN, "transaction gave up after repeated serialization failures",
         json_pack("{s:i}", "attempts", (int)srv_dbg.max_retries));
  return SRV_DB_RETRY;
}
