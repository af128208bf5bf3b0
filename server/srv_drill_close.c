/*
 * srv_drill_close.c - what follows a drill (docs/operations.md "Drills",
 * docs/threat-model.md finding 2; schema 014):
 *
 * - disclosure: a full drill's parts, once any custodian's batch is
 *   stored, are out of the custodians' hands (the one-time key e opens
 *   them, and an offline batch file may have copies), so every current
 *   record of the snapshot becomes 'disclosed' with disclosed_drill naming
 *   the drill; the device's next check-in answers rotate "disclosed", as
 *   after a retrieval.  A canary drill discloses nothing: its records are
 *   the auditor's own.
 * - purge: the parts of a closed drill are deleted, in the transaction
 *   that posts its result (srv_ep_drills_parts.c) or by `escrowd
 *   maintenance` once the drill expired (drill_expiry after its start).
 *   The schema refuses to delete the parts of an open drill.
 *
 * Both are audited in the transaction that does them: drill.disclose,
 * drill.expire and drill.purge (counts only).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ke_log.h"
#include "srv_account.h"
#include "srv_audit.h"
#include "srv_auth.h"
#include "srv_drill.h"
#include "srv_rows.h"
#include "srv_serve.h"

static unsigned srv_drill_expiry_s = 604800;

void srv_drill_init(const struct srv_config *cfg)
{
  if (cfg->drill_expiry)
    srv_drill_expiry_s = cfg->drill_expiry;
}

unsigned srv_drill_expiry(void) { return srv_drill_expiry_s; }

enum srv_db_status srv_drill_disclose(struct srv_db *db, struct srv_request *req, const char *id,
                                      long long *n)
{
  const char *p1[1] = {id};
  enum srv_db_status st;
  PGresult *r;

  *n = 0;
  if (!(r = srv_db_exec(db, SRV_STMT_DRILL_DISCLOSE, p1, &st)))
    return st;
  if (srv_row_text(r, "n"))
    *n = strtoll(srv_row_text(r, "n"), NULL, 10);
  PQclear(r);
  if (*n == 0)
    return SRV_DB_OK; /* a later batch: the records are disclosed already */
  return srv_audit_success(
    db, req, "drill.disclose", "drill", id,
    json_pack("{s:I,s:s}", "records", (json_int_t)*n, "rotate", "at the next check-in"));
}

struct srv_dp_row {
  int64_t n;
  const char *custodians, *state, *mode;
};
static const struct srv_col srv_dp_cols[] = {
  SRV_COL_INT64(struct srv_dp_row, n), SRV_COL_TEXT(struct srv_dp_row, custodians),
  SRV_COL_TEXT(struct srv_dp_row, state), SRV_COL_TEXT(struct srv_dp_row, mode), SRV_COL_END};

enum srv_db_status srv_drill_purge(struct srv_db *db, struct srv_request *req, const char *id,
                                   const char *reason, long long *n)
{
  const char *p1[1] = {id};
  enum srv_db_status st;
  struct srv_dp_row p;
  json_t *idx, *d = NULL;
  PGresult *r;

  *n = 0;
  if (!(r = srv_db_exec(db, SRV_STMT_DRILL_PARTS_PURGE, p1, &st)))
    return st;
  if (PQntuples(r) == 1 && srv_row_read(r, 0, srv_dp_cols, &p) == 0 &&
      (idx = json_loads(p.custodians, 0, NULL))) {
    *n = p.n;
    d = json_pack("{s:s,s:I,s:o,s:s,s:s}", "reason", reason, "parts", (json_int_t)*n, "custodians",
                  idx, "state", p.state, "mode", p.mode);
  }
  PQclear(r);
  return srv_audit_success(db, req, "drill.purge", "drill", id, d);
}

struct srv_ddc {
  struct srv_request *req;
  const char *id;
  long long n;
};

static enum srv_db_status srv_ddc_txn(struct srv_db *db, void *cls)
{
  struct srv_ddc *c = cls;
  return srv_drill_disclose(db, c->req, c->id, &c->n);
}

long long srv_drill_disclose_after(struct srv_request *req, const char *id)
{
  struct srv_ddc c = {req, id, 0};

  if (srv_db_txn(SRV_DB_READ_COMMITTED, srv_ddc_txn, &c) != SRV_DB_OK) {
    ke_log(KE_LOG_WARN,
           "a drill's records are not marked disclosed yet (its result or escrowd "
           "maintenance will)",
           json_pack("{s:s}", "drill", id));
    return -1;
  }
  return c.n;
}

/* ---- escrowd maintenance ---------------------------------------------------- */

struct srv_dm {
  const char *id;
  int disclose, expired, open;
  long long parts;
};
static const struct srv_col srv_dm_cols[] = {SRV_COL_TEXT(struct srv_dm, id),
                                             SRV_COL_BOOL(struct srv_dm, disclose), SRV_COL_END};

static enum srv_db_status srv_dm_list_txn(struct srv_db *db, void *cls)
{
  PGresult **out = cls;
  enum srv_db_status st;

