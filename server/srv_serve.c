/*
 * srv_serve.c - `escrowd serve`.
 */
#include "srv_serve.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "ke_log.h"
#include "srv_audit.h"
#include "srv_auth.h"
#include "srv_db.h"
#include "srv_device.h"
#include "srv_drill.h"
#include "srv_longpoll.h"
#include "srv_metrics.h"
#include "srv_routes.h"
#include "srv_rows.h"
#include "srv_migrate.h"
#include "srv_retrieval.h"
#include "srv_mail.h"
#include "srv_oidc.h"
#include "srv_webhook.h"

/* Refuse to serve a database that is behind or whose applied migrations were
 * edited, and refuse a role that could rewrite the audit log: the
 * append-only guarantee rests on the server NOT being able to. */
static int srv_serve_check_db(const struct srv_config *cfg)
{
  struct srv_migration_set set;
  char err[1024];
  PGconn *conn;
  PGresult *r;
  int version = 0, rc = SRV_EXIT_FAILURE;
  enum srv_schema_state st;

  if (srv_migrations_load(cfg->schema_dir, &set, err, sizeof err)) {
    ke_log(KE_LOG_ERROR, "cannot load migrations", json_pack("{s:s}", "reason", err));
    return SRV_EXIT_USAGE;
  }
  conn = srv_db_connect(cfg->db_dsn, cfg->db_password_file, cfg->db_connect_timeout,
                        cfg->db_statement_timeout_ms, err, sizeof err);
  if (!conn) {
    ke_log(KE_LOG_ERROR, "cannot connect to the database (db_dsn)",
           json_pack("{s:s}", "reason", err));
    goto out;
  }
  st = srv_schema_check(conn, &set, &version, err, sizeof err);
  switch (st) {
    case SRV_SCHEMA_CURRENT: break;
    case SRV_SCHEMA_AHEAD:
      ke_log(KE_LOG_WARN, "the database schema is newer than this escrowd (rolling upgrade?)",
             json_pack("{s:i,s:i}", "db_version", version, "schema_dir_version", (int)set.n));
      break;
    case SRV_SCHEMA_BEHIND:
      ke_log(
        KE_LOG_ERROR,
        "refusing to serve: the database schema is behind; run "
        "'escrowd migrate' first",
        json_pack("{s:s,s:i,s:i}", "reason", err, "db_version", version, "required", (int)set.n));
      rc = SRV_EXIT_SCHEMA;
      goto out;
    case SRV_SCHEMA_MISMATCH:
      ke_log(KE_LOG_ERROR, "refusing to serve: applied migrations differ from schema_dir",
             json_pack("{s:s}", "reason", err));
      rc = SRV_EXIT_SCHEMA;
      goto out;
    default:
      ke_log(KE_LOG_ERROR, "cannot read the schema version", json_pack("{s:s}", "reason", err));
      goto out;
  }
  r = PQexecParams(conn,
                   "SELECT has_table_privilege('audit_log', 'UPDATE')"
                   " OR has_table_privilege('audit_log', 'DELETE')"
                   " OR has_table_privilege('audit_log', 'TRUNCATE') AS can_modify, current_user",
                   0, NULL, NULL, NULL, NULL, 0);
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    ke_log(KE_LOG_ERROR, "cannot check the application role's privileges",
           json_pack("{s:s}", "reason", PQresultErrorMessage(r)));
    PQclear(r);
    goto out;
  }
  if (!srv_row_text(r, "can_modify") || strcmp(srv_row_text(r, "can_modify"), "f") != 0) {
    ke_log(KE_LOG_ERROR,
           "refusing to serve: db_dsn connects as a role that can modify "
           "audit_log (the owner or a superuser); use the application role",
           json_pack("{s:s}", "role", srv_row_text(r, "current_user")));
    PQclear(r);
    rc = SRV_EXIT_USAGE;
    goto out;
  }
  PQclear(r);
  srv_db_set_expected_version((int)set.n);
  rc = SRV_EXIT_OK;
