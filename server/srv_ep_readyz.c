/*
 * srv_ep_readyz.c - GET /readyz: PostgreSQL is reachable through this
 * worker's connection and its schema is at least the version this escrowd
 * was started for.  503 with a JSON error otherwise.
 */
#include <stdlib.h>

#include "srv_ep.h"
#include "srv_routes.h"
#include "srv_rows.h"

struct srv_readyz {
  int version;
};

static enum srv_db_status srv_readyz_txn(struct srv_db *db, void *cls)
{
  struct srv_readyz *rz = cls;
  enum srv_db_status st;
  PGresult *r = srv_db_exec(db, SRV_STMT_SCHEMA_VERSION, NULL, &st);
  const char *v;

  if (!r)
    return st;
  rz->version = (v = srv_row_text(r, "version")) ? atoi(v) : 0;
  PQclear(r);
  return SRV_DB_OK;
}

enum MHD_Result srv_ep_readyz(struct srv_request *req)
{
  struct srv_readyz rz = {0};
  enum srv_db_status st = srv_db_txn(SRV_DB_READ_ONLY, srv_readyz_txn, &rz);

  if (st != SRV_DB_OK)
    return srv_ep_db_error(req, st);
  if (rz.version < srv_db_expected_version())
    return srv_reply_error(req, SRV_ERR_SCHEMA_BEHIND, NULL);
  return srv_reply_json(req, MHD_HTTP_OK,
                        json_pack("{s:s,s:i}", "status", "ready", "schema_version", rz.version));
}