  PQclear(*out);
  *out = srv_db_exec(db, SRV_STMT_DRILL_TO_CLOSE, NULL, &st);
  return *out ? SRV_DB_OK : st;
}

/* One drill: close it as expired if it is open past its expiry, then
 * delete its parts.  Locked, so that a result posted at the same moment
 * either wins (done) or waits and finds the drill expired. */
static enum srv_db_status srv_dm_txn(struct srv_db *db, void *cls)
{
  struct srv_dm *m = cls;
  const char *p1[1] = {m->id};
  enum srv_db_status st;
  PGresult *r;

  m->expired = m->open = 0;
  m->parts = 0;
  if (!(r = srv_db_exec(db, SRV_STMT_DRILL_LOCK, p1, &st)))
    return st;
  PQclear(r);
  if (!(r = srv_db_exec(db, SRV_STMT_DRILL_EXPIRE, p1, &st)))
    return st;
  m->expired = PQntuples(r) == 1;
  PQclear(r);
  if (m->expired &&
      (st = srv_audit_success(
         db, NULL, "drill.expire", "drill", m->id,
         json_pack("{s:I}", "drill_expiry", (json_int_t)srv_drill_expiry()))) != SRV_DB_OK)
    return st;
  if (!(r = srv_db_exec(db, SRV_STMT_DRILL_GET, p1, &st)))
    return st;
  m->open = !srv_row_text(r, "state") || strcmp(srv_row_text(r, "state"), "open") == 0;
  PQclear(r);
  if (m->open)
    return SRV_DB_OK; /* not expired (it was only to be disclosed) */
  return srv_drill_purge(db, NULL, m->id, m->expired ? "expired" : "closed", &m->parts);
}

int srv_drill_maintenance_main(const struct srv_config *cfg, int argc, char **argv)
{
  PGresult *list = NULL;
  long long parts = 0, nexp = 0, npurged = 0, ndisc = 0;
  enum srv_db_status st;
  int rc;

  if (argc > 0) {
    fprintf(stderr,
            "escrowd maintenance: unexpected argument '%s'\n"
            "usage: escrowd maintenance\n",
            argv[0]);
    return SRV_EXIT_USAGE;
  }
  if ((rc = srv_cli_schema_ok(cfg, "maintenance")) != SRV_EXIT_OK)
    return rc;
  srv_auth_init(cfg);
  srv_drill_init(cfg);
  if (srv_db_init(cfg) != 0)
    return SRV_EXIT_FAILURE;
  rc = SRV_EXIT_OK;
  /* DRILL_TO_CLOSE gives at most 1000 at a time; a closed drill no longer
   * matches, so the batches end. */
  for (int n = 1000; !rc && n == 1000;) {
    if ((st = srv_db_txn(SRV_DB_READ_ONLY, srv_dm_list_txn, &list)) != SRV_DB_OK) {
      fprintf(stderr, "escrowd maintenance: cannot list the drills (status %d; see the log)\n",
              (int)st);
      rc = SRV_EXIT_FAILURE;
      break;
    }
    n = PQntuples(list);
    for (int i = 0; !rc && i < n; i++) {
      struct srv_dm m = {0};
      if (srv_row_read(list, i, srv_dm_cols, &m) != 0) {
        rc = SRV_EXIT_FAILURE;
        break;
      }
      /* Disclosure first: parts are never deleted before it. */
      if (m.disclose) {
        long long nd = srv_drill_disclose_after(NULL, m.id);
        if (nd < 0) {
          fprintf(stderr,
                  "escrowd maintenance: drill %s: its records are not disclosed (see "
                  "the log)\n",
                  m.id);
          rc = SRV_EXIT_FAILURE;
          break;
        }
        printf("drill %s: %lld record(s) disclosed\n", m.id, nd);
        ndisc += nd;
      }
      if ((st = srv_db_txn(SRV_DB_SERIALIZABLE, srv_dm_txn, &m)) != SRV_DB_OK) {
        fprintf(stderr, "escrowd maintenance: drill %s: not closed (status %d; see the log)\n",
                m.id, (int)st);
        rc = SRV_EXIT_FAILURE;
        break;
      }
      if (m.open)
        continue;
      nexp += m.expired;
      npurged += m.parts > 0;
      parts += m.parts;
      printf("drill %s: %s, %lld part(s) deleted\n", m.id, m.expired ? "expired" : "closed",
             m.parts);
    }
  }
  PQclear(list);
  srv_db_shutdown();
  if (!rc) {
    printf("maintenance: %lld drill(s) expired, %lld part(s) of %lld drill(s) deleted, %lld "
           "record(s) disclosed\n",
           nexp, parts, npurged, ndisc);
    ke_log(KE_LOG_INFO, "maintenance done",
           json_pack("{s:I,s:I,s:I}", "drills_expired", (json_int_t)nexp, "parts_deleted",
                     (json_int_t)parts, "records_disclosed", (json_int_t)ndisc));
  }
  return rc;
}
