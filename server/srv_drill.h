/*
 * srv_drill.h - what the drill endpoints (srv_ep_drills*.c) share: the
 * row of DRILL_GET and the public view of one drill.
 */
#ifndef SRV_DRILL_H
#define SRV_DRILL_H

#include <jansson.h>
#include <libpq-fe.h>

#include "ke_crypto.h"
#include "srv_db.h"

/* What the handlers decide on in DRILL_GET's row (srv_drill_lock_get);
 * the texts live as long as the result. */
struct srv_drill_row {
  const char *auditor_id, *person, *selection, *state, *mode, *custodian_indices;
  uint8_t e_point[KE_POINT_LEN];
  int64_t records, disclosed;
  int expired, undisclosed;
};

/* Row 0 of DRILL_GET as the drill's metadata (no envelope); NULL on error. */
json_t *srv_drill_view(const PGresult *r);

/* ---- what follows a drill (srv_drill_close.c) ---- */
struct srv_db;
struct srv_request;
struct srv_config;

/* drill_expiry of the configuration (seconds), for serve. */
void srv_drill_init(const struct srv_config *cfg);
unsigned srv_drill_expiry(void);

/* Inside the caller's transaction: mark the current records of full drill
 * `id` disclosed by it (audited drill.disclose when any); *n how many. */
enum srv_db_status srv_drill_disclose(struct srv_db *db, struct srv_request *req, const char *id,
                                      long long *n);

/* After a batch of full drill `id` committed: srv_drill_disclose in a
 * transaction of its own (READ COMMITTED: a drill of the whole fleet
 * updates every record, and must not fail on the check-ins meanwhile).
 * Returns how many, or -1 (logged; the result's transaction and escrowd
 * maintenance do it then). */
long long srv_drill_disclose_after(struct srv_request *req, const char *id);

/* Inside the caller's transaction: delete the parts of closed drill `id`
 * (audited drill.purge with the count and `reason`); *n how many. */
enum srv_db_status srv_drill_purge(struct srv_db *db, struct srv_request *req, const char *id,
                                   const char *reason, long long *n);

/* escrowd maintenance: close expired drills and delete closed drills'
 * parts. */
int srv_drill_maintenance_main(const struct srv_config *cfg, int argc, char **argv);

/* ---- canary drills (srv_drill_canary.c) ---- */
/* Check the body's "canaries" for drill `id`: exactly `want` of them, each
 * {record_id, envelope, verifier, proof} with a valid proof for the
 * envelope's R.  NULL and *batch (JSON for DRILL_CANARY_INSERT, free it),
 * or the 400 message. */
const char *srv_drill_canaries_parse(const json_t *arr, const char *id, long long want,
                                     char **batch);
/* Inside the caller's transaction: insert the canaries, each audited as
 * escrow.store with "canary": the drill.  *n how many (fewer than given:
 * some are not sealed to the current escrow key). */
enum srv_db_status srv_drill_canaries_insert(struct srv_db *db, struct srv_request *req,
                                             const char *id, const char *batch, long long *n);
/* After the creation committed: sequence its events and store each
 * canary's leaf index (drill_canary_leaves); logged when it cannot. */
void srv_drill_canary_leaves(const char *id);
/* The view with the signed statement of DRILL_SIGNED's row (s; none:
 * "signed": false) added: statement, statement_signature, auditor_key,
 * expires, mode (srv_ep_drills_sign.c).  Takes view; NULL on error. */
json_t *srv_drill_signed_view(json_t *view, const PGresult *s);

struct srv_ep_fail;
/* Lock drill `id` for this transaction and read it (DRILL_GET into *r,
 * PQclear it, and its row into *d): SRV_DB_OK, or "No such drill" recorded
 * in `fail`. */
/* Is every escrowed record of drill `id` of a device in `scope` (NULL:
 * always)?  0 also on a database error (*st says). */
int srv_drill_in_scope(struct srv_db *db, const char *id, const char *scope,
                       enum srv_db_status *st);
enum srv_db_status srv_drill_lock_get(struct srv_db *db, const char *id, const char *scope,
                                      struct srv_ep_fail *fail, PGresult **r,
                                      struct srv_drill_row *d);

#endif
