/*
 * audit_testd.c - escrowd (the very same escrowd_core, route table, audit
 * log and threads) plus one route that audits, for the audit tests and
 * bench/audit:
 *
 *   POST /test/audit  {"object": "..."}  (public, JSON)
 *     one transaction: [with --work: INSERT a row into bench_work] +
 *     srv_audit_append(action "test.event"); after commit,
 *     srv_audit_sequence_mine() -> {"index": <leaf index>}
 *   POST /test/audit?index=0
 *     the same without waiting for the index (the background sequencer
 *     gives it) -> {"index": -1}: what an action without a receipt costs
 *
 * Options (the configuration comes from ESCROWD_* as for escrowd):
 *   --work     also do the INSERT above (the table is made by the caller:
 *              CREATE TABLE bench_work (id bigserial PRIMARY KEY, object text,
 *              created timestamptz DEFAULT now()) with INSERT, USAGE granted
 *              to the application role)
 *   --log-off  the same requests with the audit log switched off
 *              (srv_audit_bench_disable): ONLY for bench/audit's ratio.
 *              escrowd itself has no such switch.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ke_log.h"
#include "srv_audit.h"
#include "srv_audit_int.h"
#include "srv_routes.h"
#include "srv_serve.h"

static int testd_work;

struct testd_req {
  struct srv_request *req;
  const char *object;
};

static enum srv_db_status testd_body(struct srv_db *db, void *cls)
{
  struct testd_req *t = cls;
  struct srv_audit_event ev = {"test.event", t->object, "success", NULL, NULL};

  if (testd_work) {
    const char *params[1] = {t->object};
    PGresult *r = PQexecParams(srv_db_pgconn(db), "INSERT INTO bench_work (object) VALUES ($1)", 1,
                               NULL, params, NULL, NULL, 0);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (!ok)
      return SRV_DB_ERROR;
  }
  return srv_audit_append(db, t->req, &ev);
}

static enum MHD_Result testd_audit(struct srv_request *req)
{
  struct testd_req t = {req, json_string_value(json_object_get(srv_request_json(req), "object"))};
  int64_t index = -1;
  enum srv_db_status st;

  if (!t.object || !t.object[0] || strlen(t.object) > 200)
    return srv_reply_error(req, SRV_ERR_BAD_REQUEST, "'object' must be a short string");
  st = srv_db_txn(SRV_DB_SERIALIZABLE, testd_body, &t);
  if (st != SRV_DB_OK)
    return srv_reply_error(
      req, st == SRV_DB_UNAVAILABLE ? SRV_ERR_DB_UNAVAILABLE : SRV_ERR_INTERNAL, NULL);
  if (srv_request_query(req, "index") && strcmp(srv_request_query(req, "index"), "0") == 0)
    return srv_reply_json(req, MHD_HTTP_OK, json_pack("{s:I}", "index", (json_int_t)-1));
  if (srv_audit_sequence_mine(&index) != 0)
    return srv_reply_error(req, SRV_ERR_INTERNAL, "sequencing failed");
  return srv_reply_json(req, MHD_HTTP_OK, json_pack("{s:I}", "index", (json_int_t)index));
}

static void testd_warn(const char *m) { ke_log(KE_LOG_WARN, m, NULL); }

int main(int argc, char **argv)
{
  struct srv_config cfg;
  struct srv_route_table table;
  struct srv_route *routes;
  char err[512];
  ke_log_level lvl;
  int rc;

  ke_log_set_component("audit_testd");
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--work") == 0) {
      testd_work = 1;
    } else if (strcmp(argv[i], "--log-off") == 0) {
      srv_audit_bench_disable();
    } else {
      fprintf(stderr, "usage: audit_testd [--work] [--log-off]\n");
      return SRV_EXIT_USAGE;
    }
  }
  if (srv_config_load(&cfg, NULL, testd_warn, err, sizeof err) != 0) {
    fprintf(stderr, "audit_testd: %s\n", err);
    srv_config_free(&cfg);
    return SRV_EXIT_USAGE;
  }
  if (ke_log_level_parse(cfg.log_level, &lvl) == 0)
    ke_log_set_level(lvl);
  /* escrowd's own table, plus the test route. */
  routes = calloc(srv_routes_escrowd.count + 1, sizeof *routes);
  if (!routes) {
    srv_config_free(&cfg);
    return SRV_EXIT_FAILURE;
  }
  memcpy(routes, srv_routes_escrowd.routes, srv_routes_escrowd.count * sizeof *routes);
  routes[srv_routes_escrowd.count] = (struct srv_route){
    "POST", "/test/audit", testd_audit, SRV_ROLE_PUBLIC, SRV_BODY_JSON, NULL, NULL};
  table.routes = routes;
  table.count = srv_routes_escrowd.count + 1;
  rc = srv_serve_main(&cfg, &table, 1);
  srv_config_free(&cfg);
  free(routes);
  return rc;
}
