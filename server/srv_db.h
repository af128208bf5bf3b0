/*
 * srv_db.h - PostgreSQL access for escrowd request handlers.
 *
 * Each worker thread owns one connection (thread-local), opened lazily,
 * re-opened after PostgreSQL went away, with every statement of
 * srv_db_stmts.def prepared on each (re)connection.  All request-time work
 * goes through srv_db_txn(), which runs one transaction and retries it on
 * serialization failures and deadlocks.
 */
#ifndef SRV_DB_H
#define SRV_DB_H

#include <libpq-fe.h>

#include "srv_config.h"

enum srv_stmt {
#define SRV_STMT(id, nparams, sql) SRV_STMT_##id,
#include "srv_db_stmts.def"
#undef SRV_STMT
  SRV_STMT_COUNT_
};

enum srv_db_status {
  SRV_DB_OK = 0,
  SRV_DB_RETRY,       /* serialization failure / deadlock: srv_db_txn retries */
  SRV_DB_UNAVAILABLE, /* no connection, or it broke */
  SRV_DB_CONSTRAINT,  /* integrity constraint violation (class 23) */
  SRV_DB_ERROR,       /* any other error (logged) */
  SRV_DB_ABORT,       /* returned by a txn body to roll back without an error */
};

enum srv_db_isolation {
  SRV_DB_SERIALIZABLE, /* read-write work */
  /* Read-only snapshot: REPEATABLE READ READ ONLY gives one consistent
   * snapshot and never fails with a serialization error, so pure readers
   * (readyz, listings) do not pay for SERIALIZABLE's predicate locks. */
  SRV_DB_READ_ONLY,
  /* Each statement sees everything committed before it started, and a row
   * lock waited for yields the row's newest version: for work serialised by
   * an explicit lock (the audit sequencer), where SERIALIZABLE would only
   * turn the wait into serialization failures. */
  SRV_DB_READ_COMMITTED,
};

struct srv_db;

/* Global setup from the configuration (app role).  0 = ok. */
int srv_db_init(const struct srv_config *cfg);
void srv_db_shutdown(void);

/* One libpq connection with keyescrow's settings (used by serve's start-up
 * checks and by migrate).  `password_file` may be NULL.  NULL on failure,
 * after writing the reason to err. */
PGconn *srv_db_connect(const char *dsn, const char *password_file, unsigned timeout_s,
                       unsigned statement_timeout_ms, char *err, size_t errlen);

typedef enum srv_db_status (*srv_db_txn_fn)(struct srv_db *db, void *cls);

/* Run `fn` inside one transaction on this thread's connection and commit.
 * `fn` may be called several times (retries): it must not have side
 * effects outside the database, or must reset them at its start. */
enum srv_db_status srv_db_txn(enum srv_db_isolation iso, srv_db_txn_fn fn, void *cls);

/* Execute a prepared statement.  Returns the result (PQclear it) when the
 * status is SRV_DB_OK, else NULL.  `params` are text; NULL = SQL NULL. */
PGresult *srv_db_exec(struct srv_db *db, enum srv_stmt stmt, const char *const *params,
                      enum srv_db_status *status);

/* The underlying connection, for tests of the wrapper itself.  Request
 * code must use srv_db_exec() and the statement table instead. */
PGconn *srv_db_pgconn(struct srv_db *db);

/* The schema version serve was started for (highest NNN in schema_dir). */
void srv_db_set_expected_version(int version);
int srv_db_expected_version(void);

#endif
