/*
 * srv_ep_healthz.c - GET /healthz: the process is alive and serving HTTP.
 *
 * Deliberately touches nothing else (no database): a liveness probe that
 * fails because PostgreSQL is down would make an orchestrator restart a
 * healthy escrowd in a loop.  /readyz covers the database.
 */
#include "srv_routes.h"

enum MHD_Result srv_ep_healthz(struct srv_request *req)
{
  return srv_reply_json(req, MHD_HTTP_OK, json_pack("{s:s}", "status", "ok"));
}
