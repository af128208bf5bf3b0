/*
 * srv_testd.c - a test daemon on escrowd's own HTTP layer (escrowd_core).
 *
 * escrowd has no JSON-accepting endpoint yet, so this daemon serves a test
 * route table through the very same srv_http/srv_routes/srv_error code to
 * exercise what the real table cannot reach yet: JSON body parsing, path
 * parameters and chunked uploads.  No database.
 *
 *   POST /echo          (JSON)  -> {"echo": <body>, "request_id": ...}
 *   GET  /items/{id}            -> {"id": "<id>"}
 *   GET  /healthz               -> escrowd's own handler
 *   GET  /readyz                -> escrowd's own handler (503: no database)
 */
#include <stdio.h>

#include "ke_log.h"
#include "srv_routes.h"
#include "srv_serve.h"

static enum MHD_Result testd_echo(struct srv_request *req)
{
  json_t *body = json_deep_copy(srv_request_json(req));

  return srv_reply_json(req, MHD_HTTP_OK,
                        json_pack("{s:o,s:s}", "echo", body, "request_id", srv_request_id(req)));
}

static enum MHD_Result testd_item(struct srv_request *req)
{
  return srv_reply_json(req, MHD_HTTP_OK, json_pack("{s:s}", "id", srv_request_param(req, "id")));
}

static const struct srv_route testd_routes[] = {
  {"POST", "/echo", testd_echo, SRV_ROLE_PUBLIC, SRV_BODY_JSON, NULL, NULL},
  {"GET", "/items/{id}", testd_item, SRV_ROLE_PUBLIC, SRV_BODY_NONE, NULL, NULL},
  {"DELETE", "/items/{id}", testd_item, SRV_ROLE_ADMIN, SRV_BODY_NONE, NULL, NULL},
  {"GET", "/healthz", srv_ep_healthz, SRV_ROLE_PUBLIC, SRV_BODY_NONE, NULL, NULL},
  /* No database here: always 503 db_unavailable (t_framing: Retry-After). */
  {"GET", "/readyz", srv_ep_readyz, SRV_ROLE_PUBLIC, SRV_BODY_NONE, NULL, NULL},
};

static const struct srv_route_table testd_table = {testd_routes,
                                                   sizeof testd_routes / sizeof testd_routes[0]};

static void testd_warn(const char *m) { ke_log(KE_LOG_WARN, m, NULL); }

int main(int argc, char **argv)
{
  struct srv_config cfg;
  char err[512];
  int rc;

  ke_log_set_component("srv_testd");
  if (srv_config_load(&cfg, argc > 1 ? argv[1] : "/dev/null", testd_warn, err, sizeof err) != 0) {
    fprintf(stderr, "srv_testd: %s\n", err);
    srv_config_free(&cfg);
    return SRV_EXIT_USAGE;
  }
  rc = srv_serve_main(&cfg, &testd_table, 0);
  srv_config_free(&cfg);
  return rc;
}
