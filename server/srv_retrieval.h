/*
 * srv_retrieval.h - what the retrieval endpoints (srv_ep_retrievals*.c)
 * share: one request read from RET_GET, the answer about it (its request
 * file and its public view), and the closing of expired requests.
 */
#ifndef SRV_RETRIEVAL_H
#define SRV_RETRIEVAL_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdint.h>

#include "srv_config.h"
#include "srv_db.h"
#include "srv_http.h"

#define SRV_RET_ID_LEN 30 /* "req-" + 26 base32 */
#define SRV_RET_EXPIRY_DEFAULT (24 * 3600)
#define SRV_RET_WAIT_MAX 300         /* seconds a long-poll may ask for */
#define SRV_RET_WAITERS_DEFAULT 4096 /* suspended long-polls at once */

/* Close the requests whose time ran out (audited request.expired; waiters
 * woken).  Runs inside the caller's transaction. */
enum srv_db_status srv_ret_expire(struct srv_db *db, struct srv_request *req);
/* The same in a transaction of its own, before the caller's: its read of
 * every pending request must not be part of a busy transaction that
 * inserts one (creates, queue reads), or concurrent ones fail each other's
 * serialization (HTTP 503 db_conflict under load). */
enum srv_db_status srv_ret_expire_due(struct srv_request *req);

/* Before a custodian's change to request `id` (a part, a decline): close
 * what expired, then lock the request's row.  SRV_DB_OK with its state
 * ("pending", "completed", "expired") in state[16], or "" when there is
 * no such request. */
enum srv_db_status srv_ret_lock(struct srv_db *db, struct srv_request *req, const char *id,
                                char state[16]);

/* Is request `id` for a device in the caller's scope (always, for an
 * unscoped caller)?  0 also on a database error (*st says). */
int srv_ret_in_scope(struct srv_db *db, struct srv_request *req, const char *id,
                     enum srv_db_status *st);

/* RET_GET for `id`: *res (PQclear it) with 0 or 1 rows. */
enum srv_db_status srv_ret_get(struct srv_db *db, const char *id, PGresult **res);

/* The answer about row 0 of RET_GET: {"retrieval": its status view,
 * "request": its request file (docs/protocol.md 5.3)}; NULL if the stored
 * data does not make one (logged). */
json_t *srv_ret_answer(const PGresult *r);

/* Is the caller the requester of row 0? */
int srv_ret_is_requester(const struct srv_request *req, const PGresult *r);

int srv_ret_id_ok(const char *s);

/* Settings of serve (retrieval_expiry); defaults without it. */
void srv_ret_init(const struct srv_config *cfg);
unsigned srv_ret_expiry(void);

/* Queue a webhook event about request `id` (public metadata only). */
enum srv_db_status srv_ret_hook(struct srv_db *db, const char *event, const char *id,
                                const char *device, const char *volume, long long parts,
                                long long needed);

/* A person's registered client key (schema 013), which signs their
 * retrieval requests, drills and statements (srv_client_key.c). */
struct srv_client_key {
  uint8_t pub[32];
  char pub_hex[65], fingerprint[65];
};
/* The key of account `user_id`: SRV_DB_OK with *found 1 (and *k filled)
 * or 0 (none registered); SRV_DB_ERROR (logged) for a stored key that does
 * not decode. */
enum srv_db_status srv_client_key_get(struct srv_db *db, const char *user_id,
                                      struct srv_client_key *k, int *found);

#endif