out:
  if (conn)
    PQfinish(conn);
  srv_migrations_free(&set);
  return rc;
}

/* Wait for a stop signal (SIGTERM or SIGINT) and return it. */
static int srv_serve_wait(const sigset_t *sigs)
{
  int sig = 0;

  for (;;) {
    if (sigwait(sigs, &sig) != 0)
      continue;
    if (sig == SIGHUP) {
      /* Configuration is read once; a reload means a restart.  Say so
       * instead of dying (the default action) or silently ignoring. */
      ke_logf(KE_LOG_WARN, "SIGHUP ignored: restart escrowd to apply configuration");
      continue;
    }
    return sig;
  }
}

int srv_serve_main(const struct srv_config *cfg, const struct srv_route_table *routes, int use_db)
{
  sigset_t sigs;
  struct srv_http *http = NULL;
  int rc, sig = 0;

  /* Block the stop signals before any thread exists, so that every thread
   * inherits the mask and only sigwait() below receives them. */
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &sigs, NULL);
  signal(SIGPIPE, SIG_IGN);

  if (use_db) {
    rc = srv_serve_check_db(cfg);
    if (rc != SRV_EXIT_OK)
      return rc;
    if (srv_db_init(cfg) != 0) {
      ke_logf(KE_LOG_ERROR, "out of memory");
      return SRV_EXIT_FAILURE;
    }
    /* The log key must load before anything is served (a wrong key file
     * is a configuration error), and the sequencer must run before the
     * first request can queue an event. */
    if (srv_audit_start(cfg) != 0) {
      srv_db_shutdown();
      return SRV_EXIT_USAGE;
    }
  }
  srv_auth_init(cfg);
  srv_device_init(cfg);
  srv_static_init(cfg);  /* no web_dir = no console, logged; not fatal */
  rc = SRV_EXIT_FAILURE; /* until it is served */
  if (srv_metrics_init(routes) != 0)
    goto out;
  /* Long-polls (retrievals): capped by the connection limit, which bounds
   * the sockets they may hold anyway. */
  srv_ret_init(cfg);
  srv_drill_init(cfg);
  if (srv_webhook_init(cfg) != 0 || srv_mail_init(cfg) != 0 || srv_oidc_start(cfg) != 0) {
    rc = SRV_EXIT_USAGE;
    goto out;
  }
  if (srv_longpoll_init(cfg->connection_limit, cfg->longpoll_recheck) != 0 ||
      (use_db && srv_longpoll_pg_start(cfg) != 0) || !(http = srv_http_start(cfg, routes)))
    goto out;
  ke_log(KE_LOG_INFO, "listening",
         json_pack("{s:s,s:i,s:b,s:i,s:s}", "address", cfg->listen_address, "port",
                   (int)srv_http_port(http), "tls", cfg->tls_cert_file != NULL, "threads",
                   (int)cfg->threads, "version", KE_VERSION));
  sig = srv_serve_wait(&sigs);
  srv_http_drain(http); /* before the log line says so: tests wait on it */
  ke_log(KE_LOG_INFO, "shutting down: no new connections, finishing requests in flight",
         json_pack("{s:s,s:i}", "signal", sig == SIGINT ? "SIGINT" : "SIGTERM", "in_flight",
                   (int)srv_metrics_in_flight()));
  srv_longpoll_shutdown(); /* suspended long-polls answer now */
  srv_http_shutdown(http, cfg->shutdown_timeout);
  srv_longpoll_pg_stop();
  srv_webhook_shutdown();
  srv_mail_shutdown();
  srv_oidc_stop();
  ke_logf(KE_LOG_INFO, "stopped");
  rc = SRV_EXIT_OK;
out:
  srv_longpoll_pg_stop(); /* if a later start-up step failed */
  srv_webhook_shutdown();
  srv_mail_shutdown();
  srv_oidc_stop();
  if (use_db)
    srv_audit_stop();
  srv_static_shutdown();
  srv_metrics_free();
  if (use_db)
    srv_db_shutdown();
  return rc;
}
